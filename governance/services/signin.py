"""Who a single sign-on identity is here: find, link or create the account from the
identity provider's claims, or refuse with a reason the person can act on.

People are matched by the provider's stable subject (``sub``), never by email alone. The
first sign-in of a subject:

- links to an existing account only through a verified email that matches: the provider
  says ``email_verified`` true, the address equals the account's, and the account came from
  the directory sync (the provider and the LDAP directory describe the same organization).
  A username claim alone links nothing: anyone able to choose their ``preferred_username``
  at the provider could otherwise name themselves after someone here. A local-only account
  (a break-glass administrator, say) is never linked;
- otherwise creates an account: internal when the email's domain is one of ours
  (``OIDC_MEMBER_DOMAINS``), external of a connected organization when it is one of its
  domains, external of a new *proposed* organization when an enabled policy allows "All
  users not in your directory" and the domain is not the tenant's own; any other domain is
  refused.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.hashers import make_password
from django.db import IntegrityError, transaction
from django.utils import timezone

from governance.audit import log_action
from governance.errors import DomainError
from governance.models import (
    AssignmentPolicy,
    ConnectedOrganization,
    ConnectedOrganizationState,
    DirectoryGroup,
    ExternalIdentity,
    GroupMembership,
    GroupSource,
    IdentityProvider,
    OrganizationDomain,
    TargetScope,
    User,
    UserType,
)
from governance.services.organizations import collaboration_refusal, tenant_domain_of

log = logging.getLogger(__name__)


class SignInRefused(DomainError):
    """Single sign-on worked, but this person may not use Portcullis (or not this way)."""

    code = "signInRefused"
    http_status = 403

    def __init__(self, message: str, *, title: str = "Sign-in refused", **details: Any) -> None:
        super().__init__(message, **details)
        self.title = title


@dataclass(frozen=True)
class ClaimNames:
    username: str = "preferred_username"
    email: str = "email"
    groups: str = ""
    member_domains: tuple[str, ...] = ()


def _text(claims: Mapping[str, Any], name: str) -> str:
    value = claims.get(name) if name else None
    return value.strip() if isinstance(value, str) else ""


def user_from_claims(issuer: str, claims: Mapping[str, Any], names: ClaimNames, now: datetime | None = None) -> User:
    """The account these claims sign in to (found, linked or created), or :class:`SignInRefused`."""
    now = now or timezone.now()
    subject = _text(claims, "sub")
    if not subject:
        raise SignInRefused("The identity provider did not say who you are (no 'sub' claim).")
    email = _text(claims, names.email).lower()
    if not email or "@" not in email:
        raise SignInRefused(
            f"The identity provider did not send your email address (claim '{names.email}'), so Portcullis cannot "
            "tell which organization you belong to. Ask your administrator to release that claim."
        )
    if claims.get("email_verified") is False:
        raise SignInRefused(
            f"Your email address {email} is not verified at the identity provider. Verify it there, then sign in again."
        )
    domain = email.rsplit("@", 1)[1]
    if domain not in {d.lower() for d in names.member_domains} and tenant_domain_of(domain) is None:
        refusal = collaboration_refusal(domain)
        if refusal is not None:
            raise SignInRefused(
                f"Accounts from {domain} cannot sign in to Portcullis: {refusal} "
                "This is the organization's collaboration restriction; ask your contact here if you need access.",
                title="Domain not allowed",
            )
    try:
        with transaction.atomic():
            return _sign_in(issuer, subject, email, claims, names, now)
    except IntegrityError:
        # Two first sign-ins of the same person at once: the other one created the account.
        with transaction.atomic():
            return _sign_in(issuer, subject, email, claims, names, now)


def _sign_in(
    issuer: str, subject: str, email: str, claims: Mapping[str, Any], names: ClaimNames, now: datetime
) -> User:
    identity = (
        ExternalIdentity.objects.select_for_update(of=("self",))
        .select_related("user")
        .filter(provider=IdentityProvider.OIDC, issuer=issuer, subject=subject)
        .first()
    )
    if identity is not None:
        user = identity.user
        _refuse_inactive(user)
        _refresh_profile(user, email, claims)
    else:
        user = _first_sign_in(issuer, subject, email, claims, names)
        identity = ExternalIdentity.objects.get(provider=IdentityProvider.OIDC, issuer=issuer, subject=subject)
    identity.last_seen_at = now
    identity.save(update_fields=["last_seen_at"])
    if names.groups:
        _sync_claimed_groups(user, claims.get(names.groups))
    return user


def _refuse_inactive(user: User) -> None:
    if user.is_active:
        return
    offboarding = getattr(user, "offboarding", None)
    if offboarding is not None and offboarding.blocked_at is not None:
        raise SignInRefused(
            "Your access to Portcullis has ended, so this account can no longer sign in. "
            "Ask your contact here to assign you access again.",
            title="Sign-in blocked",
        )
    if user.external_identities.filter(provider=IdentityProvider.LDAP, disabled=True).exists():
        raise SignInRefused("Your account is disabled in the directory.", title="Account disabled")
    if user.external_identities.filter(provider=IdentityProvider.LDAP, missing_since__isnull=False).exists():
        raise SignInRefused("Your account is no longer in the directory.", title="Account disabled")
    raise SignInRefused("Your account is disabled. Ask an administrator.", title="Account disabled")


def _names_from(claims: Mapping[str, Any]) -> dict[str, str]:
    first = _text(claims, "given_name")[:150]
    last = _text(claims, "family_name")[:150]
    display = _text(claims, "name") or " ".join(p for p in (first, last) if p)
    return {"first_name": first, "last_name": last, "display_name": display[:256]}


def _refresh_profile(user: User, email: str, claims: Mapping[str, Any]) -> None:
    """The provider's name and email win, unless the LDAP sync owns this account."""
    if user.external_identities.filter(provider=IdentityProvider.LDAP).exists():
        return
    changed = []
    for field, value in {**_names_from(claims), "email": email}.items():
        if value and getattr(user, field) != value:
            setattr(user, field, value)
            changed.append(field)
    if changed:
        user.save(update_fields=changed)
        log_action(None, "user.updated_from_sign_in", user, fields=changed)


def _first_sign_in(issuer: str, subject: str, email: str, claims: Mapping[str, Any], names: ClaimNames) -> User:
    domain = email.rsplit("@", 1)[1]
    internal = domain in {d.lower() for d in names.member_domains}
    username = (_text(claims, names.username) if internal else "") or email
    existing = User.objects.select_for_update(of=("self",)).filter(username=username).first()
    if existing is None and internal:
        existing = _synced_account_with(email)
    if existing is not None:
        return _link(existing, issuer, subject, email, internal, verified=_email_verified(claims))

    organization: ConnectedOrganization | None = None
    if not internal:
        organization = _organization_for(domain)
    user = User(
        username=username[:150],
        email=email,
        password=make_password(None),
        user_type=UserType.MEMBER if internal else UserType.GUEST,
        connected_organization=organization,
        **_names_from(claims),
    )
    if not User.objects.filter(user_principal_name=email).exists():
        user.user_principal_name = email
    user.save()
    ExternalIdentity.objects.create(user=user, provider=IdentityProvider.OIDC, issuer=issuer, subject=subject)
    log_action(
        None,
        "user.created",
        user,
        source="oidc",
        issuer=issuer,
        user_type=user.user_type,
        organization=str(organization) if organization else "",
    )
    return user


def _email_verified(claims: Mapping[str, Any]) -> bool:
    """The provider vouches for the address (a JSON true; some providers send the text "true")."""
    value = claims.get("email_verified")
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _synced_account_with(email: str) -> User | None:
    """The one directory-synced account whose email is this address (one only: two would be
    a question for an administrator, not a guess)."""
    accounts = list(
        User.objects.select_for_update(of=("self",)).filter(
            email__iexact=email,
            pk__in=ExternalIdentity.objects.filter(provider=IdentityProvider.LDAP).values("user_id"),
        )[:2]
    )
    if len(accounts) > 1:
        raise SignInRefused(
            f"Several accounts here have the address {email}, so Portcullis cannot tell which one is yours. "
            "Ask an administrator to sort it out.",
            title="Account not linked",
        )
    return accounts[0] if accounts else None


def _link(existing: User, issuer: str, subject: str, email: str, internal: bool, *, verified: bool) -> User:
    """Link a new identity to an existing account: only an internal, directory-synced account
    not yet linked at this provider, whose email is the one the provider verified."""
    already = existing.external_identities.filter(provider=IdentityProvider.OIDC, issuer=issuer).exists()
    from_directory = existing.external_identities.filter(provider=IdentityProvider.LDAP).exists()
    if already or not from_directory or not internal or existing.email.strip().lower() != email:
        raise SignInRefused(
            f"An account named {existing.username} already exists here and is not linked to your single sign-on "
            "identity. Ask an administrator to sort it out.",
            title="Account not linked",
        )
    if not verified:
        raise SignInRefused(
            f"An account for {email} already exists here. Single sign-on is linked to it only when the identity "
            "provider has verified that the address is yours (email_verified), and it has not. Verify your address "
            "there, or ask your administrator.",
            title="Account not linked",
        )
    _refuse_inactive(existing)
    ExternalIdentity.objects.create(user=existing, provider=IdentityProvider.OIDC, issuer=issuer, subject=subject)
    log_action(None, "user.linked_to_sign_in", existing, issuer=issuer)
    return existing


def _organization_for(domain: str) -> ConnectedOrganization:
    own = tenant_domain_of(domain)
    if own is not None:
        # Not a member domain, yet ours: no connected organization (known or proposed) may
        # take its people in as external users.
        raise SignInRefused(
            f"{domain} belongs to this organization itself ({own}), but its people are not set up to sign in "
            "here. Ask your administrator to add it to the member domains.",
            title="Domain not set up for sign-in",
        )
    known = OrganizationDomain.objects.select_related("organization").filter(domain=domain).first()
    if known is not None:
        return known.organization
    open_to_all = AssignmentPolicy.objects.filter(enabled=True, allowed_target_scope=TargetScope.ALL_EXTERNAL)
    if not open_to_all.exists():
        raise SignInRefused(
            f"Accounts from {domain} cannot sign in to Portcullis: {domain} is not a connected organization. "
            "Ask your contact here to add your organization.",
            title="Organization not connected",
        )
    # Entra's behaviour: a user of an unknown organization admitted by an "all users not in
    # your directory" policy brings their organization along, as a proposed one.
    organization, created = ConnectedOrganization.objects.get_or_create(
        display_name=domain, defaults={"state": ConnectedOrganizationState.PROPOSED}
    )
    OrganizationDomain.objects.get_or_create(domain=domain, defaults={"organization": organization})
    if created:
        log_action(None, "organization.proposed", organization, domain=domain)
    return organization


def _claimed_group_names(value: Any) -> list[str]:
    if isinstance(value, str):
        values: Iterable[Any] = [value]
    elif isinstance(value, Sequence):
        values = value
    else:
        values = []
    return sorted({str(v).strip()[:256] for v in values if str(v).strip()})


def _sync_claimed_groups(user: User, value: Any) -> None:
    """The groups claim says exactly which provider groups the person is in, now."""
    names = _claimed_group_names(value)
    groups = {g.external_id: g for g in DirectoryGroup.objects.filter(source=GroupSource.OIDC)}
    wanted = []
    for name in names:
        key = f"oidc:{name}"
        group = groups.get(key)
        if group is None:
            group = DirectoryGroup.objects.create(display_name=name, source=GroupSource.OIDC, external_id=key)
            log_action(None, "group.created", group, source="oidc")
        wanted.append(group.pk)
    current = set(
        GroupMembership.objects.filter(user=user, group__source=GroupSource.OIDC).values_list("group_id", flat=True)
    )
    gone = current - set(wanted)
    added = set(wanted) - current
    if gone:
        GroupMembership.objects.filter(user=user, group_id__in=gone).delete()
    GroupMembership.objects.bulk_create([GroupMembership(user=user, group_id=pk) for pk in added])
    if gone or added:
        log_action(None, "user.groups_from_sign_in", user, added=len(added), removed=len(gone))
