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
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from governance.audit import build_event
from governance.connectors import BaseConnector, ConnectorError, RoleTarget, Subject, TransientError, for_connector
from governance.connectors.base import BatchResult
from governance.machines import GRANT
from governance.models import (
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
from governance.services.dispatch import wake_delivery
from governance.services.grants import refresh_many

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(hours=1)
# Only what connectors and audit rows read: a batch materialises hundreds of these.
SUBJECT_FIELDS = ("id", "username", "email", "user_principal_name", "display_name", "first_name", "last_name")
ASSIGNMENT_FIELDS = (
    "id",
    "state",
    "package_id",
    "target_id",
    "package__id",
    "package__catalog_id",
    "package__display_name",
    *(f"target__{name}" for name in SUBJECT_FIELDS),
)


@dataclass
class BatchReport:
    handled: int = 0
    contended: int = 0  # due, but another worker holds the person or the assignment
    retry_in: float | None = None  # seconds until the earliest transient retry


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


def deliver_batch(limit: int | None = None, now: datetime | None = None) -> BatchReport:
    """Deliver up to ``limit`` due grants in one transaction."""
    limit = limit or settings.DELIVERY_BATCH_SIZE
    now = now or timezone.now()
    report = BatchReport()
    connectors: dict[UUID, BaseConnector] = {}
    try:
        with transaction.atomic():
            claimed = list(
                due_grants(now).select_for_update(skip_locked=True, of=("self",)).order_by("next_attempt_at")[:limit]
            )
            if not claimed:
                return report
            people = {
                u.pk: u
                for u in User.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(pk__in={g.subject_id for g in claimed})
                .only(*SUBJECT_FIELDS)
                .order_by("pk")
            }
            assignments = {
                a.pk: a
                for a in Assignment.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("package", "target")
                .only(*ASSIGNMENT_FIELDS)
                .filter(pk__in={g.assignment_id for g in claimed})
                .order_by("pk")
            }
            work = [g for g in claimed if g.subject_id in people and g.assignment_id in assignments]
            report.contended = len(claimed) - len(work)
            if not work:
                return report
            roles = ResourceRole.objects.select_related("resource__connector").in_bulk(
                {g.resource_role_id for g in work}
            )
            for grant in work:
                grant.resource_role = roles[grant.resource_role_id]
                grant.assignment = assignments[grant.assignment_id]
            results = _release_justified(work)
            released = {r.grant.pk for r in results}
            results += _call_connectors([g for g in work if g.pk not in released], people, connectors)
            report.retry_in = _record(results, now)
            refresh_many(list({g.assignment_id: g.assignment for g in work}.values()), skip_locked=True)
            report.handled = len(work)
    finally:
        for connector in connectors.values():
            connector.close()
    return report


@dataclass
class _Result:
    grant: RoleGrant
    operation: str
    error: ConnectorError | None
    started_at: datetime
    duration_ms: int
    connector_id: UUID | None
    note: str = ""
    released: bool = False


def _release_justified(work: list[RoleGrant]) -> list[_Result]:
    """Rule 7: a revoke whose access another active assignment still wants is released
    without touching the target."""
    revoking = [g for g in work if g.state == GrantState.REVOKING]
    if not revoking:
        return []
    others = (
        RoleGrant.objects.justifying({g.subject_id for g in revoking}, {g.resource_role_id for g in revoking})
        .exclude(pk__in=[g.pk for g in revoking])
        .values_list("subject_id", "resource_role_id", "assignment__package__display_name")
    )
    justified = {(subject, role): package for subject, role, package in others}
    now = timezone.now()
    results = []
    for grant in revoking:
        package = justified.get((grant.subject_id, grant.resource_role_id))
        if package is not None:
            results.append(
                _Result(
                    grant,
                    Operation.REVOKE,
                    None,
                    now,
                    0,
                    grant.resource_role.resource.connector_id,
                    note=f"Not removed from the target: still granted through {package}.",
                    released=True,
                )
            )
    return results


def _call_connectors(
    work: list[RoleGrant], people: dict[UUID, User], connectors: dict[UUID, BaseConnector]
) -> list[_Result]:
    groups: dict[tuple[UUID, str], list[RoleGrant]] = defaultdict(list)
    for grant in work:
        operation: str = Operation.GRANT if grant.state == GrantState.PENDING else Operation.REVOKE
        groups[(grant.resource_role_id, operation)].append(grant)
    results = []
    for (_, operation), grants in groups.items():
        role = grants[0].resource_role
        connector_model: Connector = role.resource.connector
        started = timezone.now()
        clock = time.perf_counter()
        batch: BatchResult
        subjects = [subject_of(people[g.subject_id]) for g in grants]
        keys = {g.subject_id: f"{g.pk}:{g.generation}:{operation}" for g in grants}
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
        per_grant = max(duration // max(len(grants), 1), 0)
        for grant in grants:
            outcome = batch.get(grant.subject_id, _NO_ANSWER)
            results.append(
                _Result(
                    grant,
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


def _record(results: list[_Result], now: datetime) -> float | None:
    """Write each attempt and move each grant; returns seconds to the earliest retry."""
    max_attempts = settings.DELIVERY_MAX_ATTEMPTS
    attempts: list[DeliveryAttempt] = []
    events: list[AuditEvent] = []
    earliest_retry: float | None = None
    for result in results:
        grant = result.grant
        error = result.error
        previous = grant.state
        if error is None:
            if result.released:
                transition = "release"
            else:
                transition = "succeed" if result.operation == Operation.GRANT else "revoke_succeed"
            grant.state = GRANT.next_state(transition, grant.state) or grant.state
            grant.last_error = ""
            grant.next_attempt_at = None
            if grant.state == GrantState.GRANTED:
                grant.granted_at = now
            outcome = Outcome.SUCCESS
            message = result.note or ("Granted." if result.operation == Operation.GRANT else "Revoked.")
        else:
            grant.attempts += 1
            message = error.message
            outcome = Outcome.TRANSIENT if error.transient else Outcome.PERMANENT
            if error.transient and grant.attempts < max_attempts:
                delay = backoff(grant.attempts)
                asked = getattr(error, "retry_after", None)
                if asked is not None:
                    delay = min(max(delay, timedelta(seconds=asked)), MAX_BACKOFF)
                grant.next_attempt_at = now + delay
                grant.last_error = f"{message} (attempt {grant.attempts} of {max_attempts}; retrying)"
                earliest_retry = min(earliest_retry or delay.total_seconds(), delay.total_seconds())
            else:
                if error.transient:
                    message = f"{message} (gave up after {grant.attempts} attempts)"
                transition = "fail" if result.operation == Operation.GRANT else "revoke_fail"
                grant.state = GRANT.next_state(transition, grant.state) or grant.state
                grant.last_error = message
                grant.next_attempt_at = None
        grant.updated_at = now
        attempts.append(
            DeliveryAttempt(
                grant=grant,
                request_id=grant.request_id,
                connector_id=result.connector_id,
                operation=result.operation,
                outcome=outcome,
                error_code=(error.code if error else "")[:64],
                message=message,
                started_at=result.started_at,
                duration_ms=result.duration_ms,
            )
        )
        if grant.state != previous:
            events.append(
                build_event(
                    None,
                    f"grant.{grant.state}",
                    grant,
                    previous=previous,
                    catalog_id=grant.assignment.package.catalog_id,
                    package_id=grant.assignment.package_id,
                    message=message,
                )
            )
    _save_outcomes([r.grant for r in results], now)
    DeliveryAttempt.objects.bulk_create(attempts)
    AuditEvent.objects.bulk_create(events)
    return earliest_retry


def _save_outcomes(grants: list[RoleGrant], now: datetime) -> None:
    """One UPDATE per distinct outcome (a batch has a handful), not a CASE per row."""
    groups: dict[tuple[Any, ...], list[UUID]] = defaultdict(list)
    for grant in grants:
        key = (grant.state, grant.attempts, grant.next_attempt_at, grant.last_error, grant.granted_at)
        groups[key].append(grant.pk)
    for (state, attempts, next_attempt_at, last_error, granted_at), pks in groups.items():
        RoleGrant.objects.filter(pk__in=pks).update(
            state=state,
            attempts=attempts,
            next_attempt_at=next_attempt_at,
            last_error=last_error,
            granted_at=granted_at,
            updated_at=now,
        )


def deliver_until_idle(max_seconds: float = 30.0, limit: int | None = None) -> BatchReport:
    """Run batches until nothing is due (or the time budget is spent)."""
    total = BatchReport()
    deadline = time.monotonic() + max_seconds
    while time.monotonic() < deadline:
        report = deliver_batch(limit)
        total.handled += report.handled
        total.contended += report.contended
        if report.retry_in is not None:
            total.retry_in = min(total.retry_in or report.retry_in, report.retry_in)
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
