"""Who is told what, by email (DESIGN §6).

Services call these inside their transaction. Each call renders its message into the
outbox now, so what is sent is what was true at the change; a worker sends it after the
commit and the outbox sweeper retries what failed. A broken mail server never blocks a
request. An approver's email carries a signed, single-use link whose row is written here
too (:func:`issue_link`; :mod:`governance.services.approval_links` reads and uses it).

Every message is two templates: ``emails/<kind>.txt`` (first line: the subject) and
``emails/<kind>.html``. Links are absolute, built from ``SITE_URL``.
"""

from __future__ import annotations

import uuid
import zoneinfo
from collections.abc import Iterable, Sequence
from datetime import timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from uuid import UUID

from django.conf import settings
from django.core import signing
from django.db.models import prefetch_related_objects
from django.template.loader import render_to_string
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils import timezone, translation

from governance.models import (
    AccessPackage,
    ApprovalDecision,
    ApprovalLink,
    Assignment,
    AssignmentRequest,
    DeliveryAttempt,
    GrantState,
    OutboundEmail,
    Outcome,
    RemovalReason,
    RequestState,
    RequestType,
    RoleGrant,
    User,
)
from governance.services import chat
from governance.services.bulk_sql import insert_rows
from governance.services.dispatch import wake_email_sender
from governance.services.text import one_line

if TYPE_CHECKING:
    from governance.models.request import RequestRow

LINK_SALT = "governance.approval-link"
REVIEW_LINK_SALT = "governance.review-link"
# The justification of a systemRemove request an access review made (rule 14): its person
# is told "a review removed your access", not "your access expired".
REVIEW_REMOVAL_REASON = "Removed by an access review."


def absolute(path: str) -> str:
    return f"{settings.SITE_URL}{path}"


_ANY_ID = UUID(int=0)


@lru_cache(maxsize=64)
def _route(name: str, with_id: bool, prefix: str, urlconf: Any) -> str:
    return reverse(name, urlconf=urlconf, args=[_ANY_ID] if with_id else [])


def link(name: str, pk: Any = None) -> str:
    """The absolute URL of a page about one object. An expiry of 100,000 assignments writes
    100,000 emails, so each route is resolved once and the id put in its place."""
    path = _route(name, pk is not None, get_script_prefix(), get_urlconf())
    return absolute(path if pk is None else path.replace(str(_ANY_ID), str(pk)))


def request_link(request: AssignmentRequest) -> str:
    return link("myaccess:request", request.pk)


def package_link(package: AccessPackage) -> str:
    return link("myaccess:package", package.pk)


def extend_link(assignment: Assignment) -> str:
    return link("myaccess:access_detail", assignment.pk) + "#extend"


def _reachable(recipient: User) -> bool:
    return bool(recipient.email) and recipient.is_active


def _zone_of(recipient: User) -> Any:
    try:
        return zoneinfo.ZoneInfo(recipient.time_zone) if recipient.time_zone else settings.TIME_ZONE
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return settings.TIME_ZONE


def compose(
    kind: str,
    recipient: User,
    context: dict[str, Any],
    *,
    request: AssignmentRequest | None = None,
    assignment: Assignment | None = None,
    save: bool = True,
) -> OutboundEmail | None:
    """Render ``emails/<kind>.txt`` and ``emails/<kind>.html`` into the outbox (or, with
    ``save=False``, into an unsaved row for the caller to bulk-insert with :func:`post`)."""
    if not _reachable(recipient):
        return None
    subject, body, html = render(kind, recipient, context)
    email = OutboundEmail(
        kind=kind,
        recipient=recipient,
        to_address=recipient.email,
        subject=subject,
        body_text=body,
        body_html=html,
        request=request,
        assignment=assignment,
    )
    if save:
        post([email])
    return email


def render(kind: str, recipient: User, context: dict[str, Any]) -> tuple[str, str, str]:
    """``emails/<kind>.txt`` and ``emails/<kind>.html`` for ``recipient``: subject, text, HTML."""
    context = {
        "recipient": recipient,
        "site_url": settings.SITE_URL,
        "myaccess_url": link("myaccess:home"),
        **context,
    }
    # In the recipient's language and time zone (My Access > Settings), else the site's:
    # never those of whoever's click sent it. Times name their zone in the text.
    with (
        translation.override(recipient.preferred_language or settings.LANGUAGE_CODE),
        timezone.override(_zone_of(recipient)),
    ):
        rendered = render_to_string(f"emails/{kind}.txt", context).lstrip()
        first_line, _, body = rendered.partition("\n")
        # One line whatever the names in it hold: a header with a line break is never sent.
        subject = one_line(first_line.removeprefix("Subject:"))[:300]
        html = render_to_string(f"emails/{kind}.html", {**context, "subject": subject})
    return subject, body.strip() + "\n", html


def post(emails: Sequence[OutboundEmail]) -> None:
    """Put composed emails into the outbox (one INSERT) and wake the sender after commit."""
    if not emails:
        return
    OutboundEmail.objects.bulk_create(emails)
    wake_email_sender()


def _request_context(request: AssignmentRequest) -> dict[str, Any]:
    return {
        "request": request,
        "package": request.package,
        "link": request_link(request),
        "package_link": package_link(request.package),
    }


def _current_approvers(request: AssignmentRequest) -> list[User]:
    stage = request.current_approval_stage()
    return request.stage_approvers(stage) if stage is not None else []


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
    """Each approver of the stage gets a signed link of their own (single use); the catalog's
    chat channels get the request's page in My Access (the email's "Approvals" link)."""
    stages = request.approval_stages().count() if request.policy_id is not None else 1
    approvers = list(approvers)
    page = absolute(reverse("myaccess:approval", args=[request.pk]))
    chat.announce(
        request,
        "approval_needed",
        f"Approval needed: {request.target} requests {request.package}",
        f'{request.target} requests access to the access package "{request.package}".'
        + (f" Business justification: {request.justification}" if request.justification else "")
        + f"\nApprovers: {', '.join(str(a) for a in approvers) or 'nobody'}.\nReview and decide: {page}",
    )
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


def approval_reminder(request: AssignmentRequest, approver: User) -> OutboundEmail | None:
    """Halfway through the stage: the same kind of safe link as the first email (its unused
    link when there is one, else a new one), and how long is left."""
    if not _reachable(approver):
        return None
    existing = (
        ApprovalLink.objects.filter(
            request=request,
            approver=approver,
            stage_order=request.current_stage,
            used_at__isnull=True,
            expires_at__gt=timezone.now(),
        )
        .order_by("-created_at")
        .first()
    )
    token = signing.dumps(str(existing.pk), salt=LINK_SALT) if existing else issue_link(request, approver)
    stages = request.approval_stages().count() if request.policy_id is not None else 1
    return compose(
        "approval_reminder",
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


def issue_link(request: AssignmentRequest, approver: User) -> str:
    """Store a link for ``approver`` to decide the request's current stage; return its token."""
    expires_at = request.stage_due_at or timezone.now() + timedelta(days=14)
    link = ApprovalLink.objects.create(
        request=request, approver=approver, stage_order=request.current_stage, expires_at=expires_at
    )
    return signing.dumps(str(link.pk), salt=LINK_SALT)


def request_approved(request: AssignmentRequest) -> None:
    """Approved and scheduled or delivering; a direct assignment was never asked for, so
    its person hears that they were given access, not that a request was approved."""
    kind = "access_given" if request.request_type == RequestType.ADMIN_ADD else "request_approved"
    compose(kind, request.target, _request_context(request), request=request)


def request_denied(request: AssignmentRequest, decision: ApprovalDecision) -> None:
    compose("request_denied", request.target, {**_request_context(request), "decision": decision}, request=request)


def requests_completed(requests: Sequence[RequestRow]) -> None:
    """Tell each completed request's person (set-based delivery, expiry, reprocess).

    A failure the requestor was already told about is not told again: reprocessing a
    request that fails once more on the same resources sends nothing (issue 14). Most
    completions are told by a row holding only their kind and ids (:data:`RENDERED_WHEN_SENT`);
    the others (an extension's) are rendered now from the instance."""
    told = _failures_already_told(requests)
    later = [r for r in requests if r.pk not in told and _kind_of(r) in RENDERED_WHEN_SENT]
    now = [r for r in requests if r.pk not in told and _kind_of(r) not in RENDERED_WHEN_SENT]
    _post_unrendered(later)
    # The instances of the others (one query), and what their emails name (who gave the
    # access, the answers): two more, not two per email.
    missing = [r.pk for r in now if r.instance is None]
    loaded = AssignmentRequest.objects.select_related("package", "target", "assignment").in_bulk(missing)
    instances = [r.instance or loaded[r.pk] for r in now]
    prefetch_related_objects(instances, "requestor", "answers")
    post([email for request in instances if (email := request_completed(request, save=False)) is not None])


# What tells a person their request completed or their access ended: a bulk reprocess of
# 10,000 requests or an expiry of 100,000 assignments tells that many people, and rendering
# two templates each, in the transaction that settles the requests, cost most of their time.
# Its outbox row holds the kind, the ids and the request's state at completion; the message
# is rendered from them when it is sent (:func:`render_unrendered`, in bulk, by the sender),
# or when a page or the sender first reads the row alone (:func:`_render_on_read`). It reads
# as rendering at once would have: the state is the one the request completed in; names and
# dates are the request's, package's and person's when it is sent (an end date changed in
# the meantime is the new one), in the recipient's language and zone.
RENDERED_WHEN_SENT = frozenset(
    {
        "assignment_expired",
        "review_removed",
        "access_removed",
        "request_delivered",
        "access_given",
        "request_delivery_failed",
    }
)
_UNRENDERED_COLUMNS = (
    "id",
    "kind",
    "recipient",
    "to_address",
    "subject",
    "body_text",
    "request",
    "assignment",
    "request_state",
)


def _post_unrendered(requests: Sequence[RequestRow]) -> None:
    reachable = [r for r in requests if r.target_email and r.target_active]
    if not reachable:
        return
    insert_rows(
        OutboundEmail,
        _UNRENDERED_COLUMNS,
        (
            (uuid.uuid4(), _kind_of(r), r.target_id, r.target_email, "", "", r.pk, r.assignment_id, r.state)
            for r in reachable
        ),
    )
    wake_email_sender()


def is_unrendered(email: OutboundEmail) -> bool:
    """A row holding only its kind and ids (a rendered text part always ends in a newline)."""
    return not email.body_text


def render_unrendered(emails: Sequence[OutboundEmail]) -> list[OutboundEmail]:
    """Render rows written by :func:`_post_unrendered` (in memory; the caller saves them),
    in one query for their requests, in each recipient's language and time zone, each as of
    the state its request completed in. Returns the rows that cannot be rendered any more
    (their request was deleted)."""
    requests = AssignmentRequest.objects.select_related("package", "target", "assignment", "requestor").in_bulk(
        {email.request_id for email in emails if email.request_id is not None}
    )
    lost = []
    for email in emails:
        request = requests.get(email.request_id) if email.request_id is not None else None
        if request is None:
            lost.append(email)
            continue
        if email.request_state:
            request.state = email.request_state
        email.subject, email.body_text, email.body_html = render(
            email.kind, request.target, _completion_context(request)
        )
    return lost


def _render_on_read(email: OutboundEmail) -> None:
    render_unrendered([email])


OutboundEmail.render_on_read = _render_on_read


FAILURE_EMAIL = "request_delivery_failed"


def _failures_already_told(requests: Sequence[RequestRow]) -> set[UUID]:
    """The failing requests whose every failed resource role had already failed before the
    last failure email about that request (three queries, whatever the number)."""
    failing = [r.pk for r in requests if _kind_of(r) == FAILURE_EMAIL]
    if not failing:
        return set()
    last_told: dict[UUID, Any] = {}
    for request_id, created_at in OutboundEmail.objects.filter(kind=FAILURE_EMAIL, request_id__in=failing).values_list(
        "request_id", "created_at"
    ):
        last_told[request_id] = max(created_at, last_told.get(request_id, created_at))
    if not last_told:
        return set()
    failed_now: dict[UUID, set[UUID]] = {pk: set() for pk in last_told}
    for request_id, role_id in RoleGrant.objects.filter(request_id__in=last_told, state=GrantState.FAILED).values_list(
        "request_id", "resource_role_id"
    ):
        failed_now[request_id].add(role_id)
    failed_before: dict[UUID, set[UUID]] = {pk: set() for pk in last_told}
    for request_id, role_id, started_at in DeliveryAttempt.objects.filter(
        request_id__in=last_told, outcome__in=Outcome.ERRORS
    ).values_list("request_id", "grant__resource_role_id", "started_at"):
        if started_at <= last_told[request_id]:
            failed_before[request_id].add(role_id)
    return {pk for pk in last_told if failed_now[pk] <= failed_before[pk]}


def _kind_of(request: AssignmentRequest | RequestRow) -> str:
    if request.request_type == RequestType.SYSTEM_REMOVE and request.removal_reason == RemovalReason.REVIEW:
        return "review_removed"
    if request.request_type == RequestType.SYSTEM_REMOVE:
        return "assignment_expired"
    if request.request_type in RequestType.REMOVES:
        return "access_removed"
    if request.request_type in RequestType.UPDATES:
        instance = request if isinstance(request, AssignmentRequest) else request.instance
        return "request_extended" if instance is None or _end_moved_later(instance) else "end_moved_earlier"
    if request.state == RequestState.DELIVERED:
        return "access_given" if request.request_type == RequestType.ADMIN_ADD else "request_delivered"
    return FAILURE_EMAIL


def request_completed(request: AssignmentRequest, *, save: bool = True) -> OutboundEmail | None:
    """Delivered, partially delivered or failed: tell the person whose access it is."""
    kind = _kind_of(request)
    context = _completion_context(request)
    return compose(kind, request.target, context, request=request, assignment=request.assignment, save=save)


def _completion_context(request: AssignmentRequest) -> dict[str, Any]:
    context = {**_request_context(request), "previous_end": getattr(request, "previous_end", None)}
    if request.assignment is not None:
        context["access_link"] = link("myaccess:access_detail", request.assignment.pk)
    return context


def _end_moved_later(request: AssignmentRequest) -> bool:
    """ "Extended" only when the end really moved later (DESIGN §6); no end is the latest."""
    if not hasattr(request, "previous_end"):
        return True
    previous, new = request.previous_end, request.schedule_end
    if new is None:
        return True
    return previous is not None and new > previous


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
