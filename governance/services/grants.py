"""Desired role grants, and the request/assignment states derived from them (DESIGN §5).

A change of what someone should have writes grant rows (``pending`` / ``revoking``) in the
caller's transaction; the delivery engine does the work and reports back through
:func:`record_outcome`. States of assignments and requests are *derived* from their grants
here, and only here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any
from uuid import UUID

from django.db import connection
from django.db.models import F, QuerySet
from django.utils import timezone

from governance.audit import build_event
from governance.machines import (
    ASSIGNMENT,
    ASSIGNMENT_TRANSITION_TO,
    GRANT,
    REQUEST,
    REQUEST_TRANSITION_TO,
)
from governance.models import (
    Assignment,
    AssignmentRequest,
    AssignmentState,
    AuditEvent,
    ExtensionStage,
    GrantState,
    RequestState,
    RequestType,
    ResourceRole,
    RoleGrant,
    RoleOperation,
)
from governance.models.querysets import catalog_id_of
from governance.models.request import RequestRow
from governance.services import callouts, metrics, notifications
from governance.services.bulk_sql import (
    Write,
    among,
    array,
    audit_row,
    insert_audit_rows,
    on_postgresql,
    update,
    write_together,
)
from governance.services.dispatch import wake_delivery

# --- Derivation (pure) ----------------------------------------------------------------


def derived_assignment_state(grant_states: Iterable[str]) -> str:
    """An active assignment's state from its grants' states."""
    wanted = [s for s in grant_states if s in GrantState.WANTED]
    if any(s == GrantState.PENDING for s in wanted):
        return AssignmentState.DELIVERING
    granted = sum(1 for s in wanted if s == GrantState.GRANTED)
    if granted == len(wanted):
        return AssignmentState.DELIVERED
    if granted:
        return AssignmentState.PARTIALLY_DELIVERED
    return AssignmentState.DELIVERY_FAILED


def derived_request_state(request_type: str, grant_states: Iterable[str]) -> str:
    """A delivering request's state from its assignment's grants.

    Adds are done when every wanted grant landed; removals when every grant is gone.
    """
    states = list(grant_states)
    if request_type in RequestType.REMOVES:
        if any(s in GrantState.WORK for s in states):
            return RequestState.DELIVERING
        failed = sum(1 for s in states if s == GrantState.FAILED)
        if not failed:
            return RequestState.DELIVERED
        return RequestState.DELIVERY_FAILED if failed == len(states) else RequestState.PARTIALLY_DELIVERED
    if request_type in RequestType.UPDATES:
        return RequestState.DELIVERED
    mapping: dict[str, str] = {
        AssignmentState.DELIVERING: RequestState.DELIVERING,
        AssignmentState.DELIVERED: RequestState.DELIVERED,
        AssignmentState.PARTIALLY_DELIVERED: RequestState.PARTIALLY_DELIVERED,
        AssignmentState.DELIVERY_FAILED: RequestState.DELIVERY_FAILED,
    }
    return mapping[derived_assignment_state(states)]


# --- Desired state --------------------------------------------------------------------


def want_roles(
    assignment: Assignment,
    roles: Sequence[ResourceRole] | QuerySet[ResourceRole],
    *,
    request: AssignmentRequest | None = None,
    operation: RoleOperation | None = None,
    actor: Any = None,
) -> list[RoleGrant]:
    """Make ``assignment`` want each role: new grants, or revoked ones restored."""
    now = timezone.now()
    existing = {g.resource_role_id: g for g in assignment.grants.select_for_update(of=("self",))}
    created: list[RoleGrant] = []
    touched: list[RoleGrant] = []
    for role in roles:
        grant = existing.get(role.pk)
        if grant is None:
            created.append(
                RoleGrant(
                    assignment=assignment,
                    resource_role=role,
                    subject_id=assignment.target_id,
                    request=request,
                    operation=operation,
                    state=GrantState.PENDING,
                    next_attempt_at=now,
                )
            )
        elif GRANT.allows("restore", grant.state):
            _reset_for_work(grant, "restore", request=request, operation=operation, now=now)
            touched.append(grant)
    RoleGrant.objects.bulk_create(created)
    events = [build_event(actor, "grant.created", g, role=str(g.resource_role)) for g in created] + [
        build_event(actor, GRANT.event("restore"), g) for g in touched
    ]
    AuditEvent.objects.bulk_create(events)
    if created or touched:
        wake_delivery()
    return created + touched


def back_to_work(now: datetime) -> dict[str, Any]:
    """The columns of grants sent back to work in bulk (``apply_bulk``'s ``changes``): their
    attempts start afresh, as a new generation, due now (as :func:`_reset_for_work` does
    for one grant)."""
    return {"attempts": 0, "generation": F("generation") + 1, "next_attempt_at": now, "last_error": ""}


def _reset_for_work(
    grant: RoleGrant,
    transition: str,
    *,
    request: AssignmentRequest | None,
    operation: RoleOperation | None = None,
    now: datetime,
) -> None:
    """Send ``grant`` back to work through ``transition`` (grant again, revoke): a fresh
    generation, no attempts yet, due now."""
    new_state = GRANT.next_state(transition, grant.state)
    if new_state is None:
        return
    grant.state = new_state
    grant.attempts = 0
    grant.generation += 1
    grant.next_attempt_at = now
    grant.last_error = ""
    if request is not None:
        grant.request = request
    if operation is not None:
        grant.operation = operation
    grant.save(
        update_fields=[
            "state",
            "attempts",
            "generation",
            "next_attempt_at",
            "last_error",
            "request",
            "operation",
            "updated_at",
        ]
    )


def unwant_grants(
    grants: Iterable[RoleGrant],
    *,
    request: AssignmentRequest | None = None,
    operation: RoleOperation | None = None,
    actor: Any = None,
) -> int:
    """Mark grants for revocation. Whether the target really loses the access is decided
    by the delivery engine at execution time (rule 7: only when nothing else justifies it)."""
    now = timezone.now()
    changed = 0
    events = []
    for grant in grants:
        if grant.state not in GRANT.sources_of("revoke"):
            continue
        _reset_for_work(grant, "revoke", request=request, operation=operation, now=now)
        events.append(build_event(actor, GRANT.event("revoke"), grant))
        changed += 1
    AuditEvent.objects.bulk_create(events)
    if changed:
        wake_delivery()
    return changed


# --- States derived from grants --------------------------------------------------------


def refresh_states(assignment: Assignment, *, actor: Any = None) -> None:
    """Re-derive one assignment's state and its delivering requests'. Caller holds the lock."""
    refresh_many([assignment], actor=actor)


def refresh_many(assignments: Sequence[Assignment], *, actor: Any = None, skip_locked: bool = False) -> None:
    """Re-derive assignments' states, and their delivering requests', from their grants.

    The caller holds the assignments' row locks. Set-based: a fixed number of queries for
    any number of assignments (see :func:`settle_assignments`); each instance's ``state``
    is set to the new one.
    """
    rows = [
        AssignmentRow(
            pk=a.pk,
            state=a.state,
            package_id=a.package_id,
            catalog_id=_catalog_of(a),
            label=None,
            instance=a,
        )
        for a in assignments
    ]
    settle_assignments(rows, actor=actor, skip_locked=skip_locked)
    for row in rows:
        if row.instance is not None:
            row.instance.state = row.state


@dataclass(slots=True)
class AssignmentRow:
    """An assignment as the set-based services need it, read as plain values
    (:func:`read_assignments`, the delivery engine's claim); other services pass their
    instances (``label`` then comes from it)."""

    pk: UUID
    state: str
    package_id: UUID | None
    catalog_id: UUID | None
    label: str | None
    instance: Assignment | None = None
    policy_id: UUID | None = None
    target_id: UUID | None = None


# What :func:`read_assignments` reads of each assignment: its state, ids, and the names
# its audit rows show.
ASSIGNMENT_FIELDS = (
    "pk",
    "state",
    "package_id",
    "package__catalog_id",
    "policy_id",
    "target_id",
    "package__display_name",
    "target__display_name",
    "target__first_name",
    "target__last_name",
    "target__username",
)


def user_label(display_name: str, first_name: str, last_name: str, username: str) -> str:
    """``str(user)`` from its columns (display name, else full name, else username)."""
    return display_name or f"{first_name} {last_name}".strip() or username


def assignment_label(package_name: str, *user: str) -> str:
    """``str(assignment)`` from its package's name and its person's columns."""
    return f"{package_name} · {user_label(*user)}"


def read_assignments(assignments: QuerySet[Assignment]) -> list[AssignmentRow]:
    """Read (and, as the queryset says, lock) assignments as :class:`AssignmentRow` values."""
    return [
        AssignmentRow(pk, state, package_id, catalog_id, assignment_label(*names), None, policy_id, target_id)
        for pk, state, package_id, catalog_id, policy_id, target_id, *names in assignments.values_list(
            *ASSIGNMENT_FIELDS
        )
    ]


def settle_assignments(
    rows: Sequence[AssignmentRow],
    *,
    actor: Any = None,
    skip_locked: bool = False,
    events: list[tuple[Any, ...]] | None = None,
    writes: Sequence[Write | None] = (),
    grant_states: Mapping[UUID, str] | None = None,
) -> None:
    """Derive each assignment's state from its grants (the transition table says whether it
    may move), one UPDATE per new state and one audit INSERT (with the caller's ``events``,
    audit rows of :func:`governance.services.bulk_sql.audit_row`); then settle their
    delivering requests. The caller holds the assignments' row locks; ``rows`` get their new
    state.

    ``writes`` are the caller's grant changes not made yet, sent in the same round trip as
    the read of the grants' states (which then sees them as they were): ``grant_states``
    says what they become."""
    events = events if events is not None else []
    changed = grant_states or {}
    by_id = {row.pk: row for row in rows}
    states: dict[UUID, list[str]] = defaultdict(list)
    if by_id and on_postgresql():
        table = connection.ops.quote_name(RoleGrant._meta.db_table)
        query = f"SELECT assignment_id, id, state FROM {table} WHERE assignment_id = ANY(%s::uuid[])"
        found: Iterable[tuple[Any, ...]] = write_together(writes, then=(query, [array(by_id)]))
    else:
        write_together(writes)
        found = RoleGrant.objects.filter(assignment_id__in=list(by_id)).values_list("assignment_id", "id", "state")
    for assignment_id, grant_id, state in found:
        states[assignment_id].append(changed.get(grant_id, state))

    now = timezone.now()
    moved: dict[str, list[UUID]] = defaultdict(list)
    for row in rows:
        if row.state not in AssignmentState.ACTIVE:
            continue
        new_state = derived_assignment_state(states[row.pk])
        if new_state == row.state:
            continue
        if ASSIGNMENT.next_state(ASSIGNMENT_TRANSITION_TO[new_state], row.state) is None:
            continue
        instance = row.instance
        catalog_id = row.catalog_id or (catalog_id_of(instance) if instance is not None else None)
        events.append(
            audit_row(
                actor,
                f"assignment.{new_state}",
                "assignment",
                row.pk,
                row.label if row.label is not None else str(instance),
                catalog_id,
                row.package_id,
                previous=row.state,
            )
        )
        row.state = new_state
        moved[new_state].append(row.pk)
    write_together(
        [update(Assignment, ids, {"state": new_state, "modified_at": now}) for new_state, ids in moved.items()]
    )
    insert_audit_rows(events, now=now)
    if not by_id:
        return

    delivering = read_requests(
        AssignmentRequest.objects.select_for_update(skip_locked=skip_locked, of=("self",)).filter(
            among(AssignmentRequest, by_id, "assignment"), state=RequestState.DELIVERING
        )
    )
    complete_requests(
        [(request, states[request.assignment_id] if request.assignment_id else []) for request in delivering],
        actor=actor,
    )


# What :func:`read_requests` reads of each request (``RequestRow``'s fields up to the
# target's, then the names ``str(request)`` shows).
REQUEST_FIELDS = (
    "pk",
    "request_type",
    "state",
    "created_at",
    "policy_id",
    "package_id",
    "package__catalog_id",
    "assignment_id",
    "target_id",
    "removal_reason",
    "target__email",
    "target__is_active",
    "package__display_name",
    "target__display_name",
    "target__first_name",
    "target__last_name",
    "target__username",
)
_LABELS = dict(RequestType.choices)


def request_label(request_type: str, package_name: str, *user: str, types: Mapping[str, str] | None = None) -> str:
    """``str(request)`` from its columns: "<type> · <package> · <person>". ``types``: the
    type labels already translated (:func:`read_requests` translates them once a batch, not
    once a row: each lazy label looked its translation up again, a fifth of reading 500)."""
    kind = (types or _LABELS).get(request_type, request_type)
    return f"{kind} · {package_name} · {user_label(*user)}"


def read_requests(requests: QuerySet[AssignmentRequest]) -> list[RequestRow]:
    """Read (and, as the queryset says, lock) requests as :class:`RequestRow` values."""
    names = [field.name for field in fields(RequestRow)][: len(REQUEST_FIELDS) - 5]
    types = {value: str(label) for value, label in _LABELS.items()}
    return [
        RequestRow(**dict(zip(names, values, strict=False)), label=request_label(values[1], *values[-5:], types=types))
        for values in requests.values_list(*REQUEST_FIELDS)
    ]


def request_row(request: AssignmentRequest) -> RequestRow:
    """The row of a request a service holds (its package and target are read if not yet)."""
    return RequestRow(
        pk=request.pk,
        request_type=request.request_type,
        state=request.state,
        created_at=request.created_at,
        policy_id=request.policy_id,
        package_id=request.package_id,
        catalog_id=request.package.catalog_id,
        assignment_id=request.assignment_id,
        target_id=request.target_id,
        removal_reason=request.removal_reason,
        label=str(request),
        target_email=request.target.email,
        target_active=request.target.is_active,
        instance=request,
    )


def complete_requests(requests: Sequence[tuple[RequestRow, Sequence[str]]], *, actor: Any = None) -> list[RequestRow]:
    """Settle delivering requests from their assignments' grant states, set-based: each new
    state asked of the transition table, one UPDATE per new state, the audit rows written as
    tuples, the emails as kind and ids (rendered when sent). No model instance is built.

    The caller holds the requests' row locks. Returns the rows that completed, their
    ``state`` and ``completed_at`` set (and their instances', where they came with one).
    """
    now = timezone.now()
    done: dict[str, list[UUID]] = defaultdict(list)
    events = []
    completed = []
    for request, grant_states in requests:
        new_state = derived_request_state(request.request_type, grant_states)
        if new_state == RequestState.DELIVERING:
            continue
        transition = REQUEST_TRANSITION_TO[new_state]
        if REQUEST.next_state(transition, request.state) is None:
            continue
        events.append(
            audit_row(
                actor,
                f"request.{new_state}",
                "assignmentrequest",
                request.pk,
                request.label,
                request.catalog_id,
                request.package_id,
                previous=request.state,
            )
        )
        request.state = new_state
        request.completed_at = now
        if request.instance is not None:
            request.instance.state = new_state
            request.instance.completed_at = now
        done[new_state].append(request.pk)
        completed.append(request)
    write_together(
        [
            update(AssignmentRequest, ids, {"state": new_state, "completed_at": now, "modified_at": now})
            for new_state, ids in done.items()
        ]
    )
    insert_audit_rows(events, now=now)
    # Time to access (`/metrics`), counted in this transaction: it commits with the request.
    metrics.observe_time_to_access(
        [r.created_at for r in completed if r.state == RequestState.DELIVERED and r.request_type in RequestType.ADDS],
        now,
    )
    notifications.requests_completed(completed)
    granted = [r for r in completed if r.request_type in RequestType.ADDS and r.state != RequestState.DELIVERY_FAILED]
    callouts.fire_many([(r.pk, r.policy_id) for r in granted], ExtensionStage.ASSIGNMENT_GRANTED)
    removed = [r for r in completed if r.request_type in RequestType.REMOVES and r.state == RequestState.DELIVERED]
    callouts.fire_many([(r.pk, r.policy_id) for r in removed], ExtensionStage.ASSIGNMENT_REMOVED)
    return completed


def _catalog_of(assignment: Assignment) -> UUID | None:
    package = assignment.package if "package" in assignment._state.fields_cache else None
    return package.catalog_id if package is not None else None


def complete_request_if_done(request: AssignmentRequest, grant_states: list[str], *, actor: Any = None) -> None:
    """Settle one delivering request (caller holds its lock); ``request`` gets its new state."""
    complete_requests([(request_row(request), grant_states)], actor=actor)


def lock_assignment(assignment_id: UUID) -> Assignment:
    return Assignment.objects.select_for_update(of=("self",)).select_related("package", "target").get(pk=assignment_id)
