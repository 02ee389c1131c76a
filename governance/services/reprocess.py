"""Reprocess (rules 1 and 2), set-based: one click on thousands of rows returns at once.

The work itself is queued as grants going back to ``pending``/``revoking``; workers do it.
Ineligible rows are skipped, each with the reason a person can act on. The one-row calls
(``reprocess_request``, ``reprocess_assignment``) are these with a single id, so each rule
has one implementation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.db.models import F, OuterRef, Subquery
from django.utils import timezone

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
from governance.services.audit import actor_label, actor_user, build_event
from governance.services.errors import DomainError, InvalidTransition, NotAllowed, NotFound
from governance.services.grants import refresh_many, wake_delivery


@dataclass
class BulkResult:
    """What a bulk action did: ids done (queued), and ids skipped with the reason."""

    done: list[UUID] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    errors: dict[str, DomainError] = field(default_factory=dict)

    def skip(self, pk: object, error: DomainError) -> None:
        self.skipped.append((str(pk), error.message))
        self.errors[str(pk)] = error

    def summary(self, verb: str = "queued") -> str:
        text = f"{len(self.done)} {verb}"
        if self.skipped:
            reasons = sorted({reason for _, reason in self.skipped})
            text += f", {len(self.skipped)} skipped ({'; '.join(reasons)})"
        return text + "."

    def raise_first(self) -> None:
        if self.errors:
            raise next(iter(self.errors.values()))


def check_reprocessable(request: AssignmentRequest, now: datetime) -> None:
    """Rule 1: Delivery failed or Partially delivered, completed within the window."""
    if request.state not in RequestState.REPROCESSABLE:
        raise InvalidTransition(
            "Only requests that are Delivery failed or Partially delivered can be reprocessed; "
            f"this one is {request.get_state_display()}."
        )
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
            result.skip(raw, NotFound(f"{noun} not found."))
    return parsed


def _retry_fields(now: datetime) -> dict[str, Any]:
    return {
        "attempts": 0,
        "generation": F("generation") + 1,
        "next_attempt_at": now,
        "last_error": "",
        "updated_at": now,
    }


def _grant_events(actor: Any, action: str, rows: list[tuple[UUID, Assignment]]) -> list[AuditEvent]:
    label = actor_label(actor)
    user = actor_user(actor)
    return [
        AuditEvent(
            actor=user,
            actor_label=label,
            action=action,
            object_type="rolegrant",
            object_id=str(pk),
            object_repr=f"grant of {assignment}",
            catalog_id=assignment.package.catalog_id,
            package_id=assignment.package_id,
        )
        for pk, assignment in rows
    ]


def _mark_delivering(actor: Any, assignments: Iterable[Assignment], now: datetime) -> list[AuditEvent]:
    moving = [a for a in assignments if a.state in AssignmentState.ACTIVE and a.state != AssignmentState.DELIVERING]
    Assignment.objects.filter(pk__in=[a.pk for a in moving]).update(state=AssignmentState.DELIVERING, modified_at=now)
    events = [
        build_event(actor, "assignment.delivering", a, previous=a.state, catalog_id=a.package.catalog_id)
        for a in moving
    ]
    for assignment in moving:
        assignment.state = AssignmentState.DELIVERING
    return events


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
            result.skip(pk, NotFound(f"{noun.capitalize()} not found."))
        elif not can_in_catalog(actor, Action.REPROCESS, row.package.catalog_id):
            result.skip(pk, NotAllowed(f"You may not reprocess this {noun}."))
        elif check(row):
            eligible.append(pk)
    locked = list(
        model.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("package", "target")
        .filter(pk__in=eligible, state__in=lockable_states)
        .order_by("pk")
    )
    for pk in set(eligible) - {row.pk for row in locked}:
        result.skip(pk, InvalidTransition(f"This {noun} changed meanwhile; try again."))
    return locked


# --- Rule 1 ---------------------------------------------------------------------------


def reprocess_requests(actor: Any, request_ids: Iterable[UUID | str], now: datetime | None = None) -> BulkResult:
    """Retry only the failed grants of each eligible request (rule 1)."""
    moment = now or timezone.now()
    result = BulkResult()

    def check(request: AssignmentRequest) -> bool:
        if request.state == RequestState.DELIVERING:
            result.done.append(request.pk)  # already being delivered: reprocessing again is a no-op
            return False
        try:
            check_reprocessable(request, moment)
        except InvalidTransition as exc:
            result.skip(request.pk, exc)
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
    request_ids = [r.pk for r in requests]
    AssignmentRequest.objects.filter(pk__in=request_ids).update(state=RequestState.DELIVERING, modified_at=now)
    events = [
        build_event(
            actor,
            "request.reprocess",
            r,
            previous=r.state,
            state=RequestState.DELIVERING,
            catalog_id=r.package.catalog_id,
        )
        for r in requests
    ]
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
        .values_list("pk", "assignment_id")
    )
    on_behalf = Subquery(
        AssignmentRequest.objects.filter(
            pk__in=request_ids, assignment_id=OuterRef("assignment_id"), state=RequestState.DELIVERING
        ).values("pk")[:1]
    )
    regrant = [pk for pk, a in failed if assignments[a].state in AssignmentState.ACTIVE]
    # A removal whose revoke failed tries the revoke again; ended access is never re-granted.
    rerevoke = [pk for pk, a in failed if assignments[a].state not in AssignmentState.ACTIVE]
    RoleGrant.objects.filter(pk__in=regrant).update(
        state=GrantState.PENDING, request_id=on_behalf, **_retry_fields(now)
    )
    RoleGrant.objects.filter(pk__in=rerevoke).update(
        state=GrantState.REVOKING, request_id=on_behalf, **_retry_fields(now)
    )
    events += _grant_events(actor, "grant.retrying", [(pk, assignments[a]) for pk, a in failed])
    with_work = {a for _, a in failed}
    events += _mark_delivering(actor, (assignments[a] for a in with_work), now)
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
    result = BulkResult()

    def check(assignment: Assignment) -> bool:
        if assignment.state in AssignmentState.ACTIVE:
            return True
        result.skip(
            assignment.pk,
            InvalidTransition(
                f"Only active assignments can be reprocessed; this one is {assignment.get_state_display().lower()}."
            ),
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
        .values_list("pk", "assignment_id", "resource_role_id", "state")
    )
    have = {(a, role) for _, a, role, _ in existing}
    back_to_work = [
        (pk, a)
        for pk, a, role, state in existing
        if state in {GrantState.GRANTED, GrantState.FAILED, GrantState.DRIFTED}
        or (state in GrantState.UNWANTED and role in roles_of.get(by_id[a].package_id, set()))
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
    RoleGrant.objects.filter(pk__in=[pk for pk, _ in back_to_work]).update(
        state=GrantState.PENDING, **_retry_fields(now)
    )
    RoleGrant.objects.bulk_create(missing)
    events = [build_event(actor, "assignment.reprocessed", a, catalog_id=a.package.catalog_id) for a in assignments]
    events += _grant_events(actor, "grant.retrying", [(pk, by_id[a]) for pk, a in back_to_work])
    events += _grant_events(actor, "grant.created", [(g.pk, by_id[g.assignment_id]) for g in missing])
    with_work = {a for _, a in back_to_work} | {g.assignment_id for g in missing}
    with_work |= {a for _, a, _, state in existing if state == GrantState.PENDING}
    events += _mark_delivering(actor, (by_id[a] for a in with_work), now)
    AuditEvent.objects.bulk_create(events)
    refresh_many([a for pk, a in by_id.items() if pk not in with_work])
    if with_work:
        wake_delivery()
