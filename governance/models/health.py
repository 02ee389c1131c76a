"""What the installation's own processes report about themselves (System health, /healthz)."""

from __future__ import annotations

from django.db import models


class ProcessKind(models.TextChoices):
    WORKER = "worker", "Worker"
    BEAT = "beat", "Beat"


class ProcessHeartbeat(models.Model):
    """A worker or beat process says it is alive every few seconds (portal/heartbeats.py).

    A process that stops cleanly removes its row; one that is killed simply stops writing,
    and is counted dead once its last beat is older than three intervals."""

    kind = models.CharField(max_length=16, choices=ProcessKind.choices)
    hostname = models.CharField(max_length=255)
    pid = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField()
    last_seen_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "hostname"], name="one_heartbeat_per_process")]

    def __str__(self) -> str:
        return f"{self.kind} {self.hostname}"


class PeriodicJobRun(models.Model):
    """The last run of one beat job (``CELERY_BEAT_SCHEDULE`` key), written by the worker
    that ran it: when it last succeeded, when it last failed and why, what it reported."""

    name = models.CharField(max_length=100, unique=True)
    task = models.CharField(max_length=200)
    last_started_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    last_result = models.JSONField(null=True, blank=True)

    def __str__(self) -> str:
        return self.name
