"""What happens once a request is approved: schedule it, or deliver it (rule 5).

Shared by submission without approval, the last approval stage, direct assignment and the
beat job that starts scheduled requests. Callers hold the request's row lock.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from governance.audit import actor_label, log_action
from governance.errors import DuplicateRequest, InvalidTransition
from governance.machines import ASSIGNMENT, REQUEST
from governance.models import (
    Assignment,
    AssignmentRequest,
    AssignmentState,
    ExtensionStage,
    RequestState,
    RequestType,
    ResourceRole,
)
from governance.models.identity import person_of
from governance.services import callouts, notifications
from governance.services.grants import complete_request_if_done, refresh_states, unwant_grants, want_roles


def request_on(
    assignment: Assignment, request_type: str, actor: Any, audit: Mapping[str, Any] | None = None, **fields: Any
) -> AssignmentRequest:
    """A new request to change ``assignment`` (extend, update, remove) by ``actor`` (None: the
    system), audited as submitted. ``fields`` add to it, or give the package, policy or target
    as objects where the caller holds them."""
    about: dict[str, Any] = {
        "package_id": assignment.package_id,
        "policy_id": assignment.policy_id,
        "target_id": assignment.target_id,
    }
    for name in ("package", "policy", "target"):
        if name in fields:
            del about[f"{name}_id"]
    request = AssignmentRequest.objects.create(
        request_type=request_type,
        assignment=assignment,
        requestor=person_of(actor),
        requestor_label=actor_label(actor),
        **about,
        **fields,
    )
    log_action(actor, "request.submitted", request, **(audit or {}))
    return request


def set_request_state(request: AssignmentRequest, transition: str, actor: Any, **audit: Any) -> bool:
    """Apply one request transition with its audit row; False when it was already done."""
    new_state = REQUEST.next_state(transition, request.state)
    if new_state is None:
        return False
    previous = request.state
    request.state = new_state
    fields = ["state", "modified_at"]
    if new_state in RequestState.COMPLETED:
        request.completed_at = timezone.now()
        fields.append("completed_at")
    request.save(update_fields=fields)
    log_action(actor, REQUEST.event(transition), request, previous=previous, state=new_state, **audit)
    return True


def approve_and_proceed(request: AssignmentRequest, actor: Any, now: datetime | None = None) -> None:
    """The request is fully approved (or needed no approval): schedule or deliver it; unless
    a custom extension of the "request is approved" stage waits for an answer (rule 16):
    then it pauses, approved and not delivering ("Waiting for <extension>"), and goes on
    with :func:`proceed_after_approval` once answered or timed out."""
    now = now or timezone.now()
    waits = callouts.fire(request, ExtensionStage.REQUEST_APPROVED)
    if waits:
        approved = request.state == RequestState.PENDING_APPROVAL
        set_request_state(request, "await_extension", actor, extensions=[call.extension_name for call in waits])
        if approved:
            notifications.request_approved(request)
        return
    proceed_after_approval(request, actor, now)


def proceed_after_approval(request: AssignmentRequest, actor: Any, now: datetime | None = None) -> None:
    """Schedule an approved request whose start is later, or deliver it now."""
    now = now or timezone.now()
    if request.request_type in RequestType.ADDS and request.schedule_start and request.schedule_start > now:
        if set_request_state(request, "schedule", actor, start=request.schedule_start.isoformat()):
            notifications.request_approved(request)
        return
    if request.state == RequestState.PENDING_APPROVAL:
        notifications.request_approved(request)
    start_delivery(request, actor, now)


def start_delivery(request: AssignmentRequest, actor: Any, now: datetime | None = None) -> None:
    now = now or timezone.now()
    set_request_state(request, "start_delivery", actor)
    if request.request_type in RequestType.ADDS:
        _deliver_add(request, actor, now)
    elif request.request_type in RequestType.UPDATES:
        _deliver_update(request, actor)
    else:
        _deliver_removal(request, actor, now)


def _deliver_add(request: AssignmentRequest, actor: Any, now: datetime) -> None:
    start = request.schedule_start if request.schedule_start and request.schedule_start > now else now
    end = request.schedule_end
    if end is None and request.policy is not None:
        end = request.policy.default_end(start)
    try:
        with transaction.atomic():
            assignment = Assignment.objects.create(
                package=request.package,
                policy=request.policy,
                target=request.target,
                state=AssignmentState.DELIVERING,
                start_at=start,
                end_at=end,
            )
    except IntegrityError as exc:
        raise DuplicateRequest(
            f"{request.target} already has an active assignment to {request.package}.",
        ) from exc
    log_action(actor, "assignment.created", assignment, request=str(request.pk), end=end)
    request.assignment = assignment
    request.save(update_fields=["assignment", "modified_at"])
    hold_package_roles(request.package_id)
    roles = ResourceRole.objects.filter(package_links__package=request.package).select_related("resource")
    want_roles(assignment, list(roles), request=request, actor=actor)
    refresh_states(assignment, actor=actor)


HOLD_PACKAGE_ROLES_SQL = "SELECT 1 FROM governance_accesspackage WHERE id = %s FOR KEY SHARE"


def hold_package_roles(package_id: Any) -> None:
    """Keep the package's resource roles from changing until this transaction commits.

    Adding or removing a role locks the package row FOR UPDATE and then propagates to the
    active assignments it can see. An assignment being created meanwhile would read the old
    roles and stay invisible to the propagation, so it would miss the change for good (found
    by the concurrency suite). FOR KEY SHARE waits for a role change in progress and makes
    the next one wait for us, but does not make deliveries of one package wait for each other.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                HOLD_PACKAGE_ROLES_SQL,
                [package_id],
            )
    # SQLite allows one writer at a time: a role change cannot interleave.


def _assignment_of(request: AssignmentRequest) -> Assignment:
    if request.assignment_id is None:
        raise InvalidTransition("This request is not about an existing assignment.")
    return Assignment.objects.select_for_update(of=("self",)).get(pk=request.assignment_id)


def _deliver_update(request: AssignmentRequest, actor: Any) -> None:
    assignment = _assignment_of(request)
    if assignment.state in AssignmentState.ACTIVE:
        previous = assignment.end_at
        # Not stored: the completion email compares it with the new end (earlier or later).
        request.previous_end = previous  # type: ignore[attr-defined]
        assignment.end_at = request.schedule_end
        assignment.save(update_fields=["end_at", "modified_at"])
        log_action(actor, "assignment.extended", assignment, previous_end=previous, end=request.schedule_end)
    complete_request_if_done(request, [], actor=actor)


def _deliver_removal(request: AssignmentRequest, actor: Any, now: datetime) -> None:
    assignment = _assignment_of(request)
    callouts.fire(request, ExtensionStage.REMOVAL_SCHEDULED)
    transition = "expire" if request.request_type == RequestType.SYSTEM_REMOVE else "remove"
    end_assignment(assignment, transition, actor, now=now, request=request)
    refresh_states(assignment, actor=actor)


def end_assignment(
    assignment: Assignment,
    transition: str,
    actor: Any,
    *,
    now: datetime,
    request: AssignmentRequest | None = None,
) -> bool:
    """Expire or remove an assignment and queue the revocation of what it granted."""
    new_state = ASSIGNMENT.next_state(transition, assignment.state)
    if new_state is None:
        return False
    previous = assignment.state
    assignment.state = new_state
    assignment.ended_at = now
    assignment.save(update_fields=["state", "ended_at", "modified_at"])
    log_action(actor, ASSIGNMENT.event(transition), assignment, previous=previous)
    unwant_grants(assignment.grants.select_for_update(of=("self",)), request=request, actor=actor)
    # A request still delivering this assignment is overtaken by its end.
    for open_request in (
        AssignmentRequest.objects.select_for_update(of=("self",))
        .filter(assignment=assignment, state=RequestState.DELIVERING)
        .exclude(pk__in=[request.pk] if request is not None else [])
    ):
        open_request.cancel_reason = f"The assignment was {new_state} before delivery completed."
        open_request.save(update_fields=["cancel_reason", "modified_at"])
        set_request_state(open_request, "supersede", actor)
    return True
