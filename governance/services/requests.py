"""Requests: submit (rules 5, 11, 12), cancel (rule 3), reprocess (rule 1), extend, remove."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from governance.audit import actor_label, log_action, person_label
from governance.errors import (
    DuplicateRequest,
    InvalidTransition,
    NotAllowed,
    NotFound,
    ValidationFailed,
)
from governance.ids import is_uuid
from governance.machines import REQUEST
from governance.models import (
    AccessPackage,
    Assignment,
    AssignmentPolicy,
    AssignmentRequest,
    AssignmentState,
    ExpirationType,
    ExtensionStage,
    RequestState,
    RequestType,
    User,
)
from governance.models.identity import person_of
from governance.permissions import (
    Action,
    CancelAs,
    cancel_as,
    own_assignments,
    own_requests,
    visible_requests,
)
from governance.services import callouts, notifications
from governance.services.approvals import enter_stage
from governance.services.grants import lock_assignment, refresh_states
from governance.services.lifecycle import (
    approve_and_proceed,
    end_assignment,
    request_on,
    set_request_state,
    start_delivery,
)
from governance.services.locks import lock_for
from governance.services.questions import AnswerSpec, check_answers, record_answers
from governance.services.reprocess import BulkResult, check_reprocessable, is_reprocessable, reprocess_requests
from governance.services.separation import refuse_incompatible
from governance.services.text import clean_text
from governance.services.wording import local_time

__all__ = [
    "BulkResult",
    "check_reprocessable",
    "is_reprocessable",
    "reprocess_request",
    "reprocess_requests",
]

# A start chosen as "today" in a form is a little in the past by the time it is submitted.
START_TOLERANCE = timedelta(days=1)


# Stored as the cancel reason; pages and emails translate it when they show it.
CANCELED_BY_REQUESTOR = gettext_noop("Canceled by the requestor.")


def _local(value: datetime) -> str:
    return local_time(value)


def validate_period(
    policy: AssignmentPolicy,
    start: datetime | None,
    end: datetime | None,
    now: datetime,
    *,
    requested: bool = True,
) -> tuple[datetime | None, datetime | None]:
    """Rule 5: a requested period must fit the policy. Returns (start or None for now, end)."""
    if requested and (start or end) and not policy.allow_custom_schedule:
        raise ValidationFailed(_("This policy does not let you request a specific period."), field="start")
    if start is not None:
        if start < now - START_TOLERANCE:
            raise ValidationFailed(_("The start cannot be in the past."), field="start")
        if start <= now:
            start = None
    effective_start = start or now
    if (
        policy.expiration_type == ExpirationType.ON_DATE
        and policy.expiration_date
        and effective_start >= policy.expiration_date
    ):
        raise ValidationFailed(
            _("This policy ends all access on %(at)s; choose an earlier start.")
            % {"at": _local(policy.expiration_date)},
            field="start",
        )
    if end is not None:
        if end <= effective_start:
            raise ValidationFailed(_("The end must be after the start."), field="end")
        latest = policy.latest_end(effective_start)
        if requested and latest is not None and end > latest:
            raise ValidationFailed(
                _("This policy grants access %(period)s: the end can be %(at)s at the latest.")
                % {"period": policy.describe_expiration(), "at": _local(latest)},
                field="end",
            )
    return start, end


def refuse_duplicate(target: User, package: AccessPackage, *, as_self: bool = True) -> None:
    """Rule 12: an active assignment or an open request for the same package."""
    assignment = Assignment.objects.active_for(target, package).only("pk").first()
    if assignment is not None:
        names = {"person": target, "package": package, "id": assignment.pk}
        raise DuplicateRequest(
            _("You already have access to %(package)s (assignment %(id)s).") % names
            if as_self
            else _("%(person)s already has access to %(package)s (assignment %(id)s).") % names,
            field="users" if not as_self else None,
            assignment_id=assignment.pk,
        )
    request = AssignmentRequest.objects.open_adds(target, package).only("pk", "state").first()
    if request is not None:
        names = {"person": target, "package": package, "state": request.get_state_display()}
        raise DuplicateRequest(
            _("You already have an open request for %(package)s (%(state)s).") % names
            if as_self
            else _("%(person)s already has an open request for %(package)s (%(state)s).") % names,
            field="users" if not as_self else None,
            request_id=request.pk,
        )


def _choose_policy(user: User, package: AccessPackage, policy_id: UUID | str | None) -> AssignmentPolicy:
    policies = list(package.policies.requestable_by(user))
    if not policies:
        # Rule 11: nothing lets this person request it, so for them it does not exist.
        raise NotFound("Access package not found.")
    if policy_id in (None, ""):
        if len(policies) > 1:
            raise ValidationFailed(_("Several policies let you request this package: choose one."), field="policy")
        return policies[0]
    for policy in policies:
        if str(policy.pk) == str(policy_id):
            return policy
    known = AssignmentPolicy.objects.filter(pk=policy_id, package=package).first() if is_uuid(policy_id) else None
    if known is not None and not known.enabled:
        raise ValidationFailed(_("This policy no longer accepts requests."), field="policy")
    raise ValidationFailed(_("This policy does not let you request this package."), field="policy")


def _check_approvers_exist(policy: AssignmentPolicy, target: User, requestor: User | None) -> None:
    probe = AssignmentRequest(target=target, requestor=requestor, policy=policy)
    for stage in policy.current_stages().prefetch_related("approvers"):
        if not probe.stage_approver_ids(stage):
            raise ValidationFailed(
                _("Nobody can approve stage %(stage)s of this policy for you; please contact the package's manager.")
                % {"stage": stage.order},
                field="policy",
            )


def submit_request(
    actor: Any,
    package_id: UUID | str,
    *,
    policy_id: UUID | str | None = None,
    justification: str = "",
    start: datetime | None = None,
    end: datetime | None = None,
    sent_schedule: dict[str, Any] | None = None,
    answers: Sequence[AnswerSpec] = (),
) -> AssignmentRequest:
    """A person requests a package for themselves (userAdd), answering the policy's
    questions (rule 15). ``sent_schedule`` is the API client's schedule as sent, kept only
    to answer it back."""
    user = person_of(actor)
    if user is None:
        raise NotAllowed(_("Only a person can request access for themselves."))
    package = AccessPackage.objects.filter(pk=package_id).first() if is_uuid(package_id) else None
    if package is None:
        raise NotFound("Access package not found.")
    policy = _choose_policy(user, package, policy_id)
    justification = clean_text(justification, "justification")
    if policy.requestor_justification_required and not justification:
        raise ValidationFailed(_("A business justification is required."), field="justification")
    checked = check_answers(policy, answers)
    now = timezone.now()
    start, end = validate_period(policy, start, end, now)
    if policy.requires_approval:
        _check_approvers_exist(policy, user, user)

    try:
        with transaction.atomic():
            refuse_duplicate(user, package)
            refuse_incompatible(user, package)
            request = AssignmentRequest.objects.create(
                request_type=RequestType.USER_ADD,
                state=RequestState.SUBMITTED,
                package=package,
                policy=policy,
                target=user,
                requestor=user,
                requestor_label=actor_label(actor),
                justification=justification,
                schedule_start=start,
                schedule_end=end,
                sent_schedule=sent_schedule,
                stage_generation=policy.stage_generation,
            )
            log_action(actor, "request.submitted", request, policy=str(policy.pk), answers=len(checked))
            record_answers(request, checked)
            if not callouts.fire(request, ExtensionStage.REQUEST_CREATED):
                route_submitted(request, policy, actor)
    except IntegrityError as exc:
        # Another submission for the same person and package won the race (rule 12).
        refuse_duplicate(user, package)
        raise DuplicateRequest(_("You already have an open request for %(package)s.") % {"package": package}) from exc
    return request


def route_submitted(request: AssignmentRequest, policy: AssignmentPolicy, actor: Any) -> None:
    """After submission (and any custom extension it waited for): first approval stage, or
    straight on."""
    first_stage = policy.current_stages().first() if policy.requires_approval else None
    if first_stage is not None:
        set_request_state(request, "await_approval", actor)
        enter_stage(request, first_stage, actor)
        notifications.request_submitted(request, [])
    else:
        approve_and_proceed(request, actor)


def reprocess_window_ends(request: AssignmentRequest) -> datetime | None:
    """When rule 1 stops letting an administrator retry a failed request (None: not failed)."""
    if request.state not in RequestState.REPROCESSABLE or request.completed_at is None:
        return None
    return request.completed_at + timedelta(days=settings.REPROCESS_WINDOW_DAYS)


def requestor_may_cancel(request: AssignmentRequest, now: datetime | None = None) -> bool:
    """Rule 3 for the requestor: pending approval, or failed and past the reprocess window."""
    if request.state == RequestState.PENDING_APPROVAL:
        return True
    window_end = reprocess_window_ends(request)
    return window_end is not None and window_end <= (now or timezone.now())


def cancel_request_as_requestor(actor: Any, request_id: UUID | str) -> AssignmentRequest:
    """Rule 3: the requestor may cancel while it is pending approval, and a Delivery failed
    or Partially delivered request once the reprocess window has passed, so that they can
    request again (seed 001); what was partially delivered is revoked."""
    user = person_of(actor)
    if user is None or not is_uuid(request_id):
        raise NotFound("Request not found.")
    now = timezone.now()
    with transaction.atomic():
        request = own_requests(user).select_for_update(of=("self",)).filter(pk=request_id).first()
        if request is None:
            raise NotFound("Request not found.")
        if REQUEST.next_state("cancel_by_requestor", request.state) is None:
            return request
        window_end = reprocess_window_ends(request)
        if window_end is not None and window_end > now:
            raise InvalidTransition(
                _(
                    "An administrator can still reprocess this request until %(at)s; "
                    "you can cancel it and request again after that."
                )
                % {"at": _local(window_end)},
                state=request.state,
                transition="cancel_by_requestor",
            )
        request.cancel_reason = CANCELED_BY_REQUESTOR
        request.save(update_fields=["cancel_reason", "modified_at"])
        set_request_state(request, "cancel_by_requestor", actor)
        if request.assignment_id and request.request_type in RequestType.ADDS:
            # Canceling never leaves access behind: whatever was delivered is revoked.
            assignment = lock_assignment(request.assignment_id)
            end_assignment(assignment, "remove", actor, now=now)
            refresh_states(assignment, actor=actor)
        notifications.request_canceled(request)
    return request


def cancel_request_as_admin(actor: Any, request_id: UUID | str, reason: str = "") -> AssignmentRequest:
    """Rule 3: an administrator cancels anything not yet delivered; no access stays behind."""
    if not is_uuid(request_id):
        raise NotFound("Request not found.")
    reason = clean_text(reason, "reason")
    with transaction.atomic():
        request: AssignmentRequest = lock_for(actor, Action.CANCEL, AssignmentRequest.objects, request_id, "request")
        if REQUEST.next_state("cancel_by_admin", request.state) is None:
            return request
        request.cancel_reason = reason or f"Canceled by {person_label(actor)}."
        request.save(update_fields=["cancel_reason", "modified_at"])
        set_request_state(request, "cancel_by_admin", actor)
        if request.assignment_id and request.request_type in RequestType.ADDS:
            assignment = lock_assignment(request.assignment_id)
            end_assignment(assignment, "remove", actor, now=timezone.now())
            refresh_states(assignment, actor=actor)
        notifications.request_canceled(request)
    return request


def cancel_request(actor: Any, request_id: UUID | str, reason: str = "") -> AssignmentRequest:
    """Rule 3 as the actor may (the API's one cancel): an administrator's cancel where its
    roles allow it, else the requestor's on their own request (:func:`permissions.cancel_as`)."""
    found = visible_requests(actor).filter(pk=request_id).first() if is_uuid(request_id) else None
    if found is None:
        raise NotFound("Request not found.")
    capacity = cancel_as(actor, found)
    if capacity is CancelAs.ADMIN:
        return cancel_request_as_admin(actor, found.pk, reason)
    if capacity is CancelAs.REQUESTOR:
        return cancel_request_as_requestor(actor, found.pk)
    raise NotAllowed(_("You may not cancel this request."))


def reprocess_request(actor: Any, request_id: UUID | str, now: datetime | None = None) -> AssignmentRequest:
    """Rule 1 for one request: retry its failed grants, within the reprocess window."""
    result = reprocess_requests(actor, [request_id], now)
    result.raise_first()
    return AssignmentRequest.objects.get(pk=result.done[0])


def request_extension(
    actor: Any,
    assignment_id: UUID | str,
    *,
    justification: str = "",
    end: datetime | None = None,
) -> AssignmentRequest:
    """Extend one's own active assignment (userExtend), with approval when the policy says so."""
    user = person_of(actor)
    if user is None or not is_uuid(assignment_id):
        raise NotFound("Assignment not found.")
    justification = clean_text(justification, "justification")
    now = timezone.now()
    with transaction.atomic():
        assignment = (
            own_assignments(user)
            .select_for_update(of=("self",))
            .select_related("policy", "package")
            .filter(pk=assignment_id)
            .first()
        )
        if assignment is None:
            raise NotFound("Assignment not found.")
        if assignment.state not in AssignmentState.ACTIVE:
            raise InvalidTransition(_("Only active access can be extended."))
        policy = assignment.policy
        if policy is None or not policy.allow_extension:
            raise NotAllowed(_("This access package's policy does not allow extensions."))
        if not policy.enabled:
            raise ValidationFailed(_("This access package's policy no longer accepts requests."))
        if not AssignmentPolicy.objects.requestable_by(user).filter(pk=policy.pk).exists():
            # DESIGN §11: the person must still be someone the policy lets request the package.
            raise NotAllowed(
                _(
                    "The policy %(policy)s no longer lets you request %(package)s, so this access cannot be "
                    "extended. Ask the package's manager if you still need it."
                )
                % {"policy": policy, "package": assignment.package}
            )
        if policy.requestor_justification_required and not justification:
            raise ValidationFailed(_("A business justification is required."), field="justification")
        new_end = _extended_end(policy, assignment, end, now)
        pending = AssignmentRequest.objects.filter(
            assignment=assignment, request_type=RequestType.USER_EXTEND, state__in=RequestState.OPEN
        ).first()
        if pending is not None:
            raise DuplicateRequest(
                _("You already asked to extend this access (%(state)s).") % {"state": pending.get_state_display()},
                request_id=pending.pk,
            )
        request = request_on(
            assignment,
            RequestType.USER_EXTEND,
            actor,
            {"end": new_end},
            package=assignment.package,
            policy=policy,
            target=user,
            justification=justification,
            schedule_end=new_end,
            stage_generation=policy.stage_generation,
        )
        if policy.extension_requires_approval:
            _check_approvers_exist(policy, user, user)
            first_stage = policy.current_stages().first()
            if first_stage is None:
                raise ValidationFailed(_("This policy requires approval to extend but has no approvers."))
            set_request_state(request, "await_approval", actor)
            enter_stage(request, first_stage, actor)
        else:
            start_delivery(request, actor, now)
    return request


def _extended_end(policy: AssignmentPolicy, assignment: Assignment, end: datetime | None, now: datetime) -> datetime:
    if assignment.end_at is None:
        raise ValidationFailed(_("This access does not expire; there is nothing to extend."))
    if end is not None:
        if not policy.allow_custom_schedule:
            raise ValidationFailed(_("This policy does not let you choose the end."), field="end")
        latest = policy.latest_end(now)
        if end <= assignment.end_at:
            raise ValidationFailed(_("The new end must be after the current end."), field="end")
        if latest is not None and end > latest:
            raise ValidationFailed(
                _("This policy grants access %(period)s: the end can be %(at)s at the latest.")
                % {"period": policy.describe_expiration(), "at": _local(latest)},
                field="end",
            )
        return end
    new_end = policy.latest_end(now)
    if new_end is None:
        raise ValidationFailed(_("This policy has no end to extend to."))
    if new_end <= assignment.end_at:
        raise ValidationFailed(
            _("Your access already lasts until %(at)s, as long as this policy allows.")
            % {"at": _local(assignment.end_at)}
        )
    return new_end


def request_removal(actor: Any, assignment_id: UUID | str, justification: str = "") -> AssignmentRequest:
    """A person gives up their own access (userRemove)."""
    user = person_of(actor)
    if user is None or not is_uuid(assignment_id):
        raise NotFound("Assignment not found.")
    justification = clean_text(justification, "justification")
    with transaction.atomic():
        assignment = own_assignments(user).select_for_update(of=("self",)).filter(pk=assignment_id).first()
        if assignment is None:
            raise NotFound("Assignment not found.")
        if assignment.state not in AssignmentState.ACTIVE:
            raise InvalidTransition(_("This access has already ended."))
        if assignment.policy is not None and not assignment.policy.allow_self_removal:
            raise NotAllowed(_("This access package's policy does not let you remove your own access."))
        request = request_on(assignment, RequestType.USER_REMOVE, actor, target=user, justification=justification)
        start_delivery(request, actor)
    return request
