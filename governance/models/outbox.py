"""Outgoing email, written in the same transaction as the change it tells about."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, ClassVar

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
    # A row rendered when sent (its kind and ids only) keeps the state its request completed
    # in: the message tells that, whatever the request went on to (a reprocess) before it
    # was sent. Blank for rows rendered at once.
    request_state = models.CharField(max_length=24, blank=True, default="", db_default="")
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        # The sender's queue (unsent, oldest first) and the health page's count and age: a
        # sent email leaves the index.
        indexes = [models.Index(fields=["created_at"], name="outbox_unsent", condition=models.Q(sent_at__isnull=True))]

    # Some rows are written with their kind and ids only, to be rendered when sent (an
    # expiry tells 100,000 people at once): read alone, such a row renders itself in memory
    # through this hook, which the notification service sets (the domain imports no service).
    render_on_read: ClassVar[Callable[[OutboundEmail], None] | None] = None

    def __str__(self) -> str:
        return f"{self.kind} to {self.to_address}"

    @classmethod
    def from_db(cls, db: Any, field_names: Any, values: Any, **options: Any) -> OutboundEmail:
        email = super().from_db(db, field_names, values, **options)
        if cls.render_on_read is not None and email.__dict__.get("body_text") == "":
            cls.render_on_read(email)
        return email
