"""The "Sign-in and directory" page: is single sign-on configured and reachable, how did
the last directory sync go (and run one now), and what happens to external users when
their access ends, per connected organization."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from governance.errors import DomainError
from governance.forms import LifecycleForm
from governance.identity.ldap_reader import config_problems as sync_problems
from governance.identity.ldap_reader import sync_config
from governance.identity.oidc import ProviderUnavailable, discovery, forget_discovery, oidc_config
from governance.identity.oidc import config_problems as oidc_problems
from governance.models import ConnectedOrganization, DirectorySyncState, ExternalUserOffboarding
from governance.permissions import Action, can_globally, may_see_identity_page
from governance.services import external_users
from governance.services.directory_sync import pending_offboarding, request_sync
from governance.web import attach_error, not_found_on_refusal

UPCOMING_REMOVALS = 50


def _require_directory_admin(request: HttpRequest) -> None:
    if not can_globally(request.user, Action.MANAGE_DIRECTORY):
        raise Http404("Not found.")


@login_required
def identity_overview(request: HttpRequest) -> HttpResponse:
    if not may_see_identity_page(request.user):
        raise Http404("Not found.")
    oidc = oidc_config()
    sync = sync_config()
    state = DirectorySyncState.objects.filter(source=sync.source).first() if sync else None
    organizations = ConnectedOrganization.objects.select_related("lifecycle").order_by("display_name")
    removals = ExternalUserOffboarding.objects.select_related("user", "user__connected_organization").order_by(
        "remove_at"
    )
    return render(
        request,
        "governance/identity/overview.html",
        {
            "oidc": oidc,
            "oidc_problems": oidc_problems(oidc) if oidc else [],
            "sync": sync,
            "sync_problems": sync_problems(sync) if sync else [],
            "state": state,
            "awaiting_removal_of_access": pending_offboarding(sync.source) if sync else 0,
            "defaults": external_users.default_settings(),
            "organizations": list(organizations),
            "removals": list(removals[:UPCOMING_REMOVALS]),
            "removals_total": removals.count(),
            "can_edit_lifecycle": can_globally(request.user, Action.MANAGE_ORGANIZATIONS),
            "can_manage_directory": can_globally(request.user, Action.MANAGE_DIRECTORY),
        },
    )


@login_required
@require_POST
def test_sign_in(request: HttpRequest) -> HttpResponse:
    """Ask the identity provider for its discovery document now (not the cached one)."""
    _require_directory_admin(request)
    config = oidc_config()
    if config is None:
        raise Http404("Single sign-on is not configured.")
    forget_discovery(config)
    try:
        document = discovery(config)
    except ProviderUnavailable as exc:
        messages.error(request, f"Test sign-in configuration: {exc.message}")
    else:
        messages.success(
            request,
            f"Test sign-in configuration: {config.provider_name} answered as {document['issuer']}; "
            f"sign-in goes to {document['authorization_endpoint']}.",
        )
    return redirect("identity:overview")


@login_required
@require_POST
def sync_now(request: HttpRequest) -> HttpResponse:
    _require_directory_admin(request)
    try:
        request_sync(request.user)
    except DomainError as error:
        not_found_on_refusal(error)
        raise
    messages.success(request, "Directory sync queued: a worker runs it now; this page shows the outcome.")
    return redirect("identity:overview")


@login_required
def organization_lifecycle(request: HttpRequest, pk: Any) -> HttpResponse:
    if not can_globally(request.user, Action.MANAGE_ORGANIZATIONS):
        raise Http404("Not found.")
    organization = ConnectedOrganization.objects.filter(pk=pk).first()
    if organization is None:
        raise Http404("Connected organization not found.")
    current = external_users.settings_for(organization.pk)
    form = LifecycleForm(request.POST or None, initial=current.__dict__)
    if request.method == "POST" and form.is_valid():
        try:
            external_users.update_settings(request.user, organization.pk, **form.cleaned_data)  # type: ignore[arg-type]
        except DomainError as error:
            not_found_on_refusal(error)
            attach_error(form, error)
        else:
            messages.success(request, f"Saved what happens to {organization}'s external users.")
            return redirect("identity:overview")
    return render(
        request,
        "governance/identity/lifecycle_form.html",
        {"form": form, "organization": organization},
    )
