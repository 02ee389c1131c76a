"""Catalogs: list, create, edit, delete (rule 10), their members' roles, and the resources
in them, added from a connector by searching it (rule 17: only what one may add)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.contrib import messages
from django.db import transaction
from django.db.models import Count, Exists, OuterRef
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from governance.connectors import ConnectorError
from governance.errors import DomainError
from governance.filters import CatalogFilter
from governance.forms import (
    AddResourceForm,
    CatalogEditForm,
    CatalogForm,
    CatalogRoleForm,
    ConfirmForm,
    ResourceSearchForm,
    searching,
)
from governance.models import (
    AccessPackage,
    Catalog,
    CatalogRoleAssignment,
    PackageResourceRole,
)
from governance.permissions import Action, can, can_globally, may_add_any_resource, restrict
from governance.services import catalogs as catalog_service
from governance.views.access import admin_portal, require, visible
from governance.views.listing import render_filtered
from governance.views.outcomes import delete_once, refusals_as_messages, submit_once
from governance.web import attach_error, refusals_on, render_page


def find_catalog(request: HttpRequest, pk: UUID, action: Action | None = None) -> Catalog:
    catalog = visible(request, Catalog.objects.all(), pk)
    if action is not None:
        require(request, action, catalog)
    return catalog


@admin_portal
def catalog_list(request: HttpRequest) -> HttpResponse:
    catalogs = restrict(Catalog.objects.all(), request.user, Action.VIEW).annotate(
        package_count=Count("packages", distinct=True), resource_count=Count("resources", distinct=True)
    )
    filterset = CatalogFilter(request.GET, queryset=catalogs)
    return render_filtered(request, "catalogs", filterset, can_create=can_globally(request.user, Action.CREATE_CATALOG))


@admin_portal
def catalog_create(request: HttpRequest) -> HttpResponse:
    if not can_globally(request.user, Action.CREATE_CATALOG):
        raise Http404("Not found.")
    form = CatalogForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data

        def create() -> str:
            catalog = catalog_service.create_catalog(
                request.user,
                display_name=data["display_name"],
                description=data["description"],
                is_externally_visible=data["is_externally_visible"],
            )
            messages.success(request, f"Catalog {catalog} created.")
            return reverse("governance:catalog_detail", args=[catalog.pk])

        with refusals_on(form):
            return redirect(submit_once(request, form.token, create))
    return render(request, "governance/catalogs/new.html", {"form": form})


def _resources(catalog: Catalog) -> Any:
    used = PackageResourceRole.objects.filter(resource_role__resource=OuterRef("pk"))
    return (
        catalog.resources.select_related("connector")
        .annotate(role_count=Count("roles", distinct=True), in_use=Exists(used))
        .order_by("display_name")
    )


@admin_portal
def catalog_detail(request: HttpRequest, pk: UUID) -> HttpResponse:
    catalog = find_catalog(request, pk)
    manage = can(request.user, Action.MANAGE_CATALOG, catalog)
    return render(
        request,
        "governance/catalogs/detail.html",
        {
            "catalog": catalog,
            "can_manage": manage,
            "can_create_package": can(request.user, Action.MANAGE, catalog),
            "members": CatalogRoleAssignment.objects.filter(catalog=catalog)
            .select_related("user")
            .order_by("role", "user__display_name"),
            "resources": _resources(catalog),
            "packages": AccessPackage.objects.filter(catalog=catalog).order_by("display_name"),
            "role_form": CatalogRoleForm() if manage else None,
        },
    )


@admin_portal
def catalog_edit(request: HttpRequest, pk: UUID) -> HttpResponse:
    catalog = find_catalog(request, pk, Action.MANAGE_CATALOG)
    form = CatalogEditForm(
        request.POST or None,
        initial={
            "display_name": catalog.display_name,
            "description": catalog.description,
            "is_externally_visible": catalog.is_externally_visible,
            "state": catalog.state,
        },
    )
    if request.method == "POST" and form.is_valid():
        changes = {k: v for k, v in form.cleaned_data.items() if k != "submission"}
        with refusals_on(form):
            catalog_service.update_catalog(request.user, catalog.pk, **changes)
            messages.success(request, "Changes saved.")
            return redirect("governance:catalog_detail", pk=catalog.pk)
    return render(request, "governance/catalogs/edit.html", {"catalog": catalog, "form": form})


@admin_portal
def catalog_delete(request: HttpRequest, pk: UUID) -> HttpResponse:
    """Rule 10: only an empty catalog; otherwise the message says what is still in it."""
    if request.method == "POST":

        def delete() -> str:
            catalog = find_catalog(request, pk, Action.MANAGE_CATALOG)
            catalog_service.delete_catalog(request.user, catalog.pk)
            messages.success(request, f"Catalog {catalog} deleted.")
            return reverse("governance:catalog_list")

        return delete_once(request, delete, reverse("governance:catalog_detail", args=[pk]))
    catalog = find_catalog(request, pk, Action.MANAGE_CATALOG)
    return render(request, "governance/catalogs/delete.html", {"catalog": catalog, "form": ConfirmForm()})


@admin_portal
@require_POST
def catalog_role_add(request: HttpRequest, pk: UUID) -> HttpResponse:
    catalog = find_catalog(request, pk, Action.MANAGE_CATALOG)
    form = CatalogRoleForm(request.POST)
    if searching(form, request.POST) or not form.is_valid():
        return render(request, "governance/catalogs/add_member.html", {"catalog": catalog, "role_form": form})
    role = form.cleaned_data["role"]
    try:
        with transaction.atomic():  # everyone chosen gets the role, or nobody does
            for user in form.cleaned_data["users"]:
                catalog_service.add_catalog_role(request.user, catalog.pk, user.pk, role)
    except DomainError as error:
        attach_error(form, error, {"user": "users"})
        return render(request, "governance/catalogs/add_member.html", {"catalog": catalog, "role_form": form})
    names = ", ".join(str(u) for u in form.cleaned_data["users"])
    messages.success(request, f"{names}: {dict(form.fields['role'].choices)[role]}.")  # type: ignore[attr-defined]
    return redirect("governance:catalog_detail", pk=catalog.pk)


@admin_portal
@require_POST
def catalog_role_remove(request: HttpRequest, pk: UUID, role_pk: UUID) -> HttpResponse:
    catalog = find_catalog(request, pk, Action.MANAGE_CATALOG)
    with refusals_as_messages(request):
        catalog_service.remove_catalog_role(request.user, role_pk)
        messages.success(request, "Role removed.")
    return redirect("governance:catalog_detail", pk=catalog.pk)


@admin_portal
def catalog_resource_add(request: HttpRequest, pk: UUID) -> HttpResponse:
    """Search a connector's groups, then Add one to the catalog (a resource with its roles).

    Rule 17: the picker offers only what the person may add, and the service refuses the rest.
    """
    catalog = find_catalog(request, pk, Action.MANAGE_CATALOG)
    connectors = catalog_service.addable_connectors(request.user)
    query = request.GET.copy()
    first = connectors.first()
    if first is not None:
        query.setdefault("connector", str(first.pk))
    search = ResourceSearchForm(query, connectors=connectors)
    results: list[catalog_service.Candidate] = []
    problem = ""
    connector = None
    typed = AddResourceForm(request.POST or None)
    tested = ""
    if request.method == "POST" and request.POST.get("action") == "test":
        # "Test" a resource typed by its id: look it up, change nothing, keep what was typed.
        with refusals_as_messages(request):
            worked, tested = catalog_service.test_resource(
                request.user, catalog.pk, request.POST.get("connector", ""), request.POST.get("origin_id", "")
            )
            (messages.success if worked else messages.error)(request, f"Test: {tested}")
    elif request.method == "POST":
        if typed.is_valid():
            data = typed.cleaned_data
            with refusals_as_messages(request):
                resource = catalog_service.add_resource(
                    request.user,
                    catalog.pk,
                    connector_id=data["connector"],
                    origin_id=data["origin_id"],
                    display_name=data["display_name"],
                    resource_type=data["resource_type"],
                )
                messages.success(request, f"{resource} added to {catalog}.")
                return redirect(request.get_full_path())
        elif request.POST.get("typed"):
            messages.error(request, "Type the resource's id and a name for it.")
        else:
            messages.error(request, "Choose a group from the search results.")
        if not request.POST.get("typed"):
            return redirect(request.get_full_path())
    if search.is_valid():
        connector = search.cleaned_data["connector"]
    listable = connector is None or catalog_service.can_list_resources(connector)
    if connector is not None and search.cleaned_data["q"] and listable:
        try:
            results = catalog_service.find_resources(request.user, catalog, connector, search.cleaned_data["q"])
        except ConnectorError as error:
            problem = error.message
    return render_page(
        request,
        "governance/catalogs/add_resource.html",
        {
            "catalog": catalog,
            "search": search,
            "connector": connector,
            "results": results,
            "problem": problem,
            "searched": bool(query.get("q")),
            "owners_only": not may_add_any_resource(request.user),
            "no_connectors": first is None,
            "listable": listable,
            "typed": typed if request.POST.get("typed") else AddResourceForm(),
            "typed_open": bool(request.POST.get("typed")) or not listable,
        },
        partial="governance/catalogs/_resource_results.html",
    )


@admin_portal
@require_POST
def catalog_resource_remove(request: HttpRequest, pk: UUID, resource_pk: UUID) -> HttpResponse:
    catalog = find_catalog(request, pk, Action.MANAGE_CATALOG)
    resource = catalog.resources.filter(pk=resource_pk).first()
    if resource is None:
        messages.info(request, "This resource is no longer in the catalog.")
        return redirect("governance:catalog_detail", pk=catalog.pk)
    with refusals_as_messages(request):
        catalog_service.delete_resource(request.user, resource.pk)
        messages.success(request, f"{resource} removed from {catalog}.")
    return redirect("governance:catalog_detail", pk=catalog.pk)
