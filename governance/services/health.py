"""System health: is the installation doing its work, and if not, what to do about it.

One source for the "System health" page, ``/healthz?full`` and anything that exports the
same figures: worker and beat heartbeats, each beat job's last successful run and how late
it is, grants waiting for delivery, the email outbox, connectors' last success and failure,
and the drift check's last result. Each item says ``ok``, ``warn`` or ``bad`` and, when it
is not ok, what an operator should do.
"""

from __future__ import annotations

import logging
import os
import platform
from copy import copy
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Min, OuterRef, Q, Subquery
from django.utils import timezone

from governance.models import (
    Connector,
    DeliveryAttempt,
    GrantState,
    OutboundEmail,
    Outcome,
    PeriodicJobRun,
    ProcessHeartbeat,
    ProcessKind,
    RoleGrant,
)

log = logging.getLogger(__name__)

OK, WARN, BAD = "ok", "warn", "bad"
WORKER_COMMAND = "systemctl start portcullis-worker (or: celery -A portal worker)"
BEAT_COMMAND = "systemctl start portcullis-beat (or: celery -A portal beat; exactly one in the installation)"


def heartbeat_interval() -> timedelta:
    return timedelta(seconds=settings.HEARTBEAT_SECONDS)


def dead_after() -> timedelta:
    """A process whose last beat is older than this is counted dead (three missed beats)."""
    return heartbeat_interval() * 3


# --- What the processes write ------------------------------------------------------------


def this_process() -> tuple[str, int]:
    return platform.node(), os.getpid()  # the host name, without importing a network module


def record_heartbeat(kind: str, hostname: str, pid: int, started_at: datetime) -> None:
    ProcessHeartbeat.objects.update_or_create(
        kind=kind,
        hostname=hostname,
        defaults={"pid": pid, "started_at": started_at, "last_seen_at": timezone.now()},
    )


def forget_process(kind: str, hostname: str) -> None:
    """A process stopping cleanly: it is gone at once, not after three missed beats."""
    ProcessHeartbeat.objects.filter(kind=kind, hostname=hostname).delete()


def job_name_of(task_name: str) -> str | None:
    """The beat schedule's name for a task (``check-drift`` for governance.tasks.check_drift)."""
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        if entry["task"] == task_name:
            return str(name)
    return None


def record_job_started(task_name: str) -> None:
    name = job_name_of(task_name)
    if name is not None:
        PeriodicJobRun.objects.update_or_create(
            name=name, defaults={"task": task_name, "last_started_at": timezone.now()}
        )


def record_job_succeeded(task_name: str, result: Any) -> None:
    name = job_name_of(task_name)
    if name is not None:
        kept = result if isinstance(result, dict | int | str | bool) or result is None else str(result)
        PeriodicJobRun.objects.update_or_create(
            name=name, defaults={"task": task_name, "last_success_at": timezone.now(), "last_result": kept}
        )


def record_job_failed(task_name: str, error: BaseException | None) -> None:
    name = job_name_of(task_name)
    if name is not None:
        # The exception's type and first line: no remote body, no arguments.
        text = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}" if error else "failed"
        PeriodicJobRun.objects.update_or_create(
            name=name, defaults={"task": task_name, "last_failure_at": timezone.now(), "last_error": text[:500]}
        )


# --- The report ------------------------------------------------------------------------


@dataclass
class Item:
    key: str
    label: str
    status: str
    summary: str
    action: str = ""
    rows: list[dict[str, Any]] = field(default_factory=list)
    fails_healthz: bool = False  # counted by /healthz (load balancers) when bad

    @property
    def headers(self) -> list[str]:
        return [COLUMN_LABELS.get(key, key) for key in self.rows[0] if key not in HIDDEN] if self.rows else []

    @property
    def table(self) -> list[tuple[bool, list[Any]]]:
        """(shown in red?, cells) per row, for the page."""
        return [
            (row.get("status") == BAD or row.get("alive") is False, [v for k, v in row.items() if k not in HIDDEN])
            for row in self.rows
        ]


HIDDEN = frozenset({"status", "alive"})
COLUMN_LABELS = {
    "name": "Name",
    "pid": "Process id",
    "last_seen": "Last seen",
    "every": "Runs every",
    "last_success": "Last success",
    "late": "Late by",
    "error": "Last error",
    "last_failure": "Last failure",
    "message": "Message",
}


@dataclass
class Report:
    items: list[Item]
    checked_at: datetime

    @property
    def status(self) -> str:
        statuses = {item.status for item in self.items}
        return BAD if BAD in statuses else WARN if WARN in statuses else OK

    @property
    def healthz_failures(self) -> list[Item]:
        return [item for item in self.items if item.fails_healthz and item.status == BAD]

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "checked_at": self.checked_at.isoformat(),
            "items": {
                item.key: {"status": item.status, "summary": item.summary, "action": item.action, "rows": item.rows}
                for item in self.items
            },
        }


def _ago(now: datetime, then: datetime | None) -> str:
    if then is None:
        return "never"
    seconds = int((now - then).total_seconds())
    if seconds < 90:
        return f"{max(seconds, 0)} s ago"
    if seconds < 90 * 60:
        return f"{seconds // 60} min ago"
    if seconds < 48 * 3600:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} days ago"


def _duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 90 * 60:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"


def _workers(now: datetime) -> Item:
    beats = list(ProcessHeartbeat.objects.filter(kind=ProcessKind.WORKER).order_by("hostname"))
    alive = [b for b in beats if now - b.last_seen_at <= dead_after()]
    rows = [
        {"name": b.hostname, "pid": b.pid, "last_seen": _ago(now, b.last_seen_at), "alive": b in alive} for b in beats
    ]
    if alive:
        names = ", ".join(b.hostname for b in alive)
        return Item("workers", "Workers", OK, f"{len(alive)} alive: {names}", rows=rows)
    last = max((b.last_seen_at for b in beats), default=None)
    since = f"for {_duration(now - last)}" if last else "since this installation started"
    return Item(
        "workers",
        "Workers",
        BAD,
        f"No worker has answered {since}: nothing is delivered and no email is sent.",
        action=f"Start one: {WORKER_COMMAND}.",
        rows=rows,
    )


def _interval(schedule: Any, now: datetime) -> timedelta:
    """How often a beat entry runs: a timedelta, or the gap between two runs of a crontab."""
    if isinstance(schedule, timedelta):
        return schedule
    run_every = getattr(schedule, "run_every", None)
    if isinstance(run_every, timedelta):
        return run_every
    try:

        def next_run_after(moment: datetime) -> datetime:
            seen_from = copy(schedule)
            seen_from.nowfun = lambda: moment
            return moment + seen_from.remaining_estimate(moment)

        first = next_run_after(now)
        return max(next_run_after(first + timedelta(seconds=1)) - first, timedelta(minutes=1))
    except Exception:  # noqa: BLE001 - a schedule kind we do not know: assume hourly
        return timedelta(hours=1)


def _beat(now: datetime) -> tuple[Item, Item]:
    beat = ProcessHeartbeat.objects.filter(kind=ProcessKind.BEAT).order_by("-last_seen_at").first()
    runs = {run.name: run for run in PeriodicJobRun.objects.all()}
    rows = []
    late_jobs = []
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        every = _interval(entry["schedule"], now)
        run = runs.get(name)
        success = run.last_success_at if run else None
        # A job never run counts from when beat started, so a fresh installation is not late.
        since = success or (beat.started_at if beat else None)
        late = now - (since + every) if since else timedelta(0)
        stale = since is not None and now - since > 2 * every
        failed = bool(run and run.last_failure_at and (not success or run.last_failure_at > success))
        rows.append(
            {
                "name": name,
                "every": _duration(every),
                "last_success": _ago(now, success),
                "late": _duration(late) if late > timedelta(0) else "",
                "error": run.last_error if failed and run else "",
                "status": BAD if stale else WARN if failed else OK,
            }
        )
        if stale:
            late_jobs.append(name)
    if beat is None:
        beat_item = Item(
            "beat",
            "Beat",
            BAD,
            "Beat has never reported: no periodic job (sweeper, expiry, timeouts, drift) runs.",
            action=f"Start it: {BEAT_COMMAND}.",
        )
    elif now - beat.last_seen_at > dead_after():
        beat_item = Item(
            "beat",
            "Beat",
            BAD,
            f"Beat has not answered for {_duration(now - beat.last_seen_at)} ({beat.hostname}).",
            action=f"Start it again: {BEAT_COMMAND}.",
        )
    else:
        beat_item = Item("beat", "Beat", OK, f"Alive on {beat.hostname}, started {_ago(now, beat.started_at)}.")
    if late_jobs:
        jobs_item = Item(
            "jobs",
            "Periodic jobs",
            BAD,
            f"Not run in twice their interval: {', '.join(late_jobs)}.",
            action="Check that beat and a worker are running (above); a failing job shows its error below.",
            rows=rows,
            fails_healthz=True,
        )
    elif any(row["status"] == WARN for row in rows):
        jobs_item = Item(
            "jobs", "Periodic jobs", WARN, "A job's last run failed.", action="Read its error below.", rows=rows
        )
    else:
        jobs_item = Item("jobs", "Periodic jobs", OK, "Every job ran on time.", rows=rows)
    return beat_item, jobs_item


def _grants(now: datetime) -> Item:
    waiting = RoleGrant.objects.filter(state__in=[GrantState.PENDING, GrantState.REVOKING])
    due = waiting.filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
    count = waiting.count()
    oldest = due.aggregate(oldest=Min("updated_at"))["oldest"]
    age = now - oldest if oldest else timedelta(0)
    summary = f"{count} waiting for delivery" + (f"; the oldest due one for {_duration(age)}" if oldest else "")
    if oldest and age > timedelta(minutes=settings.HEALTH_GRANT_MINUTES):
        return Item(
            "grants",
            "Grants pending",
            BAD,
            summary,
            action="Delivery is stuck: check that a worker is running and that the connectors answer (below).",
        )
    return Item("grants", "Grants pending", OK, summary)


def _outbox(now: datetime) -> Item:
    unsent = OutboundEmail.objects.filter(sent_at__isnull=True)
    count = unsent.count()
    oldest = unsent.aggregate(oldest=Min("created_at"))["oldest"]
    summary = f"{count} email(s) not sent yet" + (f"; the oldest for {_duration(now - oldest)}" if oldest else "")
    if oldest and now - oldest > timedelta(minutes=settings.HEALTH_OUTBOX_MINUTES):
        return Item(
            "outbox",
            "Email outbox",
            BAD,
            summary,
            action="Check EMAIL_URL and the SMTP server, and that a worker is running; unsent email is retried.",
        )
    return Item("outbox", "Email outbox", OK, summary)


def _connectors(now: datetime) -> Item:
    attempts = DeliveryAttempt.objects.filter(connector=OuterRef("pk")).order_by("-started_at")
    failures = attempts.exclude(outcome=Outcome.SUCCESS)
    connectors = Connector.objects.annotate(
        last_success_at=Subquery(attempts.filter(outcome=Outcome.SUCCESS).values("started_at")[:1]),
        last_failure_at=Subquery(failures.values("started_at")[:1]),
        last_failure_message=Subquery(failures.values("message")[:1]),
    ).order_by("display_name")
    rows = []
    failing = []
    for connector in connectors:
        success, failure = connector.last_success_at, connector.last_failure_at
        bad = failure is not None and (success is None or failure > success)
        if bad:
            failing.append(connector.display_name)
        rows.append(
            {
                "name": connector.display_name,
                "last_success": _ago(now, success),
                "last_failure": _ago(now, failure) if failure else "",
                "message": connector.last_failure_message if bad else "",
                "status": WARN if bad else OK,
            }
        )
    if failing:
        return Item(
            "connectors",
            "Connectors",
            WARN,
            f"Failing since their last success: {', '.join(failing)}.",
            action="Open Connectors, test the connection, and fix its address or credentials; failed grants retry.",
            rows=rows,
        )
    return Item("connectors", "Connectors", OK, f"{len(rows)} connector(s), none failing.", rows=rows)


def _drift(now: datetime) -> Item:
    run = PeriodicJobRun.objects.filter(name="check-drift").first()
    if run is None or run.last_success_at is None:
        return Item("drift", "Drift check", OK, "Not run yet (hourly, by beat).")
    result = run.last_result if isinstance(run.last_result, dict) else {}
    drifted = int(result.get("drifted", 0) or 0)
    summary = (
        f"Last run {_ago(now, run.last_success_at)}: {result.get('roles', 0)} role(s) checked, "
        f"{drifted} drifted, {result.get('healed', 0)} healed."
    )
    if drifted:
        return Item(
            "drift",
            "Drift check",
            WARN,
            summary,
            action="Open Assignments filtered to drifted access and reprocess them, or let the connector heal.",
        )
    return Item("drift", "Drift check", OK, summary)


def periodic_jobs(now: datetime | None = None) -> Item:
    """Only the beat jobs' item: what /healthz checks for load balancers, in two queries."""
    return _beat(now or timezone.now())[1]


def system_health(now: datetime | None = None) -> Report:
    now = now or timezone.now()
    beat_item, jobs_item = _beat(now)
    items = [_workers(now), beat_item, jobs_item, _grants(now), _outbox(now), _connectors(now), _drift(now)]
    return Report(items, now)
