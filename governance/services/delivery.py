"""The delivery engine (DESIGN §5): take due grants, call connectors, record every attempt.

Claims are row locks taken with ``SELECT ... FOR UPDATE SKIP LOCKED`` (PostgreSQL), held
for the batch: two workers never take the same grant, and a killed worker's claims vanish
with its transaction, so the work is simply due again. The engine never *waits* for a
lock (people, assignments and requests are also taken with ``skip_locked``), so it cannot
deadlock with the services, which lock in the order request → assignment → grants.

Access is serialized per person: a worker holds the person's row lock while it changes
their access, so the overlap check of rule 7 and the call it guards cannot interleave with
another worker's call for the same person.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from governance.audit import build_event
from governance.connectors import BaseConnector, ConnectorError, RoleTarget, Subject, TransientError, for_connector
from governance.connectors.base import BatchResult
from governance.machines import GRANT
from governance.models import (
    AccessPackage,
    Assignment,
    AssignmentRequest,
    AuditEvent,
    Connector,
    DeliveryAttempt,
    DriftMode,
    GrantState,
    Operation,
    Outcome,
    RequestState,
    ResourceRole,
    RoleGrant,
    User,
)
from governance.services.bulk_sql import Write, among, audit_row, insert_rows, on_postgresql, update
from governance.services.dispatch import wake_delivery
from governance.services.grants import (
    AssignmentRow,
    assignment_label,
    read_assignments,
    refresh_many,
    settle_assignments,
)

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(hours=1)


@dataclass
class BatchReport:
    handled: int = 0
    contended: int = 0  # due, but another worker holds the person or the assignment
    retry_in: float | None = None  # seconds until the earliest transient retry
    full: bool = False  # the claim took as many grants as it could: there may be more


def subject_of(user: User) -> Subject:
    return Subject(
        id=user.pk,
        username=user.username,
        email=user.email,
        user_principal_name=user.user_principal_name or "",
    )


def target_of(role: ResourceRole) -> RoleTarget:
    return RoleTarget(
        id=role.pk,
        resource_origin_id=role.resource.origin_id,
        role_origin_id=role.origin_id,
        label=str(role),
    )


def backoff(attempt: int) -> timedelta:
    """Exponential: base, 2x base, 4x base, … capped at an hour."""
    seconds = settings.DELIVERY_RETRY_BASE_SECONDS * (2 ** max(attempt - 1, 0))
    return min(timedelta(seconds=seconds), MAX_BACKOFF)


def due_grants(now: datetime) -> Any:
    return RoleGrant.objects.filter(state__in=GrantState.WORK).filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    )


@dataclass(slots=True)
class Claim:
    """A claimed grant as plain values: a batch holds hundreds, and none needs a model
    instance (the connectors see :class:`Subject` and :class:`RoleTarget`)."""

    pk: UUID
    assignment_id: UUID
    resource_role_id: UUID
    subject_id: UUID
    request_id: UUID | None
    state: str
    attempts: int
    generation: int
    next_attempt_at: datetime | None
    role: ResourceRole | None = None
    assignment: AssignmentRow | None = None


CLAIM_FIELDS = (
    "id",
    "assignment_id",
    "resource_role_id",
    "subject_id",
    "request_id",
    "state",
    "attempts",
    "generation",
    "next_attempt_at",
)


def _claim(now: datetime, limit: int) -> list[Claim]:
    """Lock up to ``limit`` due grants, oldest first, skipping those another worker holds.

    One locking query per work state, each walking the ``(state, next_attempt_at)`` index
    in order, so a claim costs the same whatever the backlog (one query over both states
    would sort every due row first). A grant of the other state that is locked but not
    kept stays due: it is released at commit and the next batch takes it."""
    claimed: list[Claim] = []
    for state in sorted(GrantState.WORK):
        rows = (
            due_grants(now)
            .filter(state=state)
            .select_for_update(skip_locked=True, of=("self",))
            .order_by("next_attempt_at")
            .values_list(*CLAIM_FIELDS)[:limit]
        )
        claimed += [Claim(*row) for row in rows]
    far = now + timedelta(days=36500)
    claimed.sort(key=lambda c: c.next_attempt_at or far)
    return claimed[:limit]


def _claim_work(now: datetime, limit: int) -> tuple[int, list[Claim], dict[UUID, Subject], dict[UUID, AssignmentRow]]:
    """Claim due grants and lock their people and assignments: (how many grants were
    claimed, those whose person and assignment this worker holds too, the people, the
    assignments). A grant whose person or assignment another transaction holds is left
    alone (contended): it is due again in the next batch."""
    if on_postgresql():
        return _claim_work_in_one_statement(now, limit)
    claimed = _claim(now, limit)
    if not claimed:
        return 0, [], {}, {}
    people = _lock_people({c.subject_id for c in claimed})
    assignments = _lock_assignments({c.assignment_id for c in claimed})
    work = [c for c in claimed if c.subject_id in people and c.assignment_id in assignments]
    return len(claimed), work, people, assignments


def _claim_work_in_one_statement(
    now: datetime, limit: int
) -> tuple[int, list[Claim], dict[UUID, Subject], dict[UUID, AssignmentRow]]:
    """PostgreSQL: :func:`_claim`, :func:`_lock_people` and :func:`_lock_assignments` in one
    statement (one round trip instead of four, which a busy server makes count): each work
    state's claim walks its index in a CTE, the oldest ``limit`` are kept, and two more CTEs
    lock their people and assignments with SKIP LOCKED (a grant whose person or assignment
    another transaction holds comes back without them: contended).

    The statement also turns ``synchronous_commit`` off for this transaction
    (``DELIVERY_ASYNC_COMMIT``, on by default): the batch's COMMIT returns before its WAL
    reaches the disk. Safe because of what a batch is: a server crash in the instant after
    the commit loses the whole batch (memberships, grant states, attempts, audit rows,
    emails) together, exactly as if the worker had died before committing, which the
    engine already survives (the grants are still due and are delivered again; every
    connector call is idempotent). Nothing is ever half-written."""
    q = connection.ops.quote_name
    grants, assignments, packages, users = (
        q(model._meta.db_table) for model in (RoleGrant, Assignment, AccessPackage, User)
    )
    due = "(next_attempt_at <= %(now)s OR next_attempt_at IS NULL)"
    sql = f"""
        WITH pending AS (
            SELECT id, next_attempt_at FROM {grants} WHERE state = 'pending' AND {due}
            ORDER BY next_attempt_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED
        ), revoking AS (
            SELECT id, next_attempt_at FROM {grants} WHERE state = 'revoking' AND {due}
            ORDER BY next_attempt_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED
        ), claimed AS (
            SELECT g.*, c.next_attempt_at AS due_at
            FROM (SELECT * FROM pending UNION ALL SELECT * FROM revoking) c JOIN {grants} g ON g.id = c.id
            ORDER BY c.next_attempt_at LIMIT %(limit)s
        ), people AS (
            SELECT id, username, email, user_principal_name, display_name, first_name, last_name FROM {users}
            WHERE id IN (SELECT subject_id FROM claimed) ORDER BY id FOR UPDATE SKIP LOCKED
        ), held AS (
            SELECT id, state, package_id FROM {assignments}
            WHERE id IN (SELECT assignment_id FROM claimed) ORDER BY id FOR UPDATE SKIP LOCKED
        )
        SELECT g.id, g.assignment_id, g.resource_role_id, g.subject_id, g.request_id, g.state,
               g.attempts, g.generation, g.next_attempt_at,
               a.state, a.package_id, p.catalog_id, p.display_name,
               u.username, u.email, u.user_principal_name, u.display_name, u.first_name, u.last_name,
               a.id IS NOT NULL AND u.id IS NOT NULL,
               set_config('synchronous_commit', %(commit)s, true)
        FROM claimed g
        LEFT JOIN people u ON u.id = g.subject_id
        LEFT JOIN held a ON a.id = g.assignment_id
        LEFT JOIN {packages} p ON p.id = a.package_id
        ORDER BY g.due_at, g.id
    """
    commit = "off" if settings.DELIVERY_ASYNC_COMMIT else "on"
    with connection.cursor() as cursor:
        cursor.execute(sql, {"now": now, "limit": limit, "commit": commit})
        rows = cursor.fetchall()
    claimed = len(rows)
    rows = [row for row in rows if row[19]]
    work: list[Claim] = []
    people: dict[UUID, Subject] = {}
    locked: dict[UUID, AssignmentRow] = {}
    for row in rows:
        claim = Claim(*row[:9])
        work.append(claim)
        state, package_id, catalog_id, package, username, email, upn, display, first, last = row[9:19]
        people[claim.subject_id] = Subject(
            id=claim.subject_id, username=username, email=email, user_principal_name=upn or ""
        )
        locked[claim.assignment_id] = AssignmentRow(
            pk=claim.assignment_id,
            state=state,
            package_id=package_id,
            catalog_id=catalog_id,
            label=assignment_label(package, display, first, last, username),
        )
    return claimed, work, people, locked


def _lock_people(ids: set[UUID]) -> dict[UUID, Subject]:
    rows = (
        User.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(among(User, ids))
        .order_by("pk")
        .values_list("id", "username", "email", "user_principal_name")
    )
    return {pk: Subject(id=pk, username=u, email=e, user_principal_name=upn or "") for pk, u, e, upn in rows}


def _lock_assignments(ids: set[UUID]) -> dict[UUID, AssignmentRow]:
    rows = read_assignments(
        Assignment.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(among(Assignment, ids))
        .order_by("pk")
    )
    return {row.pk: row for row in rows}


def deliver_batch(
    limit: int | None = None, now: datetime | None = None, share: Callable[[], None] | None = None
) -> BatchReport:
    """Deliver up to ``limit`` due grants in one transaction, set-based: a fixed number of
    queries for any number of grants (one connector call per resource role and operation).

    ``share`` is called when the claim comes back full, before the connectors are called:
    there is a backlog, and another worker woken now claims the next batch (skipping the
    grants this one holds) while this one waits on its target."""
    limit = limit or settings.DELIVERY_BATCH_SIZE
    now = now or timezone.now()
    report = BatchReport()
    connectors: dict[UUID, BaseConnector] = {}
    try:
        with transaction.atomic():
            claimed, work, people, assignments = _claim_work(now, limit)
            report.full = claimed >= limit
            if report.full and share is not None:
                share()
            report.contended = claimed - len(work)
            if not work:
                return report
            roles = ResourceRole.objects.select_related("resource__connector").in_bulk(
                {c.resource_role_id for c in work}
            )
            for claim in work:
                claim.role = roles[claim.resource_role_id]
                claim.assignment = assignments[claim.assignment_id]
            results = _release_justified(work)
            released = {r.grant.pk for r in results}
            results += _call_connectors([c for c in work if c.pk not in released], people, connectors)
            events: list[tuple[Any, ...]] = []
            report.retry_in, writes, grant_states = _record(results, now, events)
            settle_assignments(
                list({c.assignment_id: assignments[c.assignment_id] for c in work}.values()),
                events=events,
                writes=writes,
                grant_states=grant_states,
            )
            report.handled = len(work)
    finally:
        for connector in connectors.values():
            connector.close()
    return report


@dataclass
class _Result:
    grant: Claim
    operation: str
    error: ConnectorError | None
    started_at: datetime
    duration_ms: int
    connector_id: UUID | None
    note: str = ""
    released: bool = False


def _role_of(claim: Claim) -> ResourceRole:
    assert claim.role is not None
    return claim.role


def _release_justified(work: list[Claim]) -> list[_Result]:
    """Rule 7: a revoke whose access another active assignment still wants is released
    without touching the target."""
    revoking = [c for c in work if c.state == GrantState.REVOKING]
    if not revoking:
        return []
    others = (
        RoleGrant.objects.justifying({c.subject_id for c in revoking}, {c.resource_role_id for c in revoking})
        .exclude(pk__in=[c.pk for c in revoking])
        .values_list("subject_id", "resource_role_id", "assignment__package__display_name")
    )
    justified = {(subject, role): package for subject, role, package in others}
    now = timezone.now()
    results = []
    for claim in revoking:
        package = justified.get((claim.subject_id, claim.resource_role_id))
        if package is not None:
            results.append(
                _Result(
                    claim,
                    Operation.REVOKE,
                    None,
                    now,
                    0,
                    _role_of(claim).resource.connector_id,
                    note=f"Not removed from the target: still granted through {package}.",
                    released=True,
                )
            )
    return results


def _call_connectors(
    work: list[Claim], people: dict[UUID, Subject], connectors: dict[UUID, BaseConnector]
) -> list[_Result]:
    groups: dict[tuple[UUID, str], list[Claim]] = defaultdict(list)
    for claim in work:
        operation: str = Operation.GRANT if claim.state == GrantState.PENDING else Operation.REVOKE
        groups[(claim.resource_role_id, operation)].append(claim)
    results = []
    for (_, operation), claims in groups.items():
        role = _role_of(claims[0])
        connector_model: Connector = role.resource.connector
        started = timezone.now()
        clock = time.perf_counter()
        batch: BatchResult
        subjects = [people[c.subject_id] for c in claims]
        keys = {c.subject_id: f"{c.pk}:{c.generation}:{operation}" for c in claims}
        try:
            if not connector_model.enabled:
                raise TransientError(
                    f"The connector {connector_model.display_name!r} is disabled; delivery resumes when it is enabled.",
                    code="connectorDisabled",
                )
            if connector_model.pk not in connectors:
                connectors[connector_model.pk] = for_connector(connector_model)
            impl = connectors[connector_model.pk]
            call = impl.grant_many if operation == Operation.GRANT else impl.revoke_many
            batch = call(target_of(role), subjects, keys)
        except ConnectorError as exc:
            batch = {s.id: exc for s in subjects}
        except Exception as exc:
            log.exception("Connector %s failed unexpectedly", connector_model.display_name)
            unexpected = TransientError(
                f"Unexpected error from {connector_model.display_name}: {exc}", code="unexpected"
            )
            batch = {s.id: unexpected for s in subjects}
        duration = int((time.perf_counter() - clock) * 1000)
        per_grant = max(duration // max(len(claims), 1), 0)
        for claim in claims:
            outcome = batch.get(claim.subject_id, _NO_ANSWER)
            results.append(
                _Result(
                    claim,
                    operation,
                    outcome if isinstance(outcome, ConnectorError) else None,
                    started,
                    per_grant,
                    connector_model.pk,
                    note=outcome if isinstance(outcome, str) else "",
                )
            )
    return results


_NO_ANSWER = TransientError("The connector gave no answer for this person; trying again.", code="noAnswer")

ATTEMPT_FIELDS = (
    "grant",
    "request",
    "connector",
    "operation",
    "outcome",
    "error_code",
    "message",
    "started_at",
    "duration_ms",
)


def _record(
    results: list[_Result], now: datetime, events: list[tuple[Any, ...]]
) -> tuple[float | None, list[Write | None], dict[UUID, str]]:
    """Write each attempt (one COPY), and return each grant's move (the transition table says
    where to) as one UPDATE per outcome for the caller to send with the read of the
    assignments' grants (one round trip); the audit rows go to ``events``. Returns the
    seconds to the earliest retry, the writes, and each grant's new state."""
    max_attempts = settings.DELIVERY_MAX_ATTEMPTS
    attempts: list[tuple[Any, ...]] = []
    # Grants with the same outcome get one UPDATE: (state, attempts, next, error, granted_at) -> ids
    outcomes: dict[tuple[Any, ...], list[UUID]] = defaultdict(list)
    earliest_retry: float | None = None
    succeeded: dict[tuple[UUID | None, str], list[_Result]] = defaultdict(list)
    for result in results:
        grant = result.grant
        error = result.error
        previous = state = grant.state
        tries = grant.attempts
        next_attempt_at: datetime | None = None
        granted_at: datetime | None = None
        if error is None:
            if result.released:
                transition = "release"
            else:
                transition = "succeed" if result.operation == Operation.GRANT else "revoke_succeed"
            state = GRANT.next_state(transition, state) or state
            last_error = ""
            if state == GrantState.GRANTED:
                granted_at = now
            outcome = Outcome.SUCCESS
            message = result.note or ("Granted." if result.operation == Operation.GRANT else "Revoked.")
        else:
            tries += 1
            message = error.message
            outcome = Outcome.TRANSIENT if error.transient else Outcome.PERMANENT
            if error.transient and tries < max_attempts:
                delay = backoff(tries)
                asked = getattr(error, "retry_after", None)
                if asked is not None:
                    delay = min(max(delay, timedelta(seconds=asked)), MAX_BACKOFF)
                next_attempt_at = now + delay
                last_error = f"{message} (attempt {tries} of {max_attempts}; retrying)"
                earliest_retry = min(earliest_retry or delay.total_seconds(), delay.total_seconds())
            else:
                if error.transient:
                    message = f"{message} (gave up after {tries} attempts)"
                transition = "fail" if result.operation == Operation.GRANT else "revoke_fail"
                state = GRANT.next_state(transition, state) or state
                last_error = message
        outcomes[(state, tries, next_attempt_at, last_error, granted_at)].append(grant.pk)
        error_code = (error.code if error else "")[:64]
        attempts.append(
            (
                grant.pk,
                grant.request_id,
                result.connector_id,
                result.operation,
                outcome,
                error_code,
                message,
                result.started_at,
                result.duration_ms,
            )
        )
        if error is None:
            succeeded[(result.connector_id, result.operation)].append(result)
        else:
            _log_attempt(grant, result, outcome, error_code, message)
        if state != previous:
            assignment = grant.assignment
            assert assignment is not None
            events.append(
                audit_row(
                    None,
                    f"grant.{state}",
                    "rolegrant",
                    grant.pk,
                    f"{_role_of(grant)} for {grant.subject_id} ({state})",
                    assignment.catalog_id,
                    assignment.package_id,
                    previous=previous,
                    message=message,
                )
            )
    writes = [
        update(
            RoleGrant,
            pks,
            {
                "state": state,
                "attempts": tries,
                "next_attempt_at": next_attempt_at,
                "last_error": last_error,
                "granted_at": granted_at,
                "updated_at": now,
            },
        )
        for (state, tries, next_attempt_at, last_error, granted_at), pks in outcomes.items()
    ]
    insert_rows(DeliveryAttempt, ATTEMPT_FIELDS, attempts, now=now)
    _log_successes(succeeded)
    new_states = {pk: key[0] for key, pks in outcomes.items() for pk in pks}
    return earliest_retry, writes, new_states


# A failed attempt's level (successes are logged a batch at a time: _log_successes).
_ATTEMPT_LEVEL: dict[str, int] = {
    Outcome.TRANSIENT: logging.WARNING,
    Outcome.PERMANENT: logging.ERROR,
}


def _log_attempt(grant: Claim, result: _Result, outcome: str, error_code: str, message: str) -> None:
    """A failed attempt is one line of its own: a retry at WARNING, a failure for good at
    ERROR (``event: delivery_attempt``). Its ids, never the target's answer beyond the
    short sanitized message the row keeps."""
    level = _ATTEMPT_LEVEL[outcome]
    if not log.isEnabledFor(level):
        return
    log.log(
        level,
        "Delivery attempt %s %s: %s",
        result.operation,
        outcome,
        message,
        extra={
            "event": "delivery_attempt",
            "assignment_request": str(grant.request_id or ""),
            "grant": str(grant.pk),
            "connector": str(result.connector_id or ""),
            "operation": result.operation,
            "outcome": outcome,
            "error_code": error_code,
            "duration_ms": result.duration_ms,
        },
    )


def _log_successes(succeeded: dict[tuple[UUID | None, str], list[_Result]]) -> None:
    """A batch's successful attempts are one INFO line per connector and operation
    (``event: delivery_attempts``): how many, and the assignment request of each (one entry
    per attempt that has one, so a request with two roles there is named twice), so a grep
    for a request's id still finds every attempt of it that succeeded. A line per success
    cost a fifth of a worker's time on a batch of 500 grants through the built-in directory."""
    if not succeeded or not log.isEnabledFor(logging.INFO):
        return
    for (connector_id, operation), results in succeeded.items():
        log.info(
            "Delivery attempts %s success: %d",
            operation,
            len(results),
            extra={
                "event": "delivery_attempts",
                "assignment_requests": [str(r.grant.request_id) for r in results if r.grant.request_id],
                "count": len(results),
                "connector": str(connector_id or ""),
                "operation": operation,
                "outcome": Outcome.SUCCESS,
                "duration_ms": sum(r.duration_ms for r in results),
            },
        )


def deliver_until_idle(
    max_seconds: float = 30.0, limit: int | None = None, share: Callable[[], None] | None = None
) -> BatchReport:
    """Run batches until nothing is due (or the time budget is spent).

    ``share`` is called once, the first time a claim comes back full: there is a backlog,
    and the caller asks another worker to take part, so the workers on every host share one
    backlog however it was enqueued (see :func:`deliver_batch`)."""
    total = BatchReport()
    deadline = time.monotonic() + max_seconds
    while time.monotonic() < deadline:
        report = deliver_batch(limit, share=share)
        total.handled += report.handled
        total.contended += report.contended
        if report.retry_in is not None:
            total.retry_in = min(total.retry_in or report.retry_in, report.retry_in)
        if report.full:
            share = None
        if report.handled == 0:
            break
    return total


def has_due_work(now: datetime | None = None) -> bool:
    return bool(due_grants(now or timezone.now()).exists())


def next_retry_in(now: datetime | None = None) -> float | None:
    now = now or timezone.now()
    upcoming = (
        RoleGrant.objects.filter(state__in=GrantState.WORK, next_attempt_at__gt=now)
        .order_by("next_attempt_at")
        .values_list("next_attempt_at", flat=True)
        .first()
    )
    return (upcoming - now).total_seconds() if upcoming else None


def settle_stalled_requests(now: datetime | None = None, stale_after: timedelta = timedelta(minutes=2)) -> int:
    """The sweeper's part: settle delivering requests whose grants have no work left (a
    worker died between recording an outcome and deriving the states). Returns how many."""
    stale = (now or timezone.now()) - stale_after
    settled = 0
    for assignment_id in (
        AssignmentRequest.objects.filter(state=RequestState.DELIVERING, modified_at__lt=stale)
        .exclude(assignment__grants__state__in=GrantState.WORK)
        .values_list("assignment_id", flat=True)
        .distinct()[:500]
    ):
        if assignment_id is None:
            continue
        with transaction.atomic():
            assignment = (
                Assignment.objects.select_for_update(skip_locked=True, of=("self",)).filter(pk=assignment_id).first()
            )
            if assignment is not None:
                refresh_many([assignment], skip_locked=True)
                settled += 1
    return settled


# --- Drift (DESIGN §5) ----------------------------------------------------------------


@dataclass
class DriftReport:
    roles_checked: int = 0
    drifted: int = 0
    healed: int = 0
    errors: list[str] | None = None


def check_drift(connector_ids: Iterable[UUID] | None = None) -> DriftReport:
    """Compare each role's members in the target with the grants we hold as granted.

    A granted grant whose person is missing becomes ``drifted``; with the connector in
    *heal* mode it goes straight back to work to be granted again.
    """
    report = DriftReport(errors=[])
    connectors = Connector.objects.filter(enabled=True)
    if connector_ids is not None:
        connectors = connectors.filter(pk__in=list(connector_ids))
    for connector_model in connectors:
        try:
            impl = for_connector(connector_model)
        except ConnectorError as exc:  # its plugin is not installed
            assert report.errors is not None
            report.errors.append(f"{connector_model}: {exc.message}")
            continue
        if not impl.can_read_members:
            continue
        try:
            roles = (
                ResourceRole.objects.filter(resource__connector=connector_model, grants__state=GrantState.GRANTED)
                .select_related("resource")
                .distinct()
            )
            for role in roles:
                report.roles_checked += 1
                try:
                    present = impl.members(target_of(role))
                except ConnectorError as exc:
                    assert report.errors is not None
                    report.errors.append(f"{role}: {exc.message}")
                    continue
                drifted, healed = _mark_drift(role, present, connector_model.drift_mode == DriftMode.HEAL)
                report.drifted += drifted
                report.healed += healed
        finally:
            impl.close()
    return report


def _mark_drift(role: ResourceRole, present: set[UUID], heal: bool) -> tuple[int, int]:
    with transaction.atomic():
        missing = list(
            RoleGrant.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("assignment__package")
            .filter(resource_role=role, state=GrantState.GRANTED)
            .exclude(subject_id__in=present)
        )
        if not missing:
            return 0, 0
        now = timezone.now()
        events = []
        for grant in missing:
            grant.state = GRANT.next_state("drift", grant.state) or grant.state
            grant.last_error = "Missing in the target system: removed outside Portcullis."
            if heal:
                grant.state = GRANT.next_state("retry", grant.state) or grant.state
                grant.next_attempt_at = now
                grant.attempts = 0
                grant.generation += 1
            grant.updated_at = now
            grant.resource_role = role
            events.append(
                build_event(
                    None,
                    "grant.drifted",
                    grant,
                    healing=heal,
                    catalog_id=grant.assignment.package.catalog_id,
                    package_id=grant.assignment.package_id,
                )
            )
        RoleGrant.objects.bulk_update(
            missing, ["state", "last_error", "next_attempt_at", "attempts", "generation", "updated_at"]
        )
        AuditEvent.objects.bulk_create(events)
        assignments = list(
            Assignment.objects.select_for_update(of=("self",)).filter(pk__in={g.assignment_id for g in missing})
        )
        refresh_many(assignments)
        if heal:
            wake_delivery()
    return len(missing), len(missing) if heal else 0
