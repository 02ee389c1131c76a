"""Who is told what, by email (DESIGN §6).

Services call these inside their transaction. Each call renders its message into the
outbox now, so what is sent is what was true at the change; a worker sends it after the
commit and the outbox sweeper retries what failed. A broken mail server never blocks a
request.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.template.loader import render_to_string

from governance.models import (
    AccessPackage,
    ApprovalDecision,
    Assignment,
    AssignmentRequest,
    OutboundEmail,
    RequestState,
    RequestType,
    User,
)


def absolute(path: str) -> str:
    return f"{settings.SITE_URL}{path}"


def request_link(request: AssignmentRequest) -> str:
    return absolute(f"/myaccess/requests/{request.pk}/")


def package_link(package: AccessPackage) -> str:
    return absolute(f"/myaccess/packages/{package.pk}/")


def compose(
    kind: str,
    recipient: User,
    context: dict[str, Any],
    *,
    request: AssignmentRequest | None = None,
    assignment: Assignment | None = None,
) -> OutboundEmail | None:
    """Render ``emails/<kind>.txt`` (first line: the subject) into the outbox."""
    if not recipient.email or not recipient.is_active:
        return None
    rendered = render_to_string(
        f"emails/{kind}.txt",
        {"recipient": recipient, "site_url": settings.SITE_URL, **context},
    ).lstrip()
    subject, _, body = rendered.partition("\n")
    email = OutboundEmail.objects.create(
        kind=kind,
        recipient=recipient,
        to_address=recipient.email,
        subject=subject.removeprefix("Subject:").strip()[:300],
        body_text=body.strip() + "\n",
        request=request,
        assignment=assignment,
    )
    from governance import tasks
    from governance.services.grants import on_commit_once

    on_commit_once(tasks.wake_email_sender)
    return email


def _request_context(request: AssignmentRequest) -> dict[str, Any]:
    return {"request": request, "package": request.package, "link": request_link(request)}


def request_submitted(request: AssignmentRequest, approvers: Iterable[User] = ()) -> None:
    compose(
        "request_submitted",
        request.target,
        {**_request_context(request), "approvers": list(approvers)},
        request=request,
    )


def approval_needed(request: AssignmentRequest, approvers: Iterable[User]) -> None:
    for approver in approvers:
        compose(
            "approval_needed",
            approver,
            {
                **_request_context(request),
                "approver": approver,
                "link": absolute(f"/myaccess/approvals/{request.pk}/"),
            },
            request=request,
        )


def request_approved(request: AssignmentRequest) -> None:
    compose("request_approved", request.target, _request_context(request), request=request)


def request_denied(request: AssignmentRequest, decision: ApprovalDecision) -> None:
    compose("request_denied", request.target, {**_request_context(request), "decision": decision}, request=request)


def request_completed(request: AssignmentRequest) -> None:
    """Delivered, partially delivered or failed: tell the person whose access it is."""
    if request.request_type == RequestType.SYSTEM_REMOVE:
        kind = "assignment_expired"
    elif request.request_type in RequestType.REMOVES:
        kind = "access_removed"
    elif request.request_type in RequestType.UPDATES:
        kind = "request_extended"
    elif request.state == RequestState.DELIVERED:
        kind = "request_delivered"
    else:
        kind = "request_delivery_failed"
    compose(kind, request.target, _request_context(request), request=request, assignment=request.assignment)


def request_canceled(request: AssignmentRequest) -> None:
    compose("request_canceled", request.target, _request_context(request), request=request)


def request_timed_out(request: AssignmentRequest) -> None:
    compose(
        "request_timed_out",
        request.target,
        {**_request_context(request), "package_link": package_link(request.package)},
        request=request,
    )


def expiry_reminder(assignment: Assignment, days: int, extend_allowed: bool) -> None:
    compose(
        "expiry_reminder",
        assignment.target,
        {
            "assignment": assignment,
            "package": assignment.package,
            "days": days,
            "extend_allowed": extend_allowed,
            "link": absolute(f"/myaccess/access/{assignment.pk}/"),
        },
        assignment=assignment,
    )


def share_package_link(package: AccessPackage, recipients: Iterable[User], sender: User, note: str = "") -> int:
    sent = 0
    for recipient in recipients:
        if compose(
            "package_link",
            recipient,
            {"package": package, "sender": sender, "note": note, "link": package_link(package)},
        ):
            sent += 1
    return sent
