"""Outgoing email, written in the same transaction as the change it tells about."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class OutboundEmail(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=48)
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="emails"
    )
    to_address = models.EmailField()
    subject = models.CharField(max_length=300)
    body_text = models.TextField()
    body_html = models.TextField(blank=True)
    request = models.ForeignKey(
        "governance.AssignmentRequest", on_delete=models.SET_NULL, null=True, blank=True, related_name="emails"
    )
    assignment = models.ForeignKey(
        "governance.Assignment", on_delete=models.SET_NULL, null=True, blank=True, related_name="emails"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["sent_at", "next_attempt_at"], name="outbox_unsent")]

    def __str__(self) -> str:
        return f"{self.kind} to {self.to_address}"
