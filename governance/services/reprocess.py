"""Reprocess (rules 1 and 2), set-based: one click on thousands of rows returns at once.

The work itself is queued as grants going back to ``pending``/``revoking``; workers do it.
Every row moves through the transition tables with :func:`governance.machines.apply_bulk`,
as a single one would. Ineligible rows are skipped, each with the reason a person can act
on. The one-row calls (``reprocess_request``, ``reprocess_assignment``) are these with a
single id, so each rule has one implementation. "Reprocess all matching" (a list's whole
filter) feeds these functions 1,000 ids at a time: :mod:`governance.services.bulk_reprocess`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import models, transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from governance.audit import build_event
from governance.errors import DomainError, InvalidTransition, NotAllowed, NotFound
from governance.machines import ASSIGNMENT, apply_bulk
from governance.models import (
    Assignment,
    AssignmentRequest,
    AssignmentState,
    AuditEvent,
    GrantState,
    PackageResourceRole,
    RequestState,
    RoleGrant,
)
from governance.permissions import Action, can_in_catalog, restrict
from governance.services.dispatch import wake_delivery
from governance.services.grants import back_to_work, refresh_many

# Active and showing an outcome: reprocessing puts it back to Delivering.
ASSIGNMENT_REDELIVERABLE = ASSIGNMENT.sources_of("redeliver")


@dataclass
class BulkResult:
    """What a bulk action did: ids done (queued), and ids skipped with the reason.

    Each skip also has a short group for the summary: a state the row is already in
    ("Delivered"), or a few words ("not found"); ``rule`` says once what would have been
    eligible, so the summary reads "2 queued; 2 skipped (rule): already Delivered (1),
    Canceled (1)." and not one sentence per row."""

    done: list[UUID] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    errors: dict[str, DomainError] = field(default_factory=dict)
    groups: Counter[tuple[bool, int, str]] = field(default_factory=Counter)
    rule: str = ""

    def skip(self, pk: object, error: DomainError, *, state: models.TextChoices | None = None, group: str = "") -> None:
        """``state``: the row is in a state the action does not apply to (a TextChoices
        member: its label is shown, states in their machine's order); ``group``: otherwise,
        why in a few words (default: the error's message)."""
        self.skipped.append((str(pk), error.message))
        self.errors[str(pk)] = error
        if state is not None:
            key = (True, type(state).values.index(state.value), str(state.label))
        else:
            key = (False, 0, group or error.message.rstrip("."))
        self.groups[key] += 1

    def summary(self, verb: str = "queued") -> str:
        text = f"{len(self.done)} {verb}"
        if not self.skipped:
            return text + "."
        ordered = sorted(self.groups.items(), key=lambda item: (-item[1], item[0][1]))
        in_state = [f"{label} ({n})" for (is_state, _, label), n in ordered if is_state]
        other = [f"{label} ({n})" for (is_state, _, label), n in ordered if not is_state]
        if in_state:
            in_state[0] = f"already {in_state[0]}"
        rule = f" ({self.rule})" if self.rule and in_state else ""
        return f"{text}; {len(self.skipped)} skipped{rule}: {', '.join(in_state + other)}."

    def raise_first(self) -> None:
        if self.errors:
            raise next(iter(self.errors.values()))


REQUEST_RULE = "Only requests that are Delivery failed or Partially delivered can be reprocessed"
ASSIGNMENT_RULE = "Only active assignments can be reprocessed"


def check_reprocessable(request: AssignmentRequest, now: datetime) -> None:
    """Rule 1: Delivery failed or Partially delivered, completed within the window."""
    if request.state not in RequestState.REPROCESSABLE:
        raise InvalidTransition(f"{REQUEST_RULE}; this one is {request.get_state_display()}.")
    window = timedelta(days=settings.REPROCESS_WINDOW_DAYS)
    if request.completed_at is None or request.completed_at < now - window:
        raise InvalidTransition(
            f"This request completed more than {settings.REPROCESS_WINDOW_DAYS} days ago and can no "
            "longer be reprocessed; the requestor needs to request again."
        )
    if request.assignment_id is None:
        raise InvalidTransition("This request has no assignment to deliver.")


def is_reprocessable(request: AssignmentRequest, now: datetime | None = None) -> bool:
    try:
        check_reprocessable(request, now or timezone.now())
    except InvalidTransition:
        return False
    return True


def _parse(ids: Iterable[UUID | str], result: BulkResult, noun: str) -> list[UUID]:
    parsed: list[UUID] = []
    for raw in dict.fromkeys(str(pk) for pk in ids):
        try:
            parsed.append(UUID(raw))
        except ValueError:
            result.skip(raw, NotFound(f"{noun} not found."), group="not found")
    return parsed


def _grants_of(assignments: dict[UUID, Assignment]) -> Callable[[RoleGrant], dict[str, Any]]:
    """Audit fields of a grant, from its (already loaded) assignment: no query per grant."""

    def describe(grant: RoleGrant) -> dict[str, Any]:
        assignment = assignments[grant.assignment_id]
        return {
            "object_repr": f"grant of {assignment}",
            "catalog_id": assignment.package.catalog_id,
            "package_id": assignment.package_id,
        }

    return describe


def _mark_delivering(actor: Any, assignments: Iterable[Assignment], now: datetime, events: list[AuditEvent]) -> None:
    """Active assignments with work queued show Delivering again (``redeliver``)."""
    moving = [a for a in assignments if a.state in ASSIGNMENT_REDELIVERABLE]
    apply_bulk(moving, "redeliver", actor, now=now, events=events)


def _lock_eligible(
    actor: Any,
    model: type[AssignmentRequest] | type[Assignment],
    ids: list[UUID],
    result: BulkResult,
    *,
    noun: str,
    check: Callable[[Any], bool],
    lockable_states: Iterable[str],
) -> list[Any]:
    """The rows the actor may reprocess and that pass ``check`` (which may skip them or mark
    them done), locked; everything else is reported in ``result`` with its reason."""
    visible = {
        row.pk: row
        for row in restrict(model.objects.filter(pk__in=ids), actor, Action.VIEW).select_related("package", "target")
    }
    eligible: list[UUID] = []
    for pk in ids:
        row = visible.get(pk)
        if row is None:
            result.skip(pk, NotFound(f"{noun.capitalize()} not found."), group="not found")
        elif not can_in_catalog(actor, Action.REPROCESS, row.package.catalog_id):
            result.skip(pk, NotAllowed(f"You may not reprocess this {noun}."), group="not yours to reprocess")
        elif check(row):
            eligible.append(pk)
    locked = list(
        model.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("package", "target")
        .filter(pk__in=eligible, state__in=lockable_states)
        .order_by("pk")
    )
    for pk in set(eligible) - {row.pk for row in locked}:
        result.skip(pk, InvalidTransition(f"This {noun} changed meanwhile; try again."), group="changed meanwhile")
    return locked


# --- Rule 1 ---------------------------------------------------------------------------


def reprocess_requests(actor: Any, request_ids: Iterable[UUID | str], now: datetime | None = None) -> BulkResult:
    """Retry only the failed grants of each eligible request (rule 1)."""
    moment = now or timezone.now()
    result = BulkResult(rule=REQUEST_RULE)

    def check(request: AssignmentRequest) -> bool:
        if request.state == RequestState.DELIVERING:
            result.done.append(request.pk)  # already being delivered: reprocessing again is a no-op
            return False
        try:
            check_reprocessable(request, moment)
        except InvalidTransition as exc:
            if request.state not in RequestState.REPROCESSABLE:
                result.skip(request.pk, exc, state=RequestState(request.state))
            elif request.assignment_id is None:
                result.skip(request.pk, exc, group="no assignment")
            else:
                window = settings.REPROCESS_WINDOW_DAYS
                result.skip(request.pk, exc, group=f"completed more than {window} days ago")
            return False
        return True

    with transaction.atomic():
        locked = _lock_eligible(
            actor,
            AssignmentRequest,
            _parse(request_ids, result, "Request"),
            result,
            noun="request",
            check=check,
            lockable_states=RequestState.REPROCESSABLE,
        )
        if locked:
            _requeue_failed(actor, locked, moment)
        result.done.extend(r.pk for r in locked)
    return result


def _requeue_failed(actor: Any, requests: list[AssignmentRequest], now: datetime) -> None:
    events: list[AuditEvent] = []
    apply_bulk(requests, "reprocess", actor, now=now, events=events)
    assignments = {
        a.pk: a
        for a in Assignment.objects.select_for_update(of=("self",))
        .select_related("package", "target")
        .filter(pk__in=[r.assignment_id for r in requests])
        .order_by("pk")
    }
    failed = list(
        RoleGrant.objects.select_for_update(of=("self",))
        .filter(assignment_id__in=assignments, state=GrantState.FAILED)
        .only("pk", "assignment_id", "state")
    )
    on_behalf = Subquery(
        AssignmentRequest.objects.filter(
            pk__in=[r.pk for r in requests], assignment_id=OuterRef("assignment_id"), state=RequestState.DELIVERING
        ).values("pk")[:1]
    )
    work = {**back_to_work(now), "request_id": on_behalf}
    describe = _grants_of(assignments)
    active = [g for g in failed if assignments[g.assignment_id].state in AssignmentState.ACTIVE]
    apply_bulk(active, "retry", actor, now=now, changes=work, describe=describe, events=events)
    # A removal whose revoke failed tries the revoke again; ended access is never re-granted.
    ended = [g for g in failed if assignments[g.assignment_id].state not in AssignmentState.ACTIVE]
    apply_bulk(ended, "revoke", actor, now=now, changes=work, describe=describe, events=events)
    with_work = {g.assignment_id for g in failed}
    _mark_delivering(actor, (assignments[a] for a in with_work), now, events)
    AuditEvent.objects.bulk_create(events)
    # Nothing failed any more (fixed some other way): settle those requests now.
    refresh_many([a for pk, a in assignments.items() if pk not in with_work])
    if failed:
        wake_delivery()


# --- Rule 2 ---------------------------------------------------------------------------


def reprocess_assignments(actor: Any, assignment_ids: Iterable[UUID | str], now: datetime | None = None) -> BulkResult:
    """Re-check every role each active assignment should grant, and grant what is missing.

    Every wanted grant goes back to work: connectors read the target and only change what
    is missing (answering "already a member" for the rest), so the state that follows is
    what is really there. Nothing is revoked.
    """
    moment = now or timezone.now()
    result = BulkResult(rule=ASSIGNMENT_RULE)

    def check(assignment: Assignment) -> bool:
        if assignment.state in AssignmentState.ACTIVE:
            return True
        result.skip(
            assignment.pk,
            InvalidTransition(f"{ASSIGNMENT_RULE}; this one is {assignment.get_state_display().lower()}."),
            state=AssignmentState(assignment.state),
        )
        return False

    with transaction.atomic():
        locked = _lock_eligible(
            actor,
            Assignment,
            _parse(assignment_ids, result, "Assignment"),
            result,
            noun="assignment",
            check=check,
            lockable_states=AssignmentState.ACTIVE,
        )
        if locked:
            _recheck(actor, locked, moment)
        result.done.extend(a.pk for a in locked)
    return result


def _recheck(actor: Any, assignments: list[Assignment], now: datetime) -> None:
    by_id = {a.pk: a for a in assignments}
    roles_of: dict[UUID, set[UUID]] = {}
    for package_id, role_id in PackageResourceRole.objects.filter(
        package_id__in={a.package_id for a in assignments}
    ).values_list("package_id", "resource_role_id"):
        roles_of.setdefault(package_id, set()).add(role_id)
    existing = list(
        RoleGrant.objects.select_for_update(of=("self",))
        .filter(assignment_id__in=by_id)
        .only("pk", "assignment_id", "resource_role_id", "state")
    )
    have = {(g.assignment_id, g.resource_role_id) for g in existing}
    # What is there is read again; what the package no longer holds is never re-granted.
    retry = [g for g in existing if g.state in {GrantState.GRANTED, GrantState.FAILED, GrantState.DRIFTED}]
    restore = [
        g
        for g in existing
        if g.state in GrantState.UNWANTED and g.resource_role_id in roles_of.get(by_id[g.assignment_id].package_id, ())
    ]
    missing = [
        RoleGrant(
            assignment=by_id[a],
            resource_role_id=role,
            subject_id=by_id[a].target_id,
            state=GrantState.PENDING,
            next_attempt_at=now,
        )
        for a in by_id
        for role in roles_of.get(by_id[a].package_id, set())
        if (a, role) not in have
    ]
    with_work = {g.assignment_id for g in retry + restore + missing} | {
        g.assignment_id for g in existing if g.state == GrantState.PENDING
    }
    events = [build_event(actor, "assignment.reprocessed", a) for a in assignments]
    describe = _grants_of(by_id)
    work = back_to_work(now)
    apply_bulk(retry, "retry", actor, now=now, changes=work, describe=describe, events=events)
    apply_bulk(restore, "restore", actor, now=now, changes=work, describe=describe, events=events)
    RoleGrant.objects.bulk_create(missing)
    events += [build_event(actor, "grant.created", g, **describe(g)) for g in missing]
    _mark_delivering(actor, (by_id[a] for a in with_work), now, events)
    AuditEvent.objects.bulk_create(events)
    refresh_many([a for pk, a in by_id.items() if pk not in with_work])
    if with_work:
        wake_delivery()
