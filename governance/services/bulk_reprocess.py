"""Reprocess all matching (DESIGN §8): a list's whole filter, 10,000 rows or more.

The click records a :class:`BulkReprocess` with its audit row and returns at once; a task
feeds the set-based reprocess functions (:mod:`governance.services.reprocess`) 1,000 ids
per transaction, moving a cursor, so a killed worker or a second runner never reprocesses
a row twice. The filter is the list's own (:mod:`governance.filters`), re-run as the
administrator who asked, as of the moment they asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import QueryDict
from django.utils import timezone
from django_filters import FilterSet

from governance.audit import actor_label, build_event
from governance.errors import ValidationFailed
from governance.filters import AllAssignmentsFilter, AllRequestsFilter, AssignmentFilter, RequestFilter
from governance.models import (
    Assignment,
    AssignmentRequest,
    AssignmentState,
    BulkReprocess,
    BulkReprocessKind,
    BulkReprocessState,
    RequestState,
)
from governance.models.identity import person_of
from governance.permissions import Action, restrict
from governance.services import dispatch
from governance.services.reprocess import reprocess_assignments, reprocess_requests

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
            if self.package_id:
                return RequestFilter(self.query, queryset=queryset, package_id=self.package_id)
            return AllRequestsFilter(self.query, queryset=queryset)
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
    matched, _ = count_matching(actor, scope)
    with transaction.atomic():
        operation = BulkReprocess.objects.create(
            kind=scope.kind,
            actor=person_of(actor),
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
            dispatch.send_on_commit(dispatch.REPROCESS_MATCHING, str(operation.pk))
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


def any_unfinished() -> bool:
    """Is a bulk reprocess queued or running? Access work, which email sending yields to."""
    return BulkReprocess.objects.filter(state__in=BulkReprocessState.UNFINISHED).exists()


def resume_stalled(now: datetime | None = None, stale_after: timedelta = timedelta(minutes=1)) -> int:
    """The sweeper's part: queue again operations nobody has moved for a while (the task was
    lost, or its worker killed). A second runner of a live one is harmless: the row lock
    lets one batch run at a time, and the cursor never hands out an id twice."""
    cutoff = (now or timezone.now()) - stale_after
    stalled = list(
        BulkReprocess.objects.filter(state__in=BulkReprocessState.UNFINISHED)
        .filter(Q(updated_at__lt=cutoff) | Q(updated_at__isnull=True, created_at__lt=cutoff))
        .values_list("pk", flat=True)[:100]
    )
    for pk in stalled:
        dispatch.send(dispatch.REPROCESS_MATCHING, str(pk))
    return len(stalled)
