"""Reprocess (rules 1 and 2), set-based: one click on thousands of rows returns at once.

The work itself is queued as grants going back to ``pending``/``revoking``; workers do it.
Ineligible rows are skipped, each with the reason a person can act on. The one-row calls
(``reprocess_request``, ``reprocess_assignment``) are these with a single id, so each rule
has one implementation. "Reprocess all matching" (a list's whole filter, 10,000 rows or
more) records a :class:`BulkReprocess` and a task feeds the same functions 1,000 ids at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.db.models import F, OuterRef, Q, QuerySet, Subquery
from django.http import QueryDict
from django.utils import timezone
from django_filters import FilterSet

from governance.filters import AllAssignmentsFilter, AllRequestsFilter, AssignmentFilter, RequestFilter
from governance.models import (
    Assignment,
    AssignmentRequest,
    AssignmentState,
    AuditEvent,
    BulkReprocess,
    BulkReprocessKind,
    BulkReprocessState,
    GrantState,
    PackageResourceRole,
    RequestState,
    RoleGrant,
)
from governance.permissions import Action, can_in_catalog, restrict
from governance.services.audit import actor_label, actor_user, build_event
from governance.services.errors import DomainError, InvalidTransition, NotAllowed, NotFound, ValidationFailed
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


# --- Every matching row (DESIGN §8: 10,000 requests, the click returns at once) ----------

# The confirmation shows the count; past this many it says "more than" rather than count on.
COUNT_CAP = 100_000


@dataclass(frozen=True)
class MatchingScope:
    """What "all matching" means for one list: its filter, seen by one actor, at one moment."""

    kind: str
    query: QueryDict
    package_id: UUID | None
    as_of: datetime

    def filterset(self, queryset: QuerySet[Any]) -> FilterSet:
        if self.kind == BulkReprocessKind.REQUESTS:
            return (RequestFilter if self.package_id else AllRequestsFilter)(self.query, queryset=queryset)
        return (AssignmentFilter if self.package_id else AllAssignmentsFilter)(self.query, queryset=queryset)

    def rows(self, actor: Any) -> QuerySet[Any]:
        """The rows the actor may reprocess that the filter matches and the rules allow.

        Bad filter input raises :class:`ValidationFailed` with the form's messages.
        """
        model: type[AssignmentRequest] | type[Assignment] = (
            AssignmentRequest if self.kind == BulkReprocessKind.REQUESTS else Assignment
        )
        queryset = restrict(model.objects.all(), actor, Action.REPROCESS)
        if self.package_id is not None:
            queryset = queryset.filter(package_id=self.package_id)
        filterset = self.filterset(queryset)
        if not filterset.is_valid():
            raise ValidationFailed(filter_errors(filterset))
        rows = filterset.qs
        if self.kind == BulkReprocessKind.REQUESTS:
            # Rule 1, and only what had completed when the administrator looked.
            window = self.as_of - timedelta(days=settings.REPROCESS_WINDOW_DAYS)
            rows = rows.filter(
                state__in=RequestState.REPROCESSABLE,
                completed_at__gte=window,
                completed_at__lte=self.as_of,
                assignment__isnull=False,
            )
        else:
            rows = rows.filter(state__in=AssignmentState.ACTIVE, created_at__lte=self.as_of)
        return rows.order_by()

    def describe(self) -> str:
        """The filter in words, as the list's form labels it."""
        model = AssignmentRequest if self.kind == BulkReprocessKind.REQUESTS else Assignment
        form = self.filterset(model.objects.none()).form
        if not form.is_valid():
            return ""
        parts = []
        for name, value in form.cleaned_data.items():
            if name == "sort" or value in (None, "", []):
                continue
            field = form.fields[name]
            shown = dict(getattr(field, "choices", ())).get(value, value)
            parts.append(f"{field.label}: {shown}")
        return "; ".join(parts)[:512]


def filter_errors(filterset: FilterSet) -> str:
    return " ".join(
        f"{filterset.form.fields[name].label if name in filterset.form.fields else 'Filter'}: {message}"
        for name, messages in filterset.form.errors.items()
        for message in messages
    )


def scope_of(operation: BulkReprocess) -> MatchingScope:
    return MatchingScope(
        kind=operation.kind,
        query=QueryDict(operation.query),
        package_id=operation.package_scope,
        as_of=operation.as_of,
    )


def count_matching(actor: Any, scope: MatchingScope) -> tuple[int, bool]:
    """How many rows "all matching" would reprocess, counted up to :data:`COUNT_CAP` (one
    query); the flag says the cap was reached."""
    counted = scope.rows(actor).values("pk")[: COUNT_CAP + 1].count()
    return min(counted, COUNT_CAP), counted > COUNT_CAP


def queue_reprocess_matching(actor: Any, scope: MatchingScope) -> BulkReprocess:
    """Record the bulk operation with its audit row and queue one task; nothing else runs now."""
    from governance import tasks

    matched, _ = count_matching(actor, scope)
    with transaction.atomic():
        operation = BulkReprocess.objects.create(
            kind=scope.kind,
            actor=actor_user(actor),
            actor_label=actor_label(actor)[:256],
            package_scope=scope.package_id,
            query=scope.query.urlencode(),
            description=scope.describe(),
            as_of=scope.as_of,
            matched=matched,
            state=BulkReprocessState.DONE if matched == 0 else BulkReprocessState.QUEUED,
            finished_at=scope.as_of if matched == 0 else None,
        )
        build_event(
            actor,
            f"{operation.noun}.reprocess_all",
            operation,
            matched=matched,
            filter=operation.query,
            package_id=scope.package_id,
        ).save()
        if matched:
            transaction.on_commit(lambda: tasks.reprocess_matching_soon(operation.pk))
    return operation


def run_reprocess_matching(operation_id: UUID, *, max_seconds: float = 5.0) -> bool:
    """Work through a bulk operation, one batch per transaction, for about ``max_seconds``.

    Returns True when there is nothing left for this caller to do (finished, gone, or being
    worked on by another worker right now); False when time ran out with batches to go.
    """
    deadline = timezone.now() + timedelta(seconds=max_seconds)
    while True:
        outcome = _run_one_batch(operation_id)
        if outcome is not None:
            return outcome
        if timezone.now() >= deadline:
            return False


def _run_one_batch(operation_id: UUID) -> bool | None:
    """One batch: lock the operation, reprocess the next ids after its cursor with the
    set-based functions, move the cursor and the counts, commit. ``None``: more to do."""
    size = settings.BULK_REPROCESS_BATCH_SIZE
    with transaction.atomic():
        operation = (
            BulkReprocess.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("actor")
            .filter(pk=operation_id)
            .first()
        )
        if operation is None or operation.is_done:
            return True
        now = timezone.now()
        actor = operation.actor
        rows = scope_of(operation).rows(actor) if actor is not None else AssignmentRequest.objects.none()
        if operation.cursor is not None:
            rows = rows.filter(pk__gt=operation.cursor)
        ids = list(rows.order_by("pk").values_list("pk", flat=True)[:size])
        if ids:
            reprocess = reprocess_requests if operation.kind == BulkReprocessKind.REQUESTS else reprocess_assignments
            result = reprocess(actor, ids, now)
            operation.processed += len(ids)
            operation.queued += len(result.done)
            operation.skipped += len(result.skipped)
            reasons = dict(operation.skipped_reasons)
            for _, reason in result.skipped:
                reasons[reason] = reasons.get(reason, 0) + 1
            operation.skipped_reasons = reasons
            operation.cursor = ids[-1]
        operation.updated_at = now
        finished = len(ids) < size
        operation.state = BulkReprocessState.DONE if finished else BulkReprocessState.RUNNING
        if finished:
            operation.finished_at = now
        operation.save()
    return True if finished else None


def resume_stalled(now: datetime | None = None, stale_after: timedelta = timedelta(minutes=1)) -> int:
    """The sweeper's part: queue again operations nobody has moved for a while (the task was
    lost, or its worker killed). A second runner of a live one is harmless: the row lock
    lets one batch run at a time, and the cursor never hands out an id twice."""
    from governance import tasks

    cutoff = (now or timezone.now()) - stale_after
    stalled = list(
        BulkReprocess.objects.filter(state__in=BulkReprocessState.UNFINISHED)
        .filter(Q(updated_at__lt=cutoff) | Q(updated_at__isnull=True, created_at__lt=cutoff))
        .values_list("pk", flat=True)[:100]
    )
    for pk in stalled:
        tasks.reprocess_matching_soon(pk)
    return len(stalled)
