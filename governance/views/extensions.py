"""A catalog's Custom extensions (rule 16): list, add, edit (the secret stays write-only),
delete."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from governance.forms import ExtensionForm
from governance.models import Catalog, CustomExtension
from governance.permissions import Action, can
from governance.services import extensions as extension_service
from governance.views.access import admin_portal
from governance.views.catalogs import find_catalog
from governance.views.outcomes import refusals_as_messages
from governance.web import refusals_on


def _context(request: HttpRequest, catalog: Catalog, **extra: Any) -> dict[str, Any]:
    return {
        "catalog": catalog,
        "can_manage": can(request.user, Action.MANAGE_CATALOG, catalog),
        "extensions": CustomExtension.objects.filter(catalog=catalog).order_by("display_name"),
        **extra,
    }


@admin_portal
def extension_list(request: HttpRequest, pk: UUID) -> HttpResponse:
    catalog = find_catalog(request, pk)
    form = ExtensionForm() if can(request.user, Action.MANAGE_CATALOG, catalog) else None
    return render(request, "governance/catalogs/extensions.html", _context(request, catalog, form=form))


def _save(request: HttpRequest, catalog: Catalog, extension: CustomExtension | None) -> HttpResponse:
    form = ExtensionForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        with refusals_on(form):
            saved = extension_service.save_extension(
                request.user,
                catalog.pk,
                extension_id=extension.pk if extension else None,
                display_name=data["display_name"],
                description=data["description"],
                endpoint_url=data["endpoint_url"],
                secret=data["secret"],
                stage=data["stage"],
                mode=data["mode"],
                timeout_minutes=data["timeout_minutes"],
            )
            messages.success(request, f"Custom extension {saved} {'saved' if extension else 'added'}.")
            return redirect("governance:extension_list", pk=catalog.pk)
    template = "governance/catalogs/extension_edit.html" if extension else "governance/catalogs/extensions.html"
    return render(request, template, _context(request, catalog, form=form, extension=extension))


@admin_portal
@require_POST
def extension_create(request: HttpRequest, pk: UUID) -> HttpResponse:
    return _save(request, find_catalog(request, pk, Action.MANAGE_CATALOG), None)


@admin_portal
def extension_edit(request: HttpRequest, pk: UUID, extension_pk: UUID) -> HttpResponse:
    catalog = find_catalog(request, pk, Action.MANAGE_CATALOG)
    extension = CustomExtension.objects.filter(pk=extension_pk, catalog=catalog).first()
    if extension is None:
        raise Http404("Not found.")
    if request.method == "POST":
        return _save(request, catalog, extension)
    form = ExtensionForm(
        initial={
            "display_name": extension.display_name,
            "description": extension.description,
            "endpoint_url": extension.endpoint_url,
            "stage": extension.stage,
            "mode": extension.mode,
            "timeout_minutes": extension.timeout_minutes,
        }
    )
    return render(
        request, "governance/catalogs/extension_edit.html", _context(request, catalog, form=form, extension=extension)
    )


@admin_portal
@require_POST
def extension_delete(request: HttpRequest, pk: UUID, extension_pk: UUID) -> HttpResponse:
    catalog = find_catalog(request, pk, Action.MANAGE_CATALOG)
    with refusals_as_messages(request):
        extension_service.delete_extension(request.user, catalog.pk, extension_pk)
        messages.success(request, "Custom extension deleted. Calls already made stay on their requests.")
    return redirect("governance:extension_list", pk=catalog.pk)
