"""Connected organizations: create, edit, delete (the API's connectedOrganizations)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from django.db import IntegrityError, transaction

from governance.models import (
    AssignmentPolicy,
    ConnectedOrganization,
    ConnectedOrganizationState,
    OrganizationDomain,
    TargetScope,
)
from governance.permissions import Action, get_for
from governance.services.audit import log_action
from governance.services.errors import NotAllowed, NotFound, StillInUse, ValidationFailed
from governance.services.requests import is_uuid


def _name(value: str) -> str:
    value = (value or "").strip()
    if not value:
        raise ValidationFailed("A name is required.", field="display_name")
    if len(value) > 256:
        raise ValidationFailed("The name can be at most 256 characters.", field="display_name")
    return value


def _domains(values: Sequence[str]) -> list[str]:
    domains = [d.strip().lower() for d in values if d and d.strip()]
    for domain in domains:
        if "." not in domain or " " in domain or "@" in domain or len(domain) > 253:
            raise ValidationFailed(f"'{domain}' is not a domain name.", field="domains")
    return list(dict.fromkeys(domains))


def _check_domains_free(domains: list[str], organization: ConnectedOrganization | None) -> None:
    taken = OrganizationDomain.objects.filter(domain__in=domains)
    if organization is not None:
        taken = taken.exclude(organization=organization)
    clash = taken.select_related("organization").first()
    if clash is not None:
        raise ValidationFailed(f"{clash.domain} already belongs to {clash.organization}.", field="domains")


def create_organization(
    actor: Any,
    *,
    display_name: str,
    description: str = "",
    domains: Sequence[str] = (),
    state: str = ConnectedOrganizationState.CONFIGURED,
) -> ConnectedOrganization:
    from governance.permissions import can_globally

    if not can_globally(actor, Action.MANAGE_ORGANIZATIONS):
        raise NotAllowed("You may not manage connected organizations.")
    display_name = _name(display_name)
    if state not in ConnectedOrganizationState.values:
        raise ValidationFailed("Choose configured or proposed.", field="state")
    clean = _domains(domains)
    if not clean:
        raise ValidationFailed("Give the organization's domain.", field="domains")
    with transaction.atomic():
        if ConnectedOrganization.objects.filter(display_name__iexact=display_name).exists():
            raise ValidationFailed("A connected organization with this name already exists.", field="display_name")
        _check_domains_free(clean, None)
        try:
            with transaction.atomic():
                organization = ConnectedOrganization.objects.create(
                    display_name=display_name, description=(description or "").strip(), state=state
                )
                OrganizationDomain.objects.bulk_create(
                    OrganizationDomain(organization=organization, domain=d) for d in clean
                )
        except IntegrityError as exc:
            raise ValidationFailed("This name or domain was just taken; try again.", field="display_name") from exc
        log_action(actor, "organization.created", organization, domains=clean, state=state)
    return organization


def update_organization(actor: Any, organization_id: UUID | str, **changes: Any) -> ConnectedOrganization:
    allowed = {"display_name", "description", "state", "domains"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationFailed(f"Cannot change {', '.join(sorted(unknown))} here.")
    if not is_uuid(organization_id):
        raise NotFound("Connected organization not found.")
    with transaction.atomic():
        organization: ConnectedOrganization = get_for(
            actor,
            Action.MANAGE_ORGANIZATIONS,
            ConnectedOrganization.objects.select_for_update(of=("self",)),
            organization_id,
            "connected organization",
        )
        diff: dict[str, Any] = {}
        if "display_name" in changes:
            name = _name(changes["display_name"])
            if ConnectedOrganization.objects.filter(display_name__iexact=name).exclude(pk=organization.pk).exists():
                raise ValidationFailed("A connected organization with this name already exists.", field="display_name")
            changes["display_name"] = name
        if "state" in changes and changes["state"] not in ConnectedOrganizationState.values:
            raise ValidationFailed("Choose configured or proposed.", field="state")
        for name in ("display_name", "description", "state"):
            if name in changes and getattr(organization, name) != changes[name]:
                diff[name] = [getattr(organization, name), changes[name]]
                setattr(organization, name, changes[name])
        if "domains" in changes:
            clean = _domains(changes["domains"])
            if not clean:
                raise ValidationFailed("Give the organization's domain.", field="domains")
            _check_domains_free(clean, organization)
            before = sorted(organization.domains.values_list("domain", flat=True))
            if before != sorted(clean):
                organization.domains.exclude(domain__in=clean).delete()
                OrganizationDomain.objects.bulk_create(
                    OrganizationDomain(organization=organization, domain=d) for d in clean if d not in before
                )
                diff["domains"] = [before, sorted(clean)]
        if diff:
            organization.save()
            log_action(actor, "organization.updated", organization, changes=diff)
    return organization


def delete_organization(actor: Any, organization_id: UUID | str) -> None:
    """Only an organization no policy names (its users stay, without an organization)."""
    if not is_uuid(organization_id):
        raise NotFound("Connected organization not found.")
    with transaction.atomic():
        organization: ConnectedOrganization = get_for(
            actor,
            Action.MANAGE_ORGANIZATIONS,
            ConnectedOrganization.objects.select_for_update(of=("self",)),
            organization_id,
            "connected organization",
        )
        names = list(
            AssignmentPolicy.objects.filter(
                allowed_target_scope=TargetScope.SPECIFIC_ORGANIZATIONS, specific_organizations=organization
            ).values_list("display_name", flat=True)[:6]
        )
        if names:
            raise StillInUse(f"{organization} is named by policies: {', '.join(names[:5])}. Change them first.")
        log_action(actor, "organization.deleted", organization)
        organization.delete()
