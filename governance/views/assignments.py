"""Assignments, per package and across the catalogs a person may see (seeds 003 and 004):
filter by status, search, sort, page, Download (CSV), New assignment, remove, Reprocess."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.contrib import messages
from django.core.exceptions import BadRequest
from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from governance.filters import AllAssignmentsFilter, AssignmentFilter, scheduled_starts, with_drift
from governance.forms import NewAssignmentForm, RemoveAssignmentForm, UpdateEndForm, searching
from governance.ids import is_uuid
from governance.models import (
    AccessPackage,
    Assignment,
    AssignmentRequest,
    AssignmentState,
    BulkReprocessKind,
    DeliveryAttempt,
    GrantState,
    RequestState,
    RoleGrant,
    TargetScope,
)
from governance.permissions import Action, can, restrict
from governance.services import assignments as assignment_service
from governance.services import explain
from governance.views.access import admin_portal, may_somewhere, require, selected_ids, visible, visible_places
from governance.views.csv_export import Column, download_csv
from governance.views.listing import paginate
from governance.views.live import assignment_in_flight
from governance.views.outcomes import refusals_as_messages, submit_once
from governance.views.packages import find_package, package_tabs, render_list
from governance.views.reprocess_all import reprocess_controls, reprocess_selected
from governance.web import Confirmation, confirm_page, refusals_on, safe_next

STATE_LABELS = dict(AssignmentState.choices)
CSV_HEADER = [
    "Person",
    "User principal name",
    "Email",
    "Access package",
    "Policy",
    "Status",
    "Drifted",
    "Start",
    "End",
    "Assigned",
    "Assignment id",
]


def _assignments(request: HttpRequest, package: AccessPackage | None = None) -> QuerySet[Assignment]:
    queryset = restrict(Assignment.objects.all(), request.user, Action.VIEW)
    if package is not None:
        queryset = queryset.filter(package=package)
    return with_drift(queryset)


def _filtered(request: HttpRequest, package: AccessPackage | None) -> AssignmentFilter:
    if package is not None:
        return AssignmentFilter(request.GET, queryset=_assignments(request, package))
    filterset = AllAssignmentsFilter(request.GET, queryset=_assignments(request, package))
    filterset.offer_places(*visible_places(request))
    return filterset


def _scheduled(request: HttpRequest, package: AccessPackage | None) -> QuerySet[AssignmentRequest]:
    """Status "Scheduled": the starts still to come, as their requests (no assignment yet)."""
    requests = restrict(AssignmentRequest.objects.all(), request.user, Action.VIEW)
    if package is not None:
        requests = requests.filter(package=package)
    return scheduled_starts(requests, request.GET.get("q", "")).select_related("target", "package", "policy")


def _list_context(request: HttpRequest, package: AccessPackage | None) -> dict[str, Any]:
    filterset = _filtered(request, package)
    scheduled = filterset.scheduled
    rows = _scheduled(request, package) if scheduled else filterset.qs.select_related("target", "package", "policy")
    return {
        "filter": filterset,
        "scheduled": scheduled,
        "page": paginate(request, rows),
        "show_package": package is None,
        **reprocess_controls(request, BulkReprocessKind.ASSIGNMENTS, package),
        "can_remove_any": can(request.user, Action.ASSIGN, package)
        if package
        else may_somewhere(request, Action.ASSIGN),
        "download_url": (
            reverse("governance:package_assignments_download", args=[package.pk])
            if package
            else reverse("governance:assignment_download")
        ),
    }


@admin_portal
def assignment_list(request: HttpRequest) -> HttpResponse:
    return render_list(request, None, "assignments", _list_context)


@admin_portal
def package_assignments(request: HttpRequest, pk: UUID) -> HttpResponse:
    return render_list(request, find_package(request, pk), "assignments", _list_context)


CSV_COLUMNS = [
    Column("target__display_name"),
    Column("target__user_principal_name"),
    Column("target__email"),
    Column("package__display_name"),
    Column("policy__display_name"),
    Column("state", "label", STATE_LABELS),
    Column("drifted", "flag"),
    Column("start_at", "time"),
    Column("end_at", "time"),
    Column("created_at", "time"),
    Column("pk"),
]


def _download(request: HttpRequest, package: AccessPackage | None) -> StreamingHttpResponse:
    """The filtered list, every page of it, streamed (COPY on PostgreSQL); a filter it cannot
    apply (a policy the viewer may not see) is refused, as the requests download refuses it."""
    filterset = _filtered(request, package)
    if not filterset.is_valid():
        raise BadRequest("Invalid filter.")
    rows = filterset.qs.order_by("-created_at", "-pk")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    name = f"assignments-{package.pk if package else 'all'}-{stamp}.csv"
    return download_csv(name, CSV_HEADER, rows, CSV_COLUMNS)


@admin_portal
def assignment_download(request: HttpRequest) -> StreamingHttpResponse:
    return _download(request, None)


@admin_portal
def package_assignments_download(request: HttpRequest, pk: UUID) -> StreamingHttpResponse:
    return _download(request, find_package(request, pk))


@admin_portal
def assignment_detail(request: HttpRequest, pk: UUID) -> HttpResponse:
    assignment = visible(request, Assignment.objects.select_related("package__catalog", "policy", "target"), pk)
    attempts = DeliveryAttempt.objects.select_related("connector").order_by("-started_at")
    grants = (
        RoleGrant.objects.filter(assignment=assignment)
        .select_related("resource_role__resource__connector")
        .prefetch_related(Prefetch("attempts_log", queryset=attempts))
        .order_by("resource_role__resource__display_name", "resource_role__display_name")
    )
    user = request.user
    return render(
        request,
        "governance/assignments/detail.html",
        {
            "assignment": assignment,
            "grants": grants,
            "requests": assignment.requests.select_related("policy").order_by("-created_at")[:20],
            "drifted": any(g.state == GrantState.DRIFTED for g in grants),
            "in_flight": assignment_in_flight(assignment, grant_states=[g.state for g in grants]),
            "can_assign": assignment.is_active and can(user, Action.ASSIGN, assignment),
            "can_reprocess": assignment.is_active and can(user, Action.REPROCESS, assignment),
            "remove_form": RemoveAssignmentForm(),
            "end_form": UpdateEndForm(initial={"end": assignment.end_at}),
        },
    )


@admin_portal
def assignment_create(request: HttpRequest, pk: UUID) -> HttpResponse:
    """New assignment (seed 003 "Directly assign a user"), through an admin-direct policy."""
    package = find_package(request, pk, Action.ASSIGN)
    policies = package.policies.filter(allowed_target_scope=TargetScope.NO_ONE, enabled=True).order_by("created_at")
    form = NewAssignmentForm(request.POST or None, policies=policies)
    if request.method == "POST" and not searching(form, request.POST) and form.is_valid():
        data = form.cleaned_data

        def assign() -> str:
            created = assignment_service.create_direct_assignments(
                request.user,
                package.pk,
                policy_id=data["policy"].pk,
                target_ids=[u.pk for u in data["users"]],
                start=data["start"],
                end=data["end"],
                justification=data["justification"],
            )
            names = ", ".join(str(r.target) for r in created)
            scheduled = any(r.state == RequestState.SCHEDULED for r in created)
            messages.success(request, f"{'Scheduled' if scheduled else 'Assigned'}: {names}.")
            return reverse("governance:package_assignments", args=[package.pk])

        with refusals_on(form):
            return redirect(submit_once(request, form.token, assign))
    return render(
        request,
        "governance/assignments/new.html",
        {**package_tabs(request, package, "assignments"), "form": form, "policies": policies},
    )


@admin_portal
def assignment_remove(request: HttpRequest, pk: UUID) -> HttpResponse:
    """GET: what removing it would take away (rule 7's what-if); POST: remove it."""
    if request.method != "POST":
        assignment = visible(request, Assignment.objects.select_related("package", "target"), pk)
        require(request, Action.ASSIGN, assignment)
        back = reverse("governance:assignment_detail", args=[pk])
        if not assignment.is_active:
            messages.info(request, f"This assignment is already {assignment.get_state_display().lower()}.")
            return redirect(back)
        return confirm_page(
            request,
            Confirmation(
                title=f"Remove {assignment.target}'s assignment to {assignment.package}?",
                lead="The assignment ends now. Access another active assignment still justifies stays (rule 7).",
                button="Remove assignment",
                action=reverse("governance:assignment_remove", args=[pk]),
                back=back,
                what_if=explain.removing_assignments([assignment.pk], viewer=request.user),
                form=RemoveAssignmentForm(initial={"justification": request.GET.get("justification", "")}),
            ),
        )
    form = RemoveAssignmentForm(request.POST)
    form.is_valid()
    with refusals_as_messages(request):
        removal = assignment_service.remove_assignment(request.user, pk, form.cleaned_data.get("justification", ""))
        if removal is None:
            messages.info(request, "This assignment was already removed.")
        else:
            messages.success(request, "Assignment removed; its access is being taken away.")
    return redirect("governance:assignment_detail", pk=pk)


@admin_portal
@require_POST
def assignment_remove_selected(request: HttpRequest) -> HttpResponse:
    """Bulk Remove from a list: first a page that says who loses what (nothing changes yet),
    then, confirmed, each removal queued as a single Remove would be."""
    ids = [pk for pk in dict.fromkeys(selected_ids(request)) if is_uuid(pk)]
    back = safe_next(request, reverse("governance:assignment_list"))
    if not ids:
        messages.error(request, "Select at least one assignment to remove.")
        return redirect(back)
    if request.POST.get("confirm") != "yes":
        return _confirm_removal(request, ids, back)
    form = RemoveAssignmentForm(request.POST)
    form.is_valid()
    with refusals_as_messages(request):
        result = assignment_service.remove_assignments(request.user, ids, form.cleaned_data.get("justification", ""))
        (messages.success if not result.skipped else messages.warning)(request, f"Remove: {result.summary()}")
    return redirect(back)


def _confirm_removal(request: HttpRequest, ids: list[str], back: str) -> HttpResponse:
    granted = (
        RoleGrant.objects.exclude(state__in=[GrantState.REVOKING, GrantState.REVOKED])
        .select_related("resource_role__resource")
        .order_by("resource_role__resource__display_name")
    )
    removable = list(
        restrict(
            Assignment.objects.filter(pk__in=ids[: assignment_service.MAX_BULK_REMOVE]), request.user, Action.ASSIGN
        )
        .filter(state__in=AssignmentState.ACTIVE)
        .select_related("target", "package")
        .prefetch_related(Prefetch("grants", queryset=granted, to_attr="held"))
        .order_by("target__display_name", "package__display_name")
    )
    people: dict[Any, list[Assignment]] = {}
    for assignment in removable:
        people.setdefault(assignment.target, []).append(assignment)
    return render(
        request,
        "governance/assignments/remove_selected.html",
        {
            "people": people,
            "ids": [str(a.pk) for a in removable],
            "left_out": len(ids) - len(removable),
            "back": back,
            "form": RemoveAssignmentForm(),
        },
    )


@admin_portal
@require_POST
def assignment_update_end(request: HttpRequest, pk: UUID) -> HttpResponse:
    form = UpdateEndForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Enter a valid end date and time.")
        return redirect("governance:assignment_detail", pk=pk)
    with refusals_as_messages(request):
        assignment_service.update_assignment_end(request.user, pk, form.cleaned_data["end"])
        messages.success(request, "End date changed.")
    return redirect("governance:assignment_detail", pk=pk)


@admin_portal
@require_POST
def assignment_reprocess(request: HttpRequest, pk: UUID) -> HttpResponse:
    with refusals_as_messages(request):
        assignment_service.reprocess_assignment(request.user, pk)
        messages.success(request, "Reprocessing: the target systems are checked and missing access is granted again.")
    return redirect(safe_next(request, reverse("governance:assignment_detail", args=[pk])))


@admin_portal
@require_POST
def assignment_reprocess_selected(request: HttpRequest) -> HttpResponse:
    """Seed 004: select assignments, click Reprocess; ineligible ones are reported."""
    return reprocess_selected(
        request, "assignment", reverse("governance:assignment_list"), assignment_service.reprocess_assignments
    )
