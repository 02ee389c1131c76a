"""Connected organizations: external organizations, by domain, whose users policies may
let request. Only administrators with a global role see this page."""

from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.db.models import Count, Prefetch
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from governance.filters import OrganizationFilter
from governance.forms import CollaborationForm, ConfirmForm, OrganizationForm
from governance.models import ConnectedOrganization, OrganizationDomain
from governance.permissions import Action, can_globally, restrict
from governance.services import organizations as organization_service
from governance.views.access import admin_portal, require, visible
from governance.views.listing import render_filtered
from governance.views.outcomes import delete_once, submit_once
from governance.web import refusals_on


def _may_manage(request: HttpRequest) -> None:
    if not can_globally(request.user, Action.MANAGE_ORGANIZATIONS):
        raise Http404("Not found.")


def find_organization(request: HttpRequest, pk: UUID) -> ConnectedOrganization:
    organization = visible(request, ConnectedOrganization.objects.all(), pk)
    require(request, Action.MANAGE_ORGANIZATIONS, organization)
    return organization


@admin_portal
def organization_list(request: HttpRequest) -> HttpResponse:
    _may_manage(request)
    organizations = (
        restrict(ConnectedOrganization.objects.all(), request.user, Action.VIEW)
        .annotate(user_count=Count("users", distinct=True), policy_count=Count("policies", distinct=True))
        .prefetch_related(Prefetch("domains", queryset=OrganizationDomain.objects.order_by("domain")))
    )
    return render_filtered(
        request,
        "organizations",
        OrganizationFilter(request.GET, queryset=organizations),
        collaboration=organization_service.collaboration_restriction(),
    )


@admin_portal
def organization_collaboration(request: HttpRequest) -> HttpResponse:
    """Collaboration restrictions (Entra's tenant setting): allow any domain, deny a list, or
    allow only a list. Sign-in and the policy form both respect it."""
    _may_manage(request)
    current = organization_service.collaboration_restriction()
    form = CollaborationForm(
        request.POST if request.method == "POST" else None,
        initial={"mode": current.mode, "domains": "\n".join(current.domain_list)},
    )
    if request.method == "POST" and form.is_valid():
        with refusals_on(form):
            saved = organization_service.update_collaboration_restriction(
                request.user, mode=form.cleaned_data["mode"], domains=form.cleaned_data["domains"]
            )
            messages.success(request, f"Collaboration restrictions saved: {saved.get_mode_display()}.")
            return redirect("governance:organization_list")
    return render(request, "governance/organizations/collaboration.html", {"form": form})


@admin_portal
def organization_create(request: HttpRequest) -> HttpResponse:
    _may_manage(request)
    form = OrganizationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data

        def create() -> str:
            organization = organization_service.create_organization(
                request.user,
                display_name=data["display_name"],
                description=data["description"],
                domains=data["domains"],
                state=data["state"],
            )
            messages.success(request, f"Connected organization {organization} added.")
            return reverse("governance:organization_list")

        with refusals_on(form):
            return redirect(submit_once(request, form.token, create))
    return render(request, "governance/organizations/form.html", {"form": form, "organization": None})


@admin_portal
def organization_edit(request: HttpRequest, pk: UUID) -> HttpResponse:
    organization = find_organization(request, pk)
    form = OrganizationForm(
        request.POST or None,
        initial={
            "display_name": organization.display_name,
            "description": organization.description,
            "domains": " ".join(organization.domains.values_list("domain", flat=True)),
            "state": organization.state,
        },
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        with refusals_on(form):
            organization_service.update_organization(
                request.user,
                organization.pk,
                display_name=data["display_name"],
                description=data["description"],
                domains=data["domains"],
                state=data["state"],
            )
            messages.success(request, "Changes saved.")
            return redirect("governance:organization_list")
    return render(request, "governance/organizations/form.html", {"form": form, "organization": organization})


@admin_portal
def organization_delete(request: HttpRequest, pk: UUID) -> HttpResponse:
    """Refused, with the policies named, while a policy still names the organization."""
    if request.method == "POST":

        def delete() -> str:
            organization = find_organization(request, pk)
            organization_service.delete_organization(request.user, organization.pk)
            messages.success(request, f"Connected organization {organization} deleted.")
            return reverse("governance:organization_list")

        return delete_once(request, delete, reverse("governance:organization_edit", args=[pk]))
    organization = find_organization(request, pk)
    return render(
        request, "governance/organizations/delete.html", {"organization": organization, "form": ConfirmForm()}
    )
