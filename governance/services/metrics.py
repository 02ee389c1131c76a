"""The engine's own numbers for `/metrics` (DESIGN §9), read from the database.

Workers and web processes are different processes (and, scaled out, different hosts), so
nothing is kept in memory: every figure is a query at scrape time, and the one histogram
(time to access) is counted in :class:`~governance.models.HistogramBucket` rows by the
transaction that marks a request delivered (:func:`observe_time_to_access`).

Why a bucket table rather than computing the histogram from delivered requests at scrape
time: a Prometheus histogram is a set of counters that must only grow, and requests are
purged and reprocessed; counting at the moment of delivery is exact, and reading it costs a
dozen rows however many requests there are. The price is a row lock per touched bucket for
the rest of the delivery batch's transaction; rows are updated in bucket order so two
workers never deadlock, and a batch touches each bucket once.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db.models import Count, F, Min, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from governance.models import (
    DeliveryAttempt,
    GrantState,
    HistogramBucket,
    OutboundEmail,
    PeriodicJobRun,
    RoleGrant,
)

TIME_TO_ACCESS = "time_to_access_seconds"
# Seconds: sub-second for the built-in connector, minutes to days when approvals are waited for.
TIME_TO_ACCESS_BUCKETS: tuple[float, ...] = (
    0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 14400.0, 86400.0, 604800.0,
)  # fmt: skip


def observe_time_to_access(submitted: Iterable[datetime], now: datetime) -> None:
    """Count requests that just became Delivered and gave someone access: submitted (their
    ``created_at``) → delivered (``now``, the moment their last grant landed)."""
    observe(TIME_TO_ACCESS, TIME_TO_ACCESS_BUCKETS, [max((now - at).total_seconds(), 0.0) for at in submitted])


def observe(name: str, bounds: Sequence[float], values: Iterable[float]) -> None:
    per_bucket: dict[float | None, list[float]] = defaultdict(list)
    for value in values:
        index = bisect.bisect_left(bounds, value)
        per_bucket[bounds[index] if index < len(bounds) else None].append(value)
    # In bucket order (+Inf last): concurrent batches lock the rows in the same order.
    for le in sorted(per_bucket, key=lambda b: float("inf") if b is None else b):
        batch = per_bucket[le]
        rows = HistogramBucket.objects.filter(name=name).filter(Q(le__isnull=True) if le is None else Q(le=le))
        changes = {"count": F("count") + len(batch), "total": F("total") + sum(batch)}
        if not rows.update(**changes):
            HistogramBucket.objects.bulk_create([HistogramBucket(name=name, le=le)], ignore_conflicts=True)
            rows.update(**changes)


@dataclass
class Histogram:
    bounds: list[float]
    cumulative: list[int]  # one per bound, then +Inf
    total: float

    @property
    def count(self) -> int:
        return self.cumulative[-1] if self.cumulative else 0

    def quantile(self, q: float) -> float | None:
        """The bucket bound below which ``q`` of the observations fall (an upper estimate,
        as Prometheus' histogram_quantile without interpolation)."""
        if not self.count:
            return None
        rank = q * self.count
        for bound, seen in zip([*self.bounds, float("inf")], self.cumulative, strict=True):
            if seen >= rank:
                return bound
        return float("inf")


def read_histogram(name: str = TIME_TO_ACCESS, bounds: Sequence[float] = TIME_TO_ACCESS_BUCKETS) -> Histogram:
    rows = {row.le: row for row in HistogramBucket.objects.filter(name=name)}
    edges = sorted({*bounds, *(le for le in rows if le is not None)})
    cumulative, running, total = [], 0, 0.0
    for le in [*edges, None]:
        row = rows.get(le)
        if row is not None:
            running += row.count
            total += row.total
        cumulative.append(running)
    return Histogram(edges, cumulative, total)


def beat_last_successes() -> dict[str, datetime | None]:
    """Each beat job's last successful run, by its CELERY_BEAT_SCHEDULE name, as the worker
    that ran it recorded it (``PeriodicJobRun``: the System health page reads the same rows)."""
    names: dict[str, datetime | None] = dict.fromkeys(settings.CELERY_BEAT_SCHEDULE, None)
    for name, at in PeriodicJobRun.objects.values_list("name", "last_success_at"):
        names[name] = at
    return names


@dataclass
class Snapshot:
    grants_pending: dict[str, int]
    oldest_pending_seconds: float
    attempts: list[tuple[str, str, str, int]]  # connector, kind, outcome, count
    outbox_depth: int
    beat: dict[str, datetime | None]
    time_to_access: Histogram
    taken_at: datetime = field(default_factory=timezone.now)


def snapshot() -> Snapshot:
    now = timezone.now()
    work = RoleGrant.objects.filter(state__in=GrantState.WORK)
    pending = dict.fromkeys(sorted(GrantState.WORK), 0)
    for state, n in work.values_list("state").annotate(n=Count("pk")).order_by():
        pending[state] = n
    # Waiting since its request was submitted; a grant without one since it was last touched.
    oldest = work.aggregate(at=Min(Coalesce("request__created_at", "updated_at")))["at"]
    attempts = [
        (name or "(deleted)", kind or "", outcome, n)
        for name, kind, outcome, n in DeliveryAttempt.objects.values_list(
            "connector__display_name", "connector__kind", "outcome"
        )
        .annotate(n=Count("pk"))
        .order_by("connector__display_name", "outcome")
    ]
    return Snapshot(
        grants_pending=pending,
        oldest_pending_seconds=max((now - oldest).total_seconds(), 0.0) if oldest else 0.0,
        attempts=attempts,
        outbox_depth=OutboundEmail.objects.filter(sent_at__isnull=True).count(),
        beat=beat_last_successes(),
        time_to_access=read_histogram(),
        taken_at=now,
    )
