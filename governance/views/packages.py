"""Access packages: the list, a new package, and the package's Overview and Resource roles
tabs (seed 003: Hidden, Delete, Add resource roles, Remove resource role)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from governance.filters import PackageFilter
from governance.forms import (
    AddRoleForm,
    AddRolesForm,
    ConfirmForm,
    PackageEditForm,
    PackageForm,
    ShareLinkForm,
    searching,
)
from governance.models import (
    AccessPackage,
    AssignmentState,
    Catalog,
    PackageResourceRole,
    RequestState,
    RoleOperation,
    RoleOperationState,
)
from governance.permissions import Action, can, restrict
from governance.services import explain, notifications, sharing
from governance.services import packages as package_service
from governance.views.access import admin_portal, may_somewhere, require, visible
from governance.views.listing import render_filtered
from governance.views.outcomes import delete_once, refusals_as_messages, submit_once
from governance.web import Confirmation, confirm_page, refusals_on, render_page

RECENT_OPERATIONS = 5


def package_tabs(request: HttpRequest, package: AccessPackage, tab: str) -> dict[str, Any]:
    """What every tab of a package page needs: the package, the tab, and what the person may do."""
    user = request.user
    return {
        "package": package,
        "tab": tab,
        "can_manage": can(user, Action.MANAGE, package),
        "can_assign": can(user, Action.ASSIGN, package),
        "can_reprocess": can(user, Action.REPROCESS, package),
        "can_cancel": can(user, Action.CANCEL, package),
    }


def render_list(
    request: HttpRequest,
    package: AccessPackage | None,
    kind: str,
    context_of: Callable[[HttpRequest, AccessPackage | None], dict[str, Any]],
) -> HttpResponse:
    """The list of ``kind`` ("requests", "assignments") across packages, or on a package's tab
    of that name; ``governance/<kind>/_table.html`` is what htmx swaps."""
    context = context_of(request, package)
    partial = f"governance/{kind}/_table.html"
    if package is None:
        return render_page(request, f"governance/{kind}/list.html", context, partial=partial)
    tabs = package_tabs(request, package, kind)
    return render_page(request, f"governance/packages/{kind}.html", {**tabs, **context}, partial=partial)


def find_package(request: HttpRequest, pk: UUID, action: Action | None = None) -> AccessPackage:
    """A package the person may see (and, with ``action``, act on), or 404."""
    package = visible(request, AccessPackage.objects.select_related("catalog"), pk)
    if action is not None:
        require(request, action, package)
    return package


# --- List and create ----------------------------------------------------------------------


@admin_portal
def package_list(request: HttpRequest) -> HttpResponse:
    catalogs = restrict(Catalog.objects.all(), request.user, Action.VIEW)
    # No count of assignments per row: at 10,000 a package, counting 50 of them costs
    # more than the page; the Overview has the count.
    packages = restrict(AccessPackage.objects.all(), request.user, Action.VIEW).select_related("catalog")
    filterset = PackageFilter(request.GET, queryset=packages, catalogs=catalogs)
    return render_filtered(request, "packages", filterset, can_create=may_somewhere(request, Action.MANAGE))


@admin_portal
def package_create(request: HttpRequest) -> HttpResponse:
    if not may_somewhere(request, Action.MANAGE):
        raise Http404("Not found.")
    catalogs = restrict(Catalog.objects.all(), request.user, Action.MANAGE)
    form = PackageForm(request.POST or None, catalogs=catalogs, initial={"catalog": request.GET.get("catalog")})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data

        def create() -> str:
            package = package_service.create_package(
                request.user,
                data["catalog"].pk,
                display_name=data["display_name"],
                description=data["description"],
                is_hidden=data["is_hidden"],
            )
            messages.success(request, f"Access package {package} created. Next: add resource roles and a policy.")
            return reverse("governance:package_roles", args=[package.pk])

        with refusals_on(form):
            return redirect(submit_once(request, form.token, create))
    return render(request, "governance/packages/new.html", {"form": form})


# --- Overview -----------------------------------------------------------------------------


@admin_portal
def package_overview(request: HttpRequest, pk: UUID) -> HttpResponse:
    package = find_package(request, pk)
    counts = {
        "active_assignments": package.assignments.filter(state__in=AssignmentState.ACTIVE).count(),
        "open_requests": package.requests.filter(state__in=RequestState.OPEN).count(),
        "policies": package.policies.count(),
        "roles": package.role_links.count(),
        "incompatible": package.incompatible_packages.count()
        + package.incompatible_with.count()
        + package.incompatible_groups.count(),
    }
    context = package_tabs(request, package, "overview")
    context.update(
        counts=counts,
        link=notifications.package_link(package),
        share_form=ShareLinkForm() if context["can_assign"] else None,
    )
    return render(request, "governance/packages/overview.html", context)


@admin_portal
def package_edit(request: HttpRequest, pk: UUID) -> HttpResponse:
    """Overview > Edit: name, description and Hidden."""
    package = find_package(request, pk, Action.MANAGE)
    form = PackageEditForm(
        request.POST or None,
        initial={
            "display_name": package.display_name,
            "description": package.description,
            "is_hidden": package.is_hidden,
        },
    )
    if request.method == "POST" and form.is_valid():
        with refusals_on(form):
            package_service.update_package(request.user, package.pk, **form.cleaned_data)
            messages.success(request, "Changes saved.")
            return redirect("governance:package_overview", pk=package.pk)
    return render(
        request, "governance/packages/edit.html", {**package_tabs(request, package, "overview"), "form": form}
    )


@admin_portal
def package_delete(request: HttpRequest, pk: UUID) -> HttpResponse:
    """Rule 10: refused with the reason while active assignments or open requests remain."""
    if request.method == "POST":

        def delete() -> str:
            package = find_package(request, pk, Action.MANAGE)
            package_service.delete_package(request.user, package.pk)
            messages.success(request, f"Access package {package} deleted.")
            return reverse("governance:package_list")

        return delete_once(request, delete, reverse("governance:package_overview", args=[pk]))
    package = find_package(request, pk, Action.MANAGE)
    return render(
        request,
        "governance/packages/delete.html",
        {**package_tabs(request, package, "overview"), "form": ConfirmForm()},
    )


@admin_portal
@require_POST
def package_share(request: HttpRequest, pk: UUID) -> HttpResponse:
    """Overview > Email this link: the My Access link to named people."""
    package = find_package(request, pk, Action.ASSIGN)
    form = ShareLinkForm(request.POST)
    if searching(form, request.POST) or not form.is_valid():
        context = package_tabs(request, package, "overview")
        return render(request, "governance/packages/share.html", {**context, "share_form": form})
    data = form.cleaned_data
    not_allowed = sharing.recipients_no_policy_allows(package, data["recipients"])
    if not_allowed and not data["send_anyway"]:
        # Warn first: the link would only tell these people they can't request the package.
        context = package_tabs(request, package, "overview")
        confirmed = request.POST.copy()
        confirmed["send_anyway"] = "on"
        warned = ShareLinkForm(confirmed)
        warned.is_valid()
        return render(
            request, "governance/packages/share.html", {**context, "share_form": warned, "not_allowed": not_allowed}
        )

    def share() -> str:
        sent = sharing.email_package_link(request.user, package.pk, [u.pk for u in data["recipients"]], data["note"])
        messages.success(request, f"The link was emailed to {sent} {'person' if sent == 1 else 'people'}.")
        return reverse("governance:package_overview", args=[package.pk])

    with refusals_on(form):
        return redirect(submit_once(request, form.token, share))
    return render(
        request, "governance/packages/share.html", {**package_tabs(request, package, "overview"), "share_form": form}
    )


# --- Resource roles -----------------------------------------------------------------------


def _operations(package: AccessPackage) -> list[dict[str, Any]]:
    """The latest role changes with their propagation progress (rule 8)."""
    rows = []
    for operation in RoleOperation.objects.filter(package=package).order_by("-created_at")[:RECENT_OPERATIONS]:
        progress = package_service.operation_progress(operation)
        running = operation.state == RoleOperationState.PROPAGATING or progress["queued"] > 0
        total = max(progress["total"], 1)
        rows.append(
            {
                "operation": operation,
                "progress": progress,
                "running": running,
                "percent": min(100, round(100 * (progress["done"] + progress["failed"]) / total)),
            }
        )
    return rows


def _operations_context(package: AccessPackage) -> dict[str, Any]:
    operations = _operations(package)
    return {"package": package, "operations": operations, "polling": any(o["running"] for o in operations)}


@admin_portal
def package_roles(request: HttpRequest, pk: UUID) -> HttpResponse:
    package = find_package(request, pk)
    links = (
        PackageResourceRole.objects.filter(package=package)
        .select_related("resource_role__resource__connector")
        .order_by("resource_role__resource__display_name", "resource_role__display_name")
    )
    return render(
        request,
        "governance/packages/roles.html",
        {**package_tabs(request, package, "roles"), "links": links, **_operations_context(package)},
    )


@admin_portal
def package_role_progress(request: HttpRequest, pk: UUID) -> HttpResponse:
    """The progress panel alone, polled by htmx while a change propagates."""
    package = find_package(request, pk)
    return render(request, "governance/packages/_operations.html", _operations_context(package))


@admin_portal
def package_role_add(request: HttpRequest, pk: UUID) -> HttpResponse:
    """Add resource roles (seed 003): tick the resources, choose each one's role, Add.

    A post naming one ``resource`` and its ``resource_role`` (the earlier one-at-a-time
    form, kept for links and scripts) adds that one role."""
    package = find_package(request, pk, Action.MANAGE)
    if request.method == "POST" and "resource_role" in request.POST:
        single = AddRoleForm(request.POST, package=package)
        if single.is_valid():
            with refusals_on(single):
                role = single.cleaned_data["resource_role"]
                operation = package_service.add_resource_role(request.user, package.pk, role.pk)
                if operation is None:
                    messages.info(request, f"{role} is already in this access package.")
                else:
                    messages.success(
                        request, f"{role} added. Existing assignments ({operation.total}) get it in the background."
                    )
                return redirect("governance:package_roles", pk=package.pk)
        form = AddRolesForm(None, package=package)
        # The one-role form's refusal, shown at the top of the page's form.
        form.errors["__all__"] = form.error_class([str(e) for errors in single.errors.values() for e in errors])
    else:
        form = AddRolesForm(request.POST if request.method == "POST" else None, package=package)
        if request.method == "POST" and form.is_valid():
            with refusals_on(form):
                added = package_service.add_resource_roles(request.user, package.pk, form.cleaned_data["role_ids"])
                operations = [operation for _, operation in added if operation is not None]
                names = ", ".join(label for label, _ in added)
                if not operations:
                    messages.info(request, f"Already in this access package: {names}.")
                else:
                    total = operations[0].total
                    noun = "role" if len(operations) == 1 else "roles"
                    messages.success(
                        request,
                        f"{names} added. Existing assignments ({total}) get the {noun} in the background.",
                    )
                return redirect("governance:package_roles", pk=package.pk)
    return render(
        request,
        "governance/packages/add_role.html",
        {**package_tabs(request, package, "roles"), "form": form, "chosen_resource": request.GET.get("resource")},
    )


@admin_portal
def package_role_remove(request: HttpRequest, pk: UUID, role_pk: UUID) -> HttpResponse:
    """GET: who would lose the role and who keeps it through another package; POST: remove it."""
    package = find_package(request, pk, Action.MANAGE)
    if request.method != "POST":
        link = (
            PackageResourceRole.objects.select_related("resource_role__resource")
            .filter(package=package, resource_role_id=role_pk)
            .first()
        )
        back = reverse("governance:package_roles", args=[package.pk])
        if link is None:
            messages.info(request, "This resource role is no longer in the access package.")
            return redirect(back)
        role = link.resource_role
        return confirm_page(
            request,
            Confirmation(
                title=f"Remove {role} from {package}?",
                lead="Every active assignment of the package loses it, in the background, unless another "
                "assignment still justifies it (rule 7). New assignments will not get it.",
                button="Remove resource role",
                action=reverse("governance:package_role_remove", args=[package.pk, role.pk]),
                back=back,
                what_if=explain.removing_role_from_package(package.pk, role.pk, viewer=request.user),
            ),
        )
    with refusals_as_messages(request):
        operation = package_service.remove_resource_role(request.user, package.pk, role_pk)
        if operation is None:
            messages.info(request, "This resource role is no longer in the access package.")
        else:
            messages.success(
                request,
                f"{operation.role_label} removed. Existing assignments ({operation.total}) lose it in the background.",
            )
    return redirect("governance:package_roles", pk=package.pk)
