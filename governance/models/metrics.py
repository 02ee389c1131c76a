"""Histograms the engine observes in one process and `/metrics` reads in another."""

from __future__ import annotations

from django.db import models


class HistogramBucket(models.Model):
    """One bucket of a histogram kept in the database (DESIGN §9 `/metrics`).

    The delivery engine runs in Celery workers and `/metrics` is answered by a web process,
    so an in-process prometheus_client Histogram would never be seen: observations are
    counted here, in the transaction that completes the request. ``le`` is the bucket's
    upper bound (NULL for +Inf); ``count`` and ``total`` are the observations that fell in
    this bucket only (not cumulative), so an observation updates exactly one row.
    """

    name = models.CharField(max_length=64)
    le = models.FloatField(null=True, blank=True)
    count = models.BigIntegerField(default=0)
    total = models.FloatField(default=0.0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["name", "le"], name="histogram_bucket_unique"),
            models.UniqueConstraint(
                fields=["name"], condition=models.Q(le__isnull=True), name="histogram_bucket_one_inf"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} le={self.le if self.le is not None else '+Inf'}: {self.count}"
