"""Requests, per package and across catalogs (seeds 000, 001, 003): the list with filters,
the detail with its approval history and delivery errors, Reprocess request, Cancel
request, and Reprocess for a selection."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from django.contrib import messages
from django.core.exceptions import BadRequest
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from governance.filters import AllRequestsFilter, RequestFilter
from governance.forms import CancelRequestForm
from governance.models import (
    AccessPackage,
    AssignmentRequest,
    BulkReprocessKind,
    Connector,
    DeliveryAttempt,
    Outcome,
    RequestState,
    RequestType,
    RoleGrant,
)
from governance.permissions import Action, can, restrict
from governance.services import connectors as connector_service
from governance.services import explain
from governance.services import requests as request_service
from governance.views.access import admin_portal, require, visible, visible_places
from governance.views.csv_export import Column, download_csv
from governance.views.listing import paginate
from governance.views.live import request_in_flight
from governance.views.outcomes import refusals_as_messages
from governance.views.packages import find_package, render_list
from governance.views.reprocess_all import reprocess_controls, reprocess_selected
from governance.web import Confirmation, confirm_page, render_page


def delivery_errors() -> QuerySet[DeliveryAttempt]:
    """Every failed try to deliver a request; the seeds' "delivery errors" are the resource
    roles among them (five retries of one role are one error with five attempts)."""
    return DeliveryAttempt.objects.filter(outcome__in=Outcome.ERRORS)


def _error_count() -> Coalesce:
    counted = (
        delivery_errors()
        .filter(request=OuterRef("pk"))
        .order_by()
        .values("request")
        .annotate(n=Count("grant", distinct=True))
        .values("n")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def _filtered(request: HttpRequest, package: AccessPackage | None) -> RequestFilter:
    queryset = restrict(AssignmentRequest.objects.all(), request.user, Action.VIEW)
    if package is not None:
        return RequestFilter(request.GET, queryset=queryset.filter(package=package), package_id=package.pk)
    filterset = AllRequestsFilter(request.GET, queryset=queryset)
    filterset.offer_places(*visible_places(request))
    return filterset


# What a row of the list shows (requests/_table.html, and the keys the pager orders by): the
# list loads only these columns. All of them were 96 columns a row over five models (16 of
# them times to parse), for 14 shown: 8% of the page's CPU. A column the table starts
# showing goes here too, or each row costs a query (tests/portal/test_query_counts.py).
PERSON_SHOWN = ("display_name", "first_name", "last_name", "username", "email")
LIST_COLUMNS = (
    "request_type",
    "state",
    "created_at",
    "completed_at",
    "requestor_label",
    *(f"target__{name}" for name in PERSON_SHOWN),
    *(f"requestor__{name}" for name in PERSON_SHOWN),
    "package__display_name",
    "policy__display_name",
)


def _list_context(request: HttpRequest, package: AccessPackage | None) -> dict[str, Any]:
    filterset = _filtered(request, package)
    rows = (
        filterset.qs.select_related("target", "requestor", "package", "policy")
        .only(*LIST_COLUMNS)
        .annotate(errors=_error_count())
    )
    return {
        "filter": filterset,
        "page": paginate(request, rows),
        "show_package": package is None,
        "download_url": (
            reverse("governance:package_requests_download", args=[package.pk])
            if package
            else reverse("governance:request_download")
        ),
        **reprocess_controls(request, BulkReprocessKind.REQUESTS, package),
    }


@admin_portal
def request_list(request: HttpRequest) -> HttpResponse:
    return render_list(request, None, "requests", _list_context)


@admin_portal
def package_requests(request: HttpRequest, pk: UUID) -> HttpResponse:
    return render_list(request, find_package(request, pk), "requests", _list_context)


CSV_HEADER = [
    "Person",
    "User principal name",
    "Requested by",
    "Access package",
    "Policy",
    "Type",
    "Status",
    "Delivery errors",
    "Created",
    "Completed",
    "Request id",
]
STATE_LABELS = dict(RequestState.choices)
TYPE_LABELS = dict(RequestType.choices)


CSV_COLUMNS = [
    Column("target__display_name"),
    Column("target__user_principal_name"),
    Column("requestor_label"),
    Column("package__display_name"),
    Column("policy__display_name"),
    Column("request_type", "label", TYPE_LABELS),
    Column("state", "label", STATE_LABELS),
    Column("errors"),
    Column("created_at", "time"),
    Column("completed_at", "time"),
    Column("pk"),
]


def _download(request: HttpRequest, package: AccessPackage | None) -> StreamingHttpResponse:
    """The filtered list (seed 000: who requested, their policy, and status), every page
    of it, streamed (COPY on PostgreSQL)."""
    filterset = _filtered(request, package)
    if not filterset.is_valid():
        raise BadRequest("Invalid filter.")
    rows = filterset.qs.order_by("-created_at", "-pk").annotate(errors=_error_count())
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    name = f"requests-{package.pk if package else 'all'}-{stamp}.csv"
    return download_csv(name, CSV_HEADER, rows, CSV_COLUMNS)


@admin_portal
def request_download(request: HttpRequest) -> StreamingHttpResponse:
    return _download(request, None)


@admin_portal
def package_requests_download(request: HttpRequest, pk: UUID) -> StreamingHttpResponse:
    return _download(request, find_package(request, pk))


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
            **_error_counts(item),
            "in_flight": request_in_flight(item),
            # Rule 1 and rule 3 decide whether the buttons exist at all.
            "can_reprocess": request_service.is_reprocessable(item) and can(user, Action.REPROCESS, item),
            "can_cancel": item.state in RequestState.ADMIN_CANCELABLE and can(user, Action.CANCEL, item),
            "cancel_form": CancelRequestForm(),
        },
    )


def _error_counts(item: AssignmentRequest) -> dict[str, int]:
    counts = delivery_errors().filter(request=item).aggregate(roles=Count("grant", distinct=True), attempts=Count("pk"))
    return {"error_count": counts["roles"], "attempt_count": counts["attempts"]}


@dataclass
class FailedRole:
    """One resource role that failed to deliver, with every failed attempt at it."""

    grant: RoleGrant
    attempts: list[DeliveryAttempt] = field(default_factory=list)

    @property
    def connector(self) -> Connector | None:
        """The connector at fault: the one the last attempt went through."""
        return self.attempts[0].connector if self.attempts else None


@admin_portal
def request_errors(request: HttpRequest, pk: UUID) -> HttpResponse:
    """The list behind the count of delivery errors: per resource role that failed, each
    attempt (operation, time, message) and the connector it went through."""
    item = _find_request(request, pk)
    failed: dict[UUID, FailedRole] = {}
    for attempt in (
        delivery_errors()
        .filter(request=item)
        .select_related("grant__resource_role__resource", "connector")
        .order_by("-started_at")
    ):
        failed.setdefault(attempt.grant_id, FailedRole(attempt.grant)).attempts.append(attempt)
    return render_page(
        request,
        "governance/requests/errors.html",
        {
            "item": item,
            "failed_roles": list(failed.values()),
            "can_reprocess": request_service.is_reprocessable(item) and can(request.user, Action.REPROCESS, item),
            "can_open_connectors": connector_service.can_manage(request.user),
        },
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
