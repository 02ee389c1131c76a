"""Requests, per package and across catalogs (seeds 000, 001, 003): the list with filters,
the detail with its approval history and delivery errors, Reprocess request, Cancel
request, and Reprocess for a selection."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.contrib import messages
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from governance.filters import AllRequestsFilter, RequestFilter
from governance.forms import CancelRequestForm
from governance.models import (
    AccessPackage,
    AssignmentRequest,
    BulkReprocessKind,
    DeliveryAttempt,
    Outcome,
    RequestState,
    RequestType,
)
from governance.permissions import Action, can, restrict
from governance.services import explain
from governance.services import requests as request_service
from governance.views.access import admin_portal, require, visible
from governance.views.listing import paginate
from governance.views.outcomes import refusals_as_messages
from governance.views.packages import find_package, render_list
from governance.views.reprocess_all import reprocess_controls, reprocess_selected
from governance.web import Confirmation, confirm_page, render_page


def delivery_errors() -> QuerySet[DeliveryAttempt]:
    """The seeds' "delivery errors": every failed try to deliver a request."""
    return DeliveryAttempt.objects.filter(outcome__in=Outcome.ERRORS)


def _error_count() -> Coalesce:
    counted = (
        delivery_errors()
        .filter(request=OuterRef("pk"))
        .order_by()
        .values("request")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def _list_context(request: HttpRequest, package: AccessPackage | None) -> dict[str, Any]:
    queryset = restrict(AssignmentRequest.objects.all(), request.user, Action.VIEW)
    if package is not None:
        queryset = queryset.filter(package=package)
    filterset = (RequestFilter if package is not None else AllRequestsFilter)(request.GET, queryset=queryset)
    rows = filterset.qs.select_related("target", "requestor", "package", "policy").annotate(errors=_error_count())
    return {
        "filter": filterset,
        "page": paginate(request, rows),
        "show_package": package is None,
        **reprocess_controls(request, BulkReprocessKind.REQUESTS, package),
    }


@admin_portal
def request_list(request: HttpRequest) -> HttpResponse:
    return render_list(request, None, "requests", _list_context)


@admin_portal
def package_requests(request: HttpRequest, pk: UUID) -> HttpResponse:
    return render_list(request, find_package(request, pk), "requests", _list_context)


def _find_request(request: HttpRequest, pk: UUID) -> AssignmentRequest:
    return visible(
        request,
        AssignmentRequest.objects.select_related("package__catalog", "policy", "target", "requestor", "assignment"),
        pk,
    )


@admin_portal
def request_detail(request: HttpRequest, pk: UUID) -> HttpResponse:
    item = _find_request(request, pk)
    user = request.user
    stage = item.current_approval_stage()
    return render(
        request,
        "governance/requests/detail.html",
        {
            "item": item,
            "decisions": item.decisions.select_related("approver").order_by("stage_order"),
            "stage": stage,
            "stage_count": item.approval_stages().count() if item.policy_id else 0,
            "approvers": item.stage_approvers(stage) if stage else [],
            "error_count": delivery_errors().filter(request=item).count(),
            # Rule 1 and rule 3 decide whether the buttons exist at all.
            "can_reprocess": request_service.is_reprocessable(item) and can(user, Action.REPROCESS, item),
            "can_cancel": item.state in RequestState.ADMIN_CANCELABLE and can(user, Action.CANCEL, item),
            "cancel_form": CancelRequestForm(),
        },
    )


@admin_portal
def request_errors(request: HttpRequest, pk: UUID) -> HttpResponse:
    """The list behind the count of delivery errors: resource, operation, time, message."""
    item = _find_request(request, pk)
    errors = (
        delivery_errors()
        .filter(request=item)
        .select_related("grant__resource_role__resource", "connector")
        .order_by("-started_at")
    )
    return render_page(
        request,
        "governance/requests/errors.html",
        {"item": item, "errors": errors},
        partial="governance/requests/_errors.html",
    )


@admin_portal
@require_POST
def request_reprocess(request: HttpRequest, pk: UUID) -> HttpResponse:
    with refusals_as_messages(request):
        request_service.reprocess_request(request.user, pk)
        messages.success(request, "Reprocessing: the failed deliveries are being retried.")
    return redirect("governance:request_detail", pk=pk)


@admin_portal
def request_cancel(request: HttpRequest, pk: UUID) -> HttpResponse:
    """GET: what canceling would do (and take away, when access was already given); POST: cancel."""
    if request.method != "POST":
        item = _find_request(request, pk)
        require(request, Action.CANCEL, item)
        back = reverse("governance:request_detail", args=[pk])
        if item.state not in RequestState.ADMIN_CANCELABLE:
            messages.info(request, f"This request is {item.get_state_display().lower()}; it can no longer be canceled.")
            return redirect(back)
        ends_access = item.assignment_id is not None and item.request_type in RequestType.ADDS
        what_if = explain.removing_assignments([item.assignment_id], viewer=request.user) if ends_access else None
        return confirm_page(
            request,
            Confirmation(
                title=f"Cancel {item.target}'s request for {item.package}?",
                lead=(
                    "The request stops and its assignment ends; "
                    if ends_access
                    else "The request stops; nothing has been given yet. "
                )
                + f"{item.target} is told by email.",
                button="Cancel request",
                action=reverse("governance:request_cancel", args=[pk]),
                back=back,
                what_if=what_if,
                form=CancelRequestForm(initial={"reason": request.GET.get("reason", "")}),
            ),
        )
    form = CancelRequestForm(request.POST)
    form.is_valid()
    with refusals_as_messages(request):
        before = _find_request(request, pk).state
        canceled = request_service.cancel_request_as_admin(request.user, pk, form.cleaned_data.get("reason", ""))
        if before == RequestState.CANCELED:
            messages.info(request, "This request was already canceled.")
        elif canceled.state == RequestState.CANCELED:
            messages.success(request, "Request canceled. The requestor has been told.")
    return redirect("governance:request_detail", pk=pk)


@admin_portal
@require_POST
def request_reprocess_selected(request: HttpRequest) -> HttpResponse:
    """Seed 001: select requests, click Reprocess; ineligible ones are skipped with the reason."""
    return reprocess_selected(
        request, "request", reverse("governance:request_list"), request_service.reprocess_requests
    )
