"""A bulk reprocess of every request or assignment matching a list's filter (DESIGN §8).

The click records one of these and queues one task; the task works through the matching
rows in batches, moving ``cursor`` (the last id handled, in id order) in the same
transaction as each batch, so a worker that dies mid-way loses at most one uncommitted
batch and the next run starts right after the last committed one.
"""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.conf import settings
from django.db import models


class BulkReprocessKind(models.TextChoices):
    REQUESTS = "requests", "Requests"
    ASSIGNMENTS = "assignments", "Assignments"


class BulkReprocessState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"

    UNFINISHED: ClassVar[frozenset[str]]


BulkReprocessState.UNFINISHED = frozenset({"queued", "running"})


class BulkReprocess(models.Model):
    """Who asked, when, with which filter, how many matched, and how far the work has got."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=12, choices=BulkReprocessKind.choices)
    state = models.CharField(max_length=8, choices=BulkReprocessState.choices, default=BulkReprocessState.QUEUED)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_label = models.CharField(max_length=256)
    # The list the click came from: a package's tab, or across packages (no package).
    # Not a foreign key: deleting the package must not widen the scope to every package.
    package_scope = models.UUIDField(null=True, blank=True)
    # The list's filter, as its query string, and in words.
    query = models.TextField(blank=True)
    description = models.CharField(max_length=512, blank=True)
    # Rows matching at this moment (and still eligible when their batch runs) are the scope.
    as_of = models.DateTimeField()
    matched = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    queued = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    skipped_reasons = models.JSONField(default=dict, blank=True)
    cursor = models.UUIDField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["state", "updated_at"], name="bulk_reprocess_state")]

    def __str__(self) -> str:
        return f"Reprocess {self.matched} {self.get_kind_display().lower()}"

    @property
    def is_done(self) -> bool:
        return self.state == BulkReprocessState.DONE

    @property
    def noun(self) -> str:
        return "request" if self.kind == BulkReprocessKind.REQUESTS else "assignment"

    @property
    def percent(self) -> int:
        if self.is_done:
            return 100
        return min(99, self.processed * 100 // self.matched) if self.matched else 0
