"""Chat notifications: a catalog's channels (Slack, Microsoft Teams, a generic webhook) and
the messages queued for them, sent like the email outbox (retried, never blocking)."""

from __future__ import annotations

import uuid

from django.db import models

from governance.models.catalog import Catalog
from governance.models.querysets import CatalogScoped


class ChannelKind(models.TextChoices):
    SLACK = "slack", "Slack (incoming webhook)"
    TEAMS = "teams", "Microsoft Teams (incoming webhook)"
    WEBHOOK = "webhook", "Generic webhook (JSON)"


class ChatChannel(CatalogScoped, models.Model):
    catalog_path = "catalog_id"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    catalog = models.ForeignKey(Catalog, on_delete=models.CASCADE, related_name="chat_channels")
    display_name = models.CharField("Name", max_length=256)
    kind = models.CharField("Kind", max_length=8, choices=ChannelKind.choices)
    # The webhook URL holds its own credential: encrypted, never shown back.
    url_encrypted = models.TextField()
    url_hint = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["display_name"]

    def __str__(self) -> str:
        return self.display_name


class ChatMessage(models.Model):
    """One message for one channel, written in the transaction of what it tells about."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    channel = models.ForeignKey(ChatChannel, on_delete=models.CASCADE, related_name="messages")
    kind = models.CharField(max_length=48)
    title = models.CharField(max_length=300)
    body = models.TextField()
    request = models.ForeignKey(
        "governance.AssignmentRequest", on_delete=models.SET_NULL, null=True, blank=True, related_name="chat_messages"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["sent_at", "next_attempt_at"], name="chat_unsent")]

    def __str__(self) -> str:
        return f"{self.kind} to {self.channel_id}"
