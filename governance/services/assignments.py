"""Assignments: direct assignment (seed 003), removal, update, the scheduled start,
expiry (rule 6), expiry reminders, and reprocess (rule 2)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from governance.audit import actor_label, log_action
from governance.errors import (
    DomainError,
    DuplicateRequest,
    IncompatibleAccess,
    InvalidTransition,
    NotFound,
    ValidationFailed,
)
from governance.ids import is_uuid
from governance.machines import ASSIGNMENT
from governance.models import (
    AccessPackage,
    Assignment,
    AssignmentRequest,
    AssignmentState,
    ExpiryReminder,
    ExtensionStage,
    RemovalReason,
    RequestAnswer,
    RequestState,
    RequestType,
    User,
)
from governance.models.identity import person_of
from governance.permissions import Action, get_for
from governance.services import callouts, endings, notifications
from governance.services.endings import end_in_bulk
from governance.services.grants import read_assignments
from governance.services.lifecycle import approve_and_proceed, request_on, set_request_state, start_delivery
from governance.services.locks import lock_for
from governance.services.questions import AnswerSpec, check_answers, record_answers
from governance.services.reprocess import BulkResult, reprocess_assignments
from governance.services.requests import refuse_duplicate, validate_period
from governance.services.separation import conflicts_of
from governance.services.text import clean_text

__all__ = ["end_in_bulk", "reprocess_assignment", "reprocess_assignments"]


def create_direct_assignments(
    actor: Any,
    package_id: UUID | str,
    *,
    policy_id: UUID | str | None,
    target_ids: Iterable[UUID | str],
    start: datetime | None = None,
    end: datetime | None = None,
    justification: str = "",
    sent_schedule: dict[str, Any] | None = None,
) -> list[AssignmentRequest]:
    """New assignment: an administrator assigns people through an admin-direct policy.

    All or nothing: one person already assigned refuses the whole set, naming them.
    """
    if not is_uuid(package_id):
        raise NotFound("Access package not found.")
    justification = clean_text(justification, "justification")
    ids = list(dict.fromkeys(str(pk) for pk in target_ids if pk))
    if not ids:
        raise ValidationFailed("Select at least one user.", field="users")
    if not all(is_uuid(pk) for pk in ids):
        raise ValidationFailed("Some selected users do not exist.", field="users")
    now = timezone.now()
    with transaction.atomic():
        package: AccessPackage = get_for(
            actor, Action.ASSIGN, AccessPackage.objects.all(), package_id, "access package"
        )
        policy = package.policies.filter(pk=policy_id).first() if policy_id and is_uuid(policy_id) else None
        if policy is None:
            raise ValidationFailed("Choose one of this package's policies.", field="policy")
        if not policy.is_admin_direct:
            raise ValidationFailed(
                'Direct assignment uses a policy set to "No one (admin direct assignment only)".', field="policy"
            )
        if not policy.enabled:
            raise ValidationFailed("This policy is disabled.", field="policy")
        start, end = validate_period(policy, start, end, now, requested=False)
        targets = list(User.objects.filter(pk__in=ids, is_active=True).order_by("username"))
        if len(targets) != len(ids):
            raise ValidationFailed("Some selected users do not exist or are disabled.", field="users")
        problems = []
        for target in targets:
            try:
                refuse_duplicate(target, package, as_self=False)
            except DuplicateRequest:
                problems.append(str(target))
        if problems:
            raise DuplicateRequest(f"Already assigned or with an open request: {', '.join(problems)}.", field="users")
        _refuse_incompatible(targets, package)
        requests = []
        try:
            with transaction.atomic():
                for target in targets:
                    request = AssignmentRequest.objects.create(
                        request_type=RequestType.ADMIN_ADD,
                        package=package,
                        policy=policy,
                        target=target,
                        requestor=person_of(actor),
                        requestor_label=actor_label(actor),
                        justification=justification,
                        schedule_start=start,
                        schedule_end=end,
                        sent_schedule=sent_schedule,
                    )
                    log_action(actor, "request.submitted", request)
                    if not callouts.fire(request, ExtensionStage.REQUEST_CREATED):
                        approve_and_proceed(request, actor, now)
                    requests.append(request)
        except IntegrityError as exc:
            raise DuplicateRequest("Someone else assigned one of these users at the same time; try again.") from exc
    return requests


def _refuse_incompatible(targets: list[User], package: AccessPackage) -> None:
    """Rule 13: every person refused, each with the conflict named."""
    conflicts = conflicts_of(targets, package)
    if conflicts:
        raise IncompatibleAccess(
            " ".join(found[0].message(target) for target, found in conflicts.items()),
            field="users",
            conflicts=[c.other for found in conflicts.values() for c in found],
        )


def remove_assignment(actor: Any, assignment_id: UUID | str, justification: str = "") -> AssignmentRequest | None:
    """An administrator removes an assignment (adminRemove). Removing twice is a no-op."""
    if not is_uuid(assignment_id):
        raise NotFound("Assignment not found.")
    justification = clean_text(justification, "justification")
    with transaction.atomic():
        assignment = lock_for(actor, Action.ASSIGN, Assignment.objects, assignment_id, "assignment")
        if assignment.state == AssignmentState.REMOVED:
            return None
        if assignment.state not in AssignmentState.ACTIVE:
            raise InvalidTransition(f"This assignment is already {assignment.get_state_display().lower()}.")
        request = request_on(assignment, RequestType.ADMIN_REMOVE, actor, justification=justification)
        start_delivery(request, actor)
    return request


# Bulk Remove works on the rows ticked in a list (a page holds 50); more is a mistake.
MAX_BULK_REMOVE = 500


def remove_assignments(actor: Any, assignment_ids: Iterable[UUID | str], justification: str = "") -> BulkResult:
    """Bulk Remove (issue 14 item 5): each assignment removed exactly as one is (its own
    adminRemove request and audit rows; the workers take the access away), so the click
    returns once the removals are queued. What cannot be removed is skipped with the reason."""
    ids = list(dict.fromkeys(str(pk) for pk in assignment_ids))
    if len(ids) > MAX_BULK_REMOVE:
        raise ValidationFailed(f"Remove at most {MAX_BULK_REMOVE} assignments at once.")
    justification = clean_text(justification, "justification")
    result = BulkResult()
    for assignment_id in ids:
        try:
            removal = remove_assignment(actor, assignment_id, justification)
        except DomainError as error:
            result.skip(assignment_id, error)
            continue
        if removal is None or removal.assignment_id is None:
            result.skip(assignment_id, InvalidTransition("already removed"))
        else:
            result.done.append(removal.assignment_id)
    return result


def update_assignment_end(
    actor: Any,
    assignment_id: UUID | str,
    end: datetime | None,
    *,
    answers: Sequence[AnswerSpec] | None = None,
    keep_end: bool = False,
) -> AssignmentRequest:
    """An administrator changes when an assignment ends (adminUpdate), or (``answers``,
    with ``keep_end``) the answers it was requested with: a new request carries them, and
    the answers of earlier requests stay as they were (rule 15)."""
    if not is_uuid(assignment_id):
        raise NotFound("Assignment not found.")
    now = timezone.now()
    if not keep_end and end is not None and end <= now:
        raise ValidationFailed("The end must be in the future.", field="end")
    with transaction.atomic():
        assignment = lock_for(actor, Action.ASSIGN, Assignment.objects, assignment_id, "assignment")
        if assignment.state not in AssignmentState.ACTIVE:
            raise InvalidTransition("Only an active assignment can be changed.")
        checked = []
        if answers is not None:
            if assignment.policy is None:
                raise ValidationFailed("This assignment's policy was deleted: it has no questions.", field="answers")
            checked = check_answers(assignment.policy, answers, previous=current_answers(assignment), admin_update=True)
        request = request_on(
            assignment, RequestType.ADMIN_UPDATE, actor, schedule_end=assignment.end_at if keep_end else end
        )
        record_answers(request, checked)
        start_delivery(request, actor, now)
    return request


def current_answers(assignment: Assignment) -> list[RequestAnswer]:
    """The answers of the latest request of this assignment that carried any."""
    latest = (
        AssignmentRequest.objects.filter(assignment=assignment, answers__isnull=False)
        .order_by("-created_at")
        .values_list("pk", flat=True)
        .first()
    )
    return list(RequestAnswer.objects.filter(request_id=latest).order_by("sequence")) if latest else []


# --- Beat jobs ------------------------------------------------------------------------


def start_scheduled_request(request_id: UUID, now: datetime | None = None) -> bool:
    """Rule 5: a scheduled request whose start has come begins delivery."""
    now = now or timezone.now()
    with transaction.atomic():
        request = (
            AssignmentRequest.objects.select_for_update(of=("self",))
            .select_related("policy", "package", "target")
            .filter(pk=request_id, state=RequestState.SCHEDULED, schedule_start__lte=now)
            .exclude(callouts.waiting())  # approved, still waiting for a custom extension
            .first()
        )
        if request is None:
            return False
        try:
            with transaction.atomic():
                start_delivery(request, None, now)
        except DuplicateRequest as exc:
            # The person got the package another way meanwhile: nothing left to deliver.
            request.refresh_from_db()
            request.cancel_reason = exc.message
            request.save(update_fields=["cancel_reason", "modified_at"])
            set_request_state(request, "cancel_by_admin", None)
        return True


def start_due_requests(now: datetime | None = None, limit: int = 1000) -> int:
    now = now or timezone.now()
    due = list(
        AssignmentRequest.objects.filter(state=RequestState.SCHEDULED, schedule_start__lte=now)
        .exclude(callouts.waiting())
        .values_list("pk", flat=True)[:limit]
    )
    return sum(1 for pk in due if start_scheduled_request(pk, now))


EXPIRY_BATCH = 1000
EXPIRY_REASON = "The assignment reached its end date."


def expire_assignment(assignment_id: UUID, now: datetime | None = None) -> bool:
    """Rule 6 for one assignment (the batch below, limited to it)."""
    return _expire_batch(now or timezone.now(), 1, pk=assignment_id) == 1


def expire_due_assignments(now: datetime | None = None, batch_size: int = EXPIRY_BATCH) -> int:
    """Rule 6: every active assignment whose end has come expires; its grants go to be
    revoked (rule 7 is decided by the worker). Set-based, in batches of ``batch_size``."""
    now = now or timezone.now()
    total = 0
    while expired := _expire_batch(now, batch_size):
        total += expired
    if total >= endings.STATISTICS_AFTER:
        endings.refresh_grant_statistics()
    return total


def _expire_batch(now: datetime, batch_size: int, **only: Any) -> int:
    with transaction.atomic():
        batch = read_assignments(
            Assignment.objects.select_for_update(skip_locked=True, of=("self",))
            .due_for_expiry(now)
            .filter(state__in=ASSIGNMENT.sources_of("expire"), **only)[:batch_size]
        )
        if not batch:
            return 0
        end_in_bulk(batch, "expire", EXPIRY_REASON, now, removal_reason=RemovalReason.EXPIRY)
        return len(batch)


def days_left(end: datetime, now: datetime) -> int:
    """Whole days until ``end``, counting a part day as one (an end in 9 days 23 hours is 10)."""
    return max(1, math.ceil((end - now).total_seconds() / 86400))


def send_expiry_reminders(now: datetime | None = None) -> int:
    """Rule 6: 14 and 1 days before the end, when extensions are allowed; never twice."""
    now = now or timezone.now()
    sent = 0
    windows = sorted(settings.EXPIRY_REMINDER_DAYS)
    for index, days in enumerate(windows):
        lower = timedelta(days=windows[index - 1]) if index else timedelta(0)
        due = Assignment.objects.filter(
            state__in=AssignmentState.ACTIVE,
            policy__allow_extension=True,
            end_at__gt=now + lower,
            end_at__lte=now + timedelta(days=days),
        ).select_related("package", "target", "policy")
        for assignment in due.iterator(chunk_size=500):
            assert assignment.end_at is not None
            with transaction.atomic():
                try:
                    with transaction.atomic():
                        ExpiryReminder.objects.create(assignment=assignment, days_before=days, end_at=assignment.end_at)
                except IntegrityError:
                    continue
                # The window is when to remind; the email says how many days are really left.
                notifications.expiry_reminder(assignment, days_left(assignment.end_at, now), extend_allowed=True)
                log_action(None, "assignment.reminder_sent", assignment, days_before=days)
                sent += 1
    return sent


# --- Reprocess (rule 2) ---------------------------------------------------------------


def reprocess_assignment(actor: Any, assignment_id: UUID | str) -> Assignment:
    """Rule 2 for one assignment: re-check the target and grant what is missing."""
    result = reprocess_assignments(actor, [assignment_id])
    result.raise_first()
    return Assignment.objects.get(pk=result.done[0])
