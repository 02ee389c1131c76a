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
)
from governance.permissions import Action, can, restrict
from governance.services import requests as request_service
from governance.views.access import admin_portal, visible, visible_places
from governance.views.listing import paginate
from governance.views.outcomes import refusals_as_messages
from governance.views.packages import find_package, render_list
from governance.views.reprocess_all import reprocess_controls, reprocess_selected
from governance.web import render_page


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
    if isinstance(filterset, AllRequestsFilter):
        filterset.offer_places(*visible_places(request))
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
@require_POST
def request_cancel(request: HttpRequest, pk: UUID) -> HttpResponse:
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
