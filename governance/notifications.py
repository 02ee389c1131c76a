"""Who is told what, by email (DESIGN §6).

Services call these inside their transaction. Each call renders its message into the
outbox now, so what is sent is what was true at the change; a worker sends it after the
commit and the outbox sweeper retries what failed. A broken mail server never blocks a
request.

Every message is two templates: ``emails/<kind>.txt`` (first line: the subject) and
``emails/<kind>.html``. Links are absolute, built from ``SITE_URL``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

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
    return absolute(reverse("myaccess:request", args=[request.pk]))


def package_link(package: AccessPackage) -> str:
    return absolute(reverse("myaccess:package", args=[package.pk]))


def extend_link(assignment: Assignment) -> str:
    return absolute(reverse("myaccess:access_detail", args=[assignment.pk])) + "#extend"


def _reachable(recipient: User) -> bool:
    return bool(recipient.email) and recipient.is_active


def compose(
    kind: str,
    recipient: User,
    context: dict[str, Any],
    *,
    request: AssignmentRequest | None = None,
    assignment: Assignment | None = None,
) -> OutboundEmail | None:
    """Render ``emails/<kind>.txt`` and ``emails/<kind>.html`` into the outbox."""
    if not _reachable(recipient):
        return None
    context = {
        "recipient": recipient,
        "site_url": settings.SITE_URL,
        "myaccess_url": absolute(reverse("myaccess:home")),
        **context,
    }
    # Times in the site's zone, named in the text: not the zone of whoever's click sent it.
    with timezone.override(settings.TIME_ZONE):
        rendered = render_to_string(f"emails/{kind}.txt", context).lstrip()
        first_line, _, body = rendered.partition("\n")
        subject = first_line.removeprefix("Subject:").strip()[:300]
        html = render_to_string(f"emails/{kind}.html", {**context, "subject": subject})
    email = OutboundEmail.objects.create(
        kind=kind,
        recipient=recipient,
        to_address=recipient.email,
        subject=subject,
        body_text=body.strip() + "\n",
        body_html=html,
        request=request,
        assignment=assignment,
    )
    from governance import tasks
    from governance.services.grants import on_commit_once

    on_commit_once(tasks.wake_email_sender)
    return email


def _request_context(request: AssignmentRequest) -> dict[str, Any]:
    return {
        "request": request,
        "package": request.package,
        "link": request_link(request),
        "package_link": package_link(request.package),
    }


def _current_approvers(request: AssignmentRequest) -> list[User]:
    # Imported here: the approval service itself notifies through this module.
    from governance.services.approvals import current_stage, stage_approvers

    stage = current_stage(request)
    return stage_approvers(request, stage) if stage is not None else []


def request_submitted(request: AssignmentRequest, approvers: Iterable[User] = ()) -> None:
    approvers = list(approvers)
    if not approvers and request.state == RequestState.PENDING_APPROVAL:
        approvers = _current_approvers(request)
    compose(
        "request_submitted",
        request.target,
        {**_request_context(request), "approvers": [str(person) for person in approvers]},
        request=request,
    )


def approval_needed(request: AssignmentRequest, approvers: Iterable[User]) -> None:
    """Each approver of the stage gets a signed link of their own (single use)."""
    from governance.services.approval_links import issue_link

    stages = request.policy.stages.count() if request.policy is not None else 1
    for approver in approvers:
        if not _reachable(approver):
            continue
        token = issue_link(request, approver)
        compose(
            "approval_needed",
            approver,
            {
                **_request_context(request),
                "approver": approver,
                "stages": stages,
                "link": absolute(reverse("myaccess:approval_link", args=[request.pk, token])),
                "approvals_link": absolute(reverse("myaccess:approval", args=[request.pk])),
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
    context = _request_context(request)
    if request.assignment is not None:
        context["access_link"] = absolute(reverse("myaccess:access_detail", args=[request.assignment.pk]))
    compose(kind, request.target, context, request=request, assignment=request.assignment)


def request_canceled(request: AssignmentRequest) -> None:
    compose("request_canceled", request.target, _request_context(request), request=request)


def request_timed_out(request: AssignmentRequest) -> None:
    compose("request_timed_out", request.target, _request_context(request), request=request)


def expiry_reminder(assignment: Assignment, days: int, extend_allowed: bool) -> None:
    compose(
        "expiry_reminder",
        assignment.target,
        {
            "assignment": assignment,
            "package": assignment.package,
            "days": days,
            "extend_allowed": extend_allowed,
            "link": extend_link(assignment),
        },
        assignment=assignment,
    )


def share_package_link(package: AccessPackage, recipients: Iterable[User], sender: User, note: str = "") -> int:
    """Admin "Email this link" (seed 004): invite people to request a package."""
    roles = list(package.resource_roles.select_related("resource").order_by("resource__display_name"))
    sent = 0
    for recipient in recipients:
        if compose(
            "package_link",
            recipient,
            {"package": package, "roles": roles, "sender": sender, "note": note, "link": package_link(package)},
        ):
            sent += 1
    return sent
