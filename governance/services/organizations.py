"""Connected organizations: external organizations, known by their domains, whose users a
policy may let request (DESIGN §2). Managed by administrators with a global role."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import IntegrityError, transaction

from governance.audit import log_action
from governance.errors import NotAllowed, NotFound, StillInUse, ValidationFailed
from governance.ids import is_uuid
from governance.models import (
    CollaborationMode,
    CollaborationRestriction,
    ConnectedOrganization,
    ConnectedOrganizationState,
    OrganizationDomain,
)
from governance.permissions import Action, can_globally
from governance.services.locks import lock_for
from governance.services.text import clean_name, clean_text

# A DNS name: labels of letters, digits and inner hyphens, a top-level label of letters.
DOMAIN = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def tenant_domains() -> list[str]:
    """The tenant's own email domains: its people's (``OIDC_MEMBER_DOMAINS``) and any others
    it declares (``TENANT_DOMAINS``)."""
    declared = [*settings.OIDC_MEMBER_DOMAINS, *settings.TENANT_DOMAINS]
    return list(dict.fromkeys(d.strip().lower().rstrip(".") for d in declared if d.strip()))


def tenant_domain_of(domain: str) -> str | None:
    """The tenant's domain that ``domain`` is, or is a subdomain of; None for anyone else's."""
    domain = domain.strip().lower().rstrip(".")
    for own in tenant_domains():
        if domain == own or domain.endswith("." + own):
            return own
    return None


def _clean_domains(domains: Sequence[str]) -> list[str]:
    cleaned = list(dict.fromkeys(d.strip().lower().rstrip(".") for d in domains if d and d.strip()))
    if not cleaned:
        raise ValidationFailed("Enter at least one domain of the organization.", field="domains")
    bad = [d for d in cleaned if not DOMAIN.match(d)]
    if bad:
        raise ValidationFailed(f"Not a domain name: {', '.join(bad)}.", field="domains")
    for domain in cleaned:
        own = tenant_domain_of(domain)
        if own is not None:
            raise ValidationFailed(
                f"{domain} is one of this organization's own domains ({own}): "
                "a connected organization cannot claim it.",
                field="domains",
            )
    return cleaned


def _check_unique(name: str, domains: list[str], organization: ConnectedOrganization | None) -> None:
    others = (
        ConnectedOrganization.objects.exclude(pk=organization.pk) if organization else ConnectedOrganization.objects
    )
    if others.filter(display_name__iexact=name).exists():
        raise ValidationFailed("A connected organization with this name already exists.", field="display_name")
    taken = OrganizationDomain.objects.filter(domain__in=domains).select_related("organization")
    if organization is not None:
        taken = taken.exclude(organization=organization)
    clash = taken.first()
    if clash is not None:
        raise ValidationFailed(f"{clash.domain} already belongs to {clash.organization}.", field="domains")


def _check_state(state: str) -> str:
    if state not in ConnectedOrganizationState.values:
        raise ValidationFailed("Choose Configured or Proposed.", field="state")
    return state


def create_organization(
    actor: Any,
    *,
    display_name: str,
    domains: Sequence[str],
    description: str = "",
    state: str = ConnectedOrganizationState.CONFIGURED,
) -> ConnectedOrganization:
    if not can_globally(actor, Action.MANAGE_ORGANIZATIONS):
        raise NotAllowed("You may not manage connected organizations.")
    name = clean_name(display_name, "display_name")
    cleaned = _clean_domains(domains)
    state = _check_state(state)
    with transaction.atomic():
        _check_unique(name, cleaned, None)
        try:
            with transaction.atomic():
                organization = ConnectedOrganization.objects.create(
                    display_name=name, description=clean_text(description, "description"), state=state
                )
                OrganizationDomain.objects.bulk_create(
                    OrganizationDomain(organization=organization, domain=domain) for domain in cleaned
                )
        except IntegrityError as exc:  # another administrator took the name or a domain meanwhile
            raise ValidationFailed("This name or domain was just taken; try again.", field="display_name") from exc
        log_action(actor, "organization.created", organization, domains=cleaned, state=state)
    return organization


def update_organization(actor: Any, organization_id: UUID | str, **changes: Any) -> ConnectedOrganization:
    """Change any of name, description, domains and state; what is not given stays.

    The portal's form sends all four; the API's PATCH only what it changes.
    """
    unknown = set(changes) - {"display_name", "description", "state", "domains"}
    if unknown:
        raise ValidationFailed(f"Cannot change {', '.join(sorted(unknown))} here.")
    if not is_uuid(organization_id):
        raise NotFound("Connected organization not found.")
    if "display_name" in changes:
        changes["display_name"] = clean_name(changes["display_name"], "display_name")
    if "description" in changes:
        changes["description"] = clean_text(changes["description"], "description")
    if "state" in changes:
        changes["state"] = _check_state(changes["state"])
    if "domains" in changes:
        changes["domains"] = sorted(_clean_domains(changes["domains"]))
    with transaction.atomic():
        organization: ConnectedOrganization = lock_for(
            actor, Action.MANAGE_ORGANIZATIONS, ConnectedOrganization.objects, organization_id, "connected organization"
        )
        before = {
            "display_name": organization.display_name,
            "description": organization.description,
            "state": organization.state,
            "domains": sorted(organization.domains.values_list("domain", flat=True)),
        }
        after = {**before, **changes}
        _check_unique(after["display_name"], after["domains"], organization)
        diff = {k: [before[k], v] for k, v in after.items() if before[k] != v}
        if diff:
            organization.display_name = after["display_name"]
            organization.description = after["description"]
            organization.state = after["state"]
            organization.save()
            organization.domains.exclude(domain__in=after["domains"]).delete()
            OrganizationDomain.objects.bulk_create(
                OrganizationDomain(organization=organization, domain=domain)
                for domain in after["domains"]
                if domain not in before["domains"]
            )
            log_action(actor, "organization.updated", organization, changes=diff)
    return organization


def delete_organization(actor: Any, organization_id: UUID | str) -> None:
    """Refused while a policy names the organization: the policy would silently change."""
    with transaction.atomic():
        organization: ConnectedOrganization = lock_for(
            actor, Action.MANAGE_ORGANIZATIONS, ConnectedOrganization.objects, organization_id, "connected organization"
        )
        policies = list(
            organization.policies.select_related("package").order_by("package__display_name", "display_name")[:6]
        )
        if policies:
            names = ", ".join(f"{p.package} · {p}" for p in policies[:5]) + (", …" if len(policies) > 5 else "")
            raise StillInUse(f"{organization} is named by policies: {names}. Remove it from them before deleting it.")
        log_action(
            actor,
            "organization.deleted",
            organization,
            domains=list(organization.domains.values_list("domain", flat=True)),
        )
        organization.delete()


# --- Collaboration restrictions (Entra's allow or deny list of external domains) ----------


def collaboration_restriction() -> CollaborationRestriction:
    """The tenant's one setting (allow any domain until an administrator says otherwise)."""
    found = CollaborationRestriction.objects.order_by("pk").first()
    return found if found is not None else CollaborationRestriction(mode=CollaborationMode.ANY)


def collaboration_refusal(domain: str, restriction: CollaborationRestriction | None = None) -> str | None:
    """Why the collaboration restrictions keep ``domain`` out, or None when they let it in."""
    restriction = restriction or collaboration_restriction()
    if restriction.allows(domain):
        return None
    if restriction.mode == CollaborationMode.ALLOW:
        return f"{domain} is not on the list of domains this organization collaborates with."
    return f"{domain} is on the list of domains this organization does not collaborate with."


def update_collaboration_restriction(actor: Any, *, mode: str, domains: Sequence[str]) -> CollaborationRestriction:
    """Set the allow or deny list (Connected organizations > Collaboration restrictions)."""
    if not can_globally(actor, Action.MANAGE_ORGANIZATIONS):
        raise NotAllowed("You may not manage connected organizations.")
    if mode not in CollaborationMode.values:
        raise ValidationFailed("Choose one of the collaboration restrictions.", field="mode")
    cleaned = list(dict.fromkeys(d.strip().lower().rstrip(".") for d in domains if d and d.strip()))
    bad = [d for d in cleaned if not DOMAIN.match(d)]
    if bad:
        raise ValidationFailed(f"Not a domain name: {', '.join(bad)}.", field="domains")
    if mode != CollaborationMode.ANY and not cleaned:
        raise ValidationFailed("List at least one domain, or allow any domain.", field="domains")
    with transaction.atomic():
        restriction = CollaborationRestriction.objects.select_for_update().order_by("pk").first()
        if restriction is None:
            restriction = CollaborationRestriction()
        restriction.mode = mode
        restriction.domains = "\n".join(cleaned)
        restriction.save()
        log_action(actor, "tenant.collaboration_restricted", restriction, mode=mode, domains=cleaned)
    return restriction


def organizations_refused(organization_ids: Sequence[UUID | str]) -> list[str]:
    """Sentences naming the chosen organizations none of whose domains the restrictions allow."""
    restriction = collaboration_restriction()
    if restriction.mode == CollaborationMode.ANY or not organization_ids:
        return []
    refused = []
    chosen = ConnectedOrganization.objects.filter(pk__in=organization_ids).prefetch_related("domains")
    for organization in chosen.order_by("display_name"):
        domains = [d.domain for d in organization.domains.all()]
        if domains and not any(restriction.allows(d) for d in domains):
            refused.append(
                f"{organization} ({', '.join(domains)}) is not allowed by the collaboration restrictions: "
                f"{collaboration_refusal(domains[0], restriction)}"
            )
    return refused
