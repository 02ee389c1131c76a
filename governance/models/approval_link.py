"""Emailed approval links: one approver, one request, one stage, used at most once."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class ApprovalLink(models.Model):
    """The stored half of a signed approval link.

    The email carries this row's id, signed; the row says whom the link names, which
    stage it decides, until when, and whether it was used. Its id is the nonce: a link is
    spent once ``used_at`` is set, whatever the signature says.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    request = models.ForeignKey("governance.AssignmentRequest", on_delete=models.CASCADE, related_name="approval_links")
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    stage_order = models.PositiveSmallIntegerField()
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    used_at = models.DateTimeField(null=True, blank=True)
    decision = models.ForeignKey(
        "governance.ApprovalDecision", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["request", "approver"], name="approval_link_request")]

    def __str__(self) -> str:
        return f"Approval link for stage {self.stage_order} of {self.request_id} to {self.approver_id}"


class ApprovalReminder(models.Model):
    """One approver was reminded of one stage of one request: recorded so it is never sent twice."""

    request = models.ForeignKey(
        "governance.AssignmentRequest", on_delete=models.CASCADE, related_name="approval_reminders"
    )
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    stage_order = models.PositiveSmallIntegerField()
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["request", "stage_order", "approver"], name="one_reminder_per_stage"),
        ]

    def __str__(self) -> str:
        return f"reminder of stage {self.stage_order} to {self.approver_id}"
