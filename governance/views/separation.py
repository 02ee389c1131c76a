"""Overview > Separation of duties (rule 13): the package's incompatible packages and
groups, and the people who already hold both sides (with a CSV download)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.contrib import messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from governance.forms import IncompatibleGroupForm, IncompatiblePackageForm, searching
from governance.models import AccessPackage
from governance.models.separation import held_both
from governance.permissions import Action, restrict
from governance.services import separation
from governance.views.access import admin_portal
from governance.views.listing import stream_csv
from governance.views.outcomes import refusals_as_messages
from governance.views.packages import find_package, package_tabs
from governance.web import refusals_on

CSV_HEADER = (
    "Person",
    "Email",
    "Assignment",
    "Assigned",
    "Incompatible with",
    "Kind",
    "Other assignment",
)


def _choices(request: HttpRequest, package: AccessPackage) -> QuerySet[AccessPackage]:
    """Packages the person may see, other than this one and those already linked (either way)."""
    return (
        restrict(AccessPackage.objects.all(), request.user, Action.VIEW)
        .exclude(pk=package.pk)
        .exclude(incompatible_with=package)
        .exclude(incompatible_packages=package)
        .select_related("catalog")
        .order_by("display_name")
    )


def _context(
    request: HttpRequest,
    package: AccessPackage,
    package_form: IncompatiblePackageForm | None = None,
    group_form: IncompatibleGroupForm | None = None,
) -> dict[str, Any]:
    context = package_tabs(request, package, "overview")
    context.update(
        listed=package.incompatible_packages.select_related("catalog").order_by("display_name"),
        listing=package.incompatible_with.select_related("catalog").order_by("display_name"),
        groups=package.incompatible_groups.order_by("display_name"),
        package_form=package_form or IncompatiblePackageForm(choices=_choices(request, package)),
        group_form=group_form or IncompatibleGroupForm(),
        held_both_count=len(held_both(package)),
    )
    return context


@admin_portal
def separation_of_duties(request: HttpRequest, pk: UUID) -> HttpResponse:
    package = find_package(request, pk)
    return render(request, "governance/packages/separation.html", _context(request, package))


@admin_portal
@require_POST
def incompatible_package_add(request: HttpRequest, pk: UUID) -> HttpResponse:
    package = find_package(request, pk, Action.MANAGE)
    form = IncompatiblePackageForm(request.POST, choices=_choices(request, package))
    if form.is_valid():
        other = form.cleaned_data["other"]
        with refusals_on(form):
            separation.add_incompatible_package(request.user, package.pk, other.pk)
            messages.success(request, f"{other} can no longer be combined with {package}.")
            return redirect("governance:package_separation", pk=package.pk)
    context = _context(request, package, package_form=form)
    return render(request, "governance/packages/separation.html", context)


@admin_portal
@require_POST
def incompatible_package_remove(request: HttpRequest, pk: UUID, other_pk: UUID) -> HttpResponse:
    package = find_package(request, pk, Action.MANAGE)
    with refusals_as_messages(request):
        separation.remove_incompatible_package(request.user, package.pk, other_pk)
        messages.success(request, "The access packages can be combined again.")
    return redirect("governance:package_separation", pk=package.pk)


@admin_portal
@require_POST
def incompatible_group_add(request: HttpRequest, pk: UUID) -> HttpResponse:
    package = find_package(request, pk, Action.MANAGE)
    form = IncompatibleGroupForm(request.POST)
    if searching(form, request.POST):
        return render(request, "governance/packages/separation.html", _context(request, package, group_form=form))
    if form.is_valid() and not form.cleaned_data["groups"]:
        form.add_error("groups", "Select at least one group.")
    if form.is_valid():
        with refusals_on(form):
            added = [
                separation.add_incompatible_group(request.user, package.pk, g.pk) for g in form.cleaned_data["groups"]
            ]
            names = ", ".join(str(g) for g in added)
            messages.success(request, f"Members of {names} can no longer have {package}.")
            return redirect("governance:package_separation", pk=package.pk)
    context = _context(request, package, group_form=form)
    return render(request, "governance/packages/separation.html", context)


@admin_portal
@require_POST
def incompatible_group_remove(request: HttpRequest, pk: UUID, group_pk: UUID) -> HttpResponse:
    package = find_package(request, pk, Action.MANAGE)
    with refusals_as_messages(request):
        separation.remove_incompatible_group(request.user, package.pk, group_pk)
        messages.success(request, "Members of the group can have this package again.")
    return redirect("governance:package_separation", pk=package.pk)


@admin_portal
def held_both_report(request: HttpRequest, pk: UUID) -> HttpResponse:
    """People who already hold both sides (assigned before the rule existed)."""
    package = find_package(request, pk)
    context = package_tabs(request, package, "overview")
    context["rows"] = held_both(package)
    return render(request, "governance/packages/held_both.html", context)


@admin_portal
def held_both_download(request: HttpRequest, pk: UUID) -> StreamingHttpResponse:
    package = find_package(request, pk)
    rows = (
        (
            row.person.display_name or row.person.username,
            row.person.email,
            row.assignment.pk,
            row.assignment.created_at,
            row.other_name,
            "Access package" if row.other_kind == "package" else "Group",
            row.other_assignment.pk if row.other_assignment else "",
        )
        for row in held_both(package)
    )
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    return stream_csv(f"separation-of-duties-{package.pk}-{stamp}.csv", CSV_HEADER, rows)
