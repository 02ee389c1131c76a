"""Assignments: direct assignment (seed 003), removal, update, the scheduled start,
expiry (rule 6), expiry reminders, and reprocess (rule 2)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from governance import notifications
from governance.models import (
    AccessPackage,
    Assignment,
    AssignmentRequest,
    AssignmentState,
    ExpiryReminder,
    GrantState,
    RequestState,
    RequestType,
    ResourceRole,
    User,
)
from governance.permissions import Action, get_for
from governance.services.audit import actor_label, actor_user, log_action
from governance.services.errors import (
    DomainError,
    DuplicateRequest,
    InvalidTransition,
    NotFound,
    ValidationFailed,
)
from governance.services.grants import lock_assignment, refresh_states, retry_grants, want_roles
from governance.services.lifecycle import approve_and_proceed, set_request_state, start_delivery
from governance.services.requests import BulkResult, is_uuid, refuse_duplicate, validate_period


def create_direct_assignments(
    actor: Any,
    package_id: UUID | str,
    *,
    policy_id: UUID | str | None,
    target_ids: Iterable[UUID | str],
    start: datetime | None = None,
    end: datetime | None = None,
    justification: str = "",
) -> list[AssignmentRequest]:
    """New assignment: an administrator assigns people through an admin-direct policy.

    All or nothing: one person already assigned refuses the whole set, naming them.
    """
    if not is_uuid(package_id):
        raise NotFound("Access package not found.")
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
        requests = []
        try:
            with transaction.atomic():
                for target in targets:
                    request = AssignmentRequest.objects.create(
                        request_type=RequestType.ADMIN_ADD,
                        package=package,
                        policy=policy,
                        target=target,
                        requestor=actor_user(actor),
                        requestor_label=actor_label(actor),
                        justification=(justification or "").strip(),
                        schedule_start=start,
                        schedule_end=end,
                    )
                    log_action(actor, "request.submitted", request)
                    approve_and_proceed(request, actor, now)
                    requests.append(request)
        except IntegrityError as exc:
            raise DuplicateRequest("Someone else assigned one of these users at the same time; try again.") from exc
    return requests


def remove_assignment(actor: Any, assignment_id: UUID | str, justification: str = "") -> AssignmentRequest | None:
    """An administrator removes an assignment (adminRemove). Removing twice is a no-op."""
    if not is_uuid(assignment_id):
        raise NotFound("Assignment not found.")
    with transaction.atomic():
        assignment = get_for(
            actor, Action.ASSIGN, Assignment.objects.select_for_update(of=("self",)), assignment_id, "assignment"
        )
        if assignment.state == AssignmentState.REMOVED:
            return None
        if assignment.state not in AssignmentState.ACTIVE:
            raise InvalidTransition(f"This assignment is already {assignment.get_state_display().lower()}.")
        request = AssignmentRequest.objects.create(
            request_type=RequestType.ADMIN_REMOVE,
            package_id=assignment.package_id,
            policy_id=assignment.policy_id,
            assignment=assignment,
            target_id=assignment.target_id,
            requestor=actor_user(actor),
            requestor_label=actor_label(actor),
            justification=(justification or "").strip(),
        )
        log_action(actor, "request.submitted", request)
        start_delivery(request, actor)
    return request


def update_assignment_end(actor: Any, assignment_id: UUID | str, end: datetime | None) -> AssignmentRequest:
    """An administrator changes when an assignment ends (adminUpdate)."""
    if not is_uuid(assignment_id):
        raise NotFound("Assignment not found.")
    now = timezone.now()
    if end is not None and end <= now:
        raise ValidationFailed("The end must be in the future.", field="end")
    with transaction.atomic():
        assignment = get_for(
            actor, Action.ASSIGN, Assignment.objects.select_for_update(of=("self",)), assignment_id, "assignment"
        )
        if assignment.state not in AssignmentState.ACTIVE:
            raise InvalidTransition("Only an active assignment can be changed.")
        request = AssignmentRequest.objects.create(
            request_type=RequestType.ADMIN_UPDATE,
            package_id=assignment.package_id,
            policy_id=assignment.policy_id,
            assignment=assignment,
            target_id=assignment.target_id,
            requestor=actor_user(actor),
            requestor_label=actor_label(actor),
            schedule_end=end,
        )
        log_action(actor, "request.submitted", request)
        start_delivery(request, actor, now)
    return request


# --- Beat jobs ------------------------------------------------------------------------


def start_scheduled_request(request_id: UUID, now: datetime | None = None) -> bool:
    """Rule 5: a scheduled request whose start has come begins delivery."""
    now = now or timezone.now()
    with transaction.atomic():
        request = (
            AssignmentRequest.objects.select_for_update(of=("self",))
            .select_related("policy", "package", "target")
            .filter(pk=request_id, state=RequestState.SCHEDULED, schedule_start__lte=now)
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
        AssignmentRequest.objects.filter(state=RequestState.SCHEDULED, schedule_start__lte=now).values_list(
            "pk", flat=True
        )[:limit]
    )
    return sum(1 for pk in due if start_scheduled_request(pk, now))


def expire_assignment(assignment_id: UUID, now: datetime | None = None) -> bool:
    """Rule 6: at its end an assignment expires and its grants are revoked (rule 7 applies)."""
    now = now or timezone.now()
    with transaction.atomic():
        assignment = (
            Assignment.objects.select_for_update(of=("self",))
            .filter(pk=assignment_id, state__in=AssignmentState.ACTIVE, end_at__lte=now)
            .first()
        )
        if assignment is None:
            return False
        request = AssignmentRequest.objects.create(
            request_type=RequestType.SYSTEM_REMOVE,
            package_id=assignment.package_id,
            policy_id=assignment.policy_id,
            assignment=assignment,
            target_id=assignment.target_id,
            requestor_label="system",
            justification="The assignment reached its end date.",
        )
        log_action(None, "request.submitted", request)
        start_delivery(request, None, now)
        return True


def expire_due_assignments(now: datetime | None = None, limit: int = 5000) -> int:
    now = now or timezone.now()
    due = list(
        Assignment.objects.filter(state__in=AssignmentState.ACTIVE, end_at__lte=now).values_list("pk", flat=True)[
            :limit
        ]
    )
    return sum(1 for pk in due if expire_assignment(pk, now))


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
                notifications.expiry_reminder(assignment, days, extend_allowed=True)
                log_action(None, "assignment.reminder_sent", assignment, days_before=days)
                sent += 1
    return sent


# --- Reprocess (rule 2) ---------------------------------------------------------------


def reprocess_assignment(actor: Any, assignment_id: UUID | str) -> Assignment:
    """Re-check the target for every role the assignment should grant and grant what is
    missing; the state then follows what is really there."""
    if not is_uuid(assignment_id):
        raise NotFound("Assignment not found.")
    with transaction.atomic():
        found = get_for(actor, Action.REPROCESS, Assignment.objects.all(), assignment_id, "assignment")
        assignment = lock_assignment(found.pk)
        if assignment.state not in AssignmentState.ACTIVE:
            raise InvalidTransition(
                f"Only active assignments can be reprocessed; this one is {assignment.get_state_display().lower()}."
            )
        roles = list(ResourceRole.objects.filter(package_links__package_id=assignment.package_id))
        want_roles(assignment, roles, actor=actor)
        recheck = assignment.grants.filter(
            state__in=[GrantState.GRANTED, GrantState.FAILED, GrantState.DRIFTED]
        ).select_related("assignment")
        retry_grants(recheck, actor=actor)
        log_action(actor, "assignment.reprocessed", assignment)
        refresh_states(assignment, actor=actor)
    return assignment


def reprocess_assignments(actor: Any, assignment_ids: Iterable[UUID | str]) -> BulkResult:
    result = BulkResult()
    for assignment_id in dict.fromkeys(str(pk) for pk in assignment_ids):
        try:
            assignment = reprocess_assignment(actor, assignment_id)
        except DomainError as exc:
            result.skipped.append((assignment_id, exc.message))
        else:
            result.done.append(assignment.pk)
    return result
