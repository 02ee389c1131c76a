"""My requests: every request with its status and history; Cancel while pending approval."""

from __future__ import annotations

from uuid import UUID

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _

from governance.errors import DomainError, NotFound
from governance.models import AssignmentRequest, GrantState, RequestState, User
from governance.permissions import own_requests, requestable_packages
from governance.services.extensions import waiting_label
from governance.services.requests import cancel_request_as_requestor, reprocess_window_ends, requestor_may_cancel
from governance.views.listing import MY_ACCESS_PER_PAGE, paginate
from governance.views.live import request_in_flight
from governance.web import Confirmation, confirm_page, not_found_on_refusal, render_page
from myaccess.explain import history_of
from myaccess.forms import SearchForm

STATUS_FILTERS: dict[str, frozenset[str] | None] = {
    "all": None,
    "open": RequestState.OPEN,
    "completed": RequestState.COMPLETED,
}


@login_required
def request_list(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    status = request.GET.get("status", "all")
    if status not in STATUS_FILTERS:
        status = "all"
    search = SearchForm(request.GET)
    query = search.query
    rows = own_requests(user).select_related("package", "target")
    states = STATUS_FILTERS[status]
    if states is not None:
        rows = rows.filter(state__in=states)
    if query:
        rows = rows.filter(Q(package__display_name__icontains=query) | Q(justification__icontains=query))
    page = paginate(request, rows.order_by("-created_at", "pk"), MY_ACCESS_PER_PAGE, count=True)
    return render_page(
        request,
        "myaccess/request_list.html",
        {"page": page, "status": status, "search": search, "query": query, "keep": [("status", status)]},
        partial="myaccess/_request_table.html",
    )


def _own_request(user: User, request_id: UUID) -> AssignmentRequest:
    found = (
        own_requests(user)
        .select_related("package", "policy", "target", "requestor", "assignment")
        .filter(pk=request_id)
        .first()
    )
    if found is None:
        raise Http404("Request not found.")
    return found


@login_required
def request_detail(request: HttpRequest, request_id: UUID) -> HttpResponse:
    """A request: where it stands, what happens next, decisions and history; Cancel."""
    user: User = request.user  # type: ignore[assignment]
    found = _own_request(user, request_id)
    stage = found.current_approval_stage()
    grants = (
        found.assignment.grants.select_related("resource_role__resource").order_by(
            "resource_role__resource__display_name"
        )
        if found.assignment is not None
        else []
    )
    return render_page(
        request,
        "myaccess/request_detail.html",
        {
            "req": found,
            "stage": stage,
            "stage_count": found.approval_stages().count() if found.policy_id is not None else 0,
            "approvers": found.stage_approvers(stage) if stage is not None else [],
            "decisions": found.decisions.select_related("approver").order_by("stage_order"),
            "history": history_of(found),
            "grants": grants,
            "cancelable": found.state == RequestState.PENDING_APPROVAL,
            # Rule 3 / seed 001: a failed request past the reprocess window is canceled and
            # requested again; before that an administrator can still reprocess it.
            "window_ends": reprocess_window_ends(found),
            "cancel_and_request_again": found.state in RequestState.REPROCESSABLE and requestor_may_cancel(found),
            "reprocess_days": settings.REPROCESS_WINDOW_DAYS,
            "request_again": found.state in {RequestState.CANCELED, RequestState.DENIED}
            and requestable_packages(user).filter(pk=found.package_id).exists(),
            "submitted": request.GET.get("submitted") == "1",
            "in_flight": request_in_flight(found),
            "waiting": waiting_label(found),
        },
    )


@login_required
def cancel(request: HttpRequest, request_id: UUID) -> HttpResponse:
    """Rule 3: a requestor cancels only while the request is pending approval.

    GET asks first (what canceling means); the POST cancels."""
    user: User = request.user  # type: ignore[assignment]
    if request.method != "POST":
        found = _own_request(user, request_id)
        back = reverse("myaccess:request", args=[request_id])
        if found.state not in RequestState.REQUESTOR_CANCELABLE:
            messages.info(request, _("This request can no longer be canceled."))
            return redirect(back)
        lead = (
            _("Nobody has decided yet; the approvers will no longer be asked.")
            if found.state == RequestState.PENDING_APPROVAL
            else _("The request ends; you can then request the package again.")
        )
        return confirm_page(
            request,
            Confirmation(
                title=_("Cancel your request for %(package)s?") % {"package": found.package},
                lead=lead,
                button=_("Cancel"),
                action=reverse("myaccess:cancel", args=[request_id]),
                back=back,
            ),
            template="myaccess/confirm.html",
        )
    try:
        canceled = cancel_request_as_requestor(user, request_id)
    except NotFound as exc:
        not_found_on_refusal(exc)
        raise
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("myaccess:request", request_id=request_id)
    if canceled.state == RequestState.CANCELED:
        messages.success(request, _("Your request for %(package)s was canceled.") % {"package": canceled.package})
    return redirect("myaccess:request", request_id=request_id)


@login_required
def cancel_and_request_again(request: HttpRequest, request_id: UUID) -> HttpResponse:
    """Seed 001 after the reprocess window: one confirmed action cancels the failed request
    (revoking what it partially delivered) and opens the request form. GET asks, POST does."""
    user: User = request.user  # type: ignore[assignment]
    found = _own_request(user, request_id)
    if found.state not in RequestState.REPROCESSABLE or not requestor_may_cancel(found):
        messages.error(
            request,
            _(
                "Only a Delivery failed or Partially delivered request past its reprocess window "
                "can be canceled and requested again."
            ),
        )
        return redirect("myaccess:request", request_id=found.pk)
    if request.method != "POST":
        grants = (
            found.assignment.grants.filter(state=GrantState.GRANTED).select_related("resource_role__resource")
            if found.assignment is not None
            else []
        )
        return render_page(request, "myaccess/request_again.html", {"req": found, "kept": list(grants)})
    try:
        canceled = cancel_request_as_requestor(user, found.pk)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("myaccess:request", request_id=found.pk)
    messages.success(
        request, _("Your request for %(package)s was canceled. Request it again below.") % {"package": canceled.package}
    )
    return redirect("myaccess:request_form", package_id=canceled.package_id)
