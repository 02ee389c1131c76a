"""Taking everything away from people who left: disabled or deleted in the directory.

Each active assignment ends through a ``systemRemove`` request (justification: why), so
the delivery engine revokes the access (rule 7 still applies: a grant another person's
assignment does not share is untouched, and a role another active assignment of theirs
justifies is kept until that one ends too). Their open requests are canceled, so nothing
is delivered to them later.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from governance.machines import REQUEST
from governance.models import (
    Assignment,
    AssignmentRequest,
    AssignmentState,
    RemovalReason,
    RequestState,
    RequestType,
)
from governance.services.grants import refresh_states
from governance.services.lifecycle import end_assignment, request_on, set_request_state

DISABLED_IN_DIRECTORY = "Disabled in the directory."
DELETED_FROM_DIRECTORY = "Deleted from the directory."


@dataclass
class RemovalReport:
    assignments_removed: int = 0
    requests_canceled: int = 0


def remove_all_access(user_ids: Iterable[UUID], reason: str, now: datetime | None = None) -> RemovalReport:
    """End every active assignment of these people (systemRemove) and cancel their open
    requests. Safe to run twice: the second run finds nothing active."""
    now = now or timezone.now()
    report = RemovalReport()
    ids = list(dict.fromkeys(user_ids))
    if not ids:
        return report
    for request_id in AssignmentRequest.objects.filter(
        target_id__in=ids,
        state__in=RequestState.ADMIN_CANCELABLE & RequestState.OPEN,
        request_type__in=RequestType.ADDS | RequestType.UPDATES,
    ).values_list("pk", flat=True):
        report.requests_canceled += _cancel_open_request(request_id, reason)
    for assignment_id in Assignment.objects.filter(target_id__in=ids, state__in=AssignmentState.ACTIVE).values_list(
        "pk", flat=True
    ):
        report.assignments_removed += _remove_assignment(assignment_id, reason, now)
    return report


def _cancel_open_request(request_id: UUID, reason: str) -> int:
    with transaction.atomic():
        request = AssignmentRequest.objects.select_for_update(of=("self",)).filter(pk=request_id).first()
        if request is None or not REQUEST.allows("cancel_by_admin", request.state):
            return 0
        request.cancel_reason = reason
        request.save(update_fields=["cancel_reason", "modified_at"])
        return int(set_request_state(request, "cancel_by_admin", None, reason=reason))


def _remove_assignment(assignment_id: UUID, reason: str, now: datetime) -> int:
    with transaction.atomic():
        assignment = (
            Assignment.objects.select_for_update(of=("self",))
            .select_related("package")
            .filter(pk=assignment_id, state__in=AssignmentState.ACTIVE)
            .first()
        )
        if assignment is None:
            return 0
        request = request_on(
            assignment,
            RequestType.SYSTEM_REMOVE,
            None,
            {"reason": reason},
            package=assignment.package,
            justification=reason,
            removal_reason=RemovalReason.PERSON_LEFT,
        )
        set_request_state(request, "start_delivery", None)
        # "remove", not "expire": the assignment did not reach its end, the person left.
        end_assignment(assignment, "remove", None, now=now, request=request)
        refresh_states(assignment)
        return 1
