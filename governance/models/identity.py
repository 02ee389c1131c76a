"""People, directory groups, global roles and connected organizations."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models

from governance.models.querysets import CatalogScoped


class UserType(models.TextChoices):
    MEMBER = "member", "Internal"
    GUEST = "guest", "External"


class GlobalRole(models.TextChoices):
    GLOBAL_ADMIN = "global_admin", "Global administrator"
    GOVERNANCE_ADMIN = "governance_admin", "Identity Governance administrator"
    USER_ADMIN = "user_admin", "User administrator"


class ConnectedOrganizationState(models.TextChoices):
    CONFIGURED = "configured", "Configured"
    PROPOSED = "proposed", "Proposed"


class ConnectedOrganization(CatalogScoped, models.Model):
    """An external organization whose users may request where a policy allows them."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    display_name = models.CharField(max_length=256, unique=True)
    description = models.TextField(blank=True)
    state = models.CharField(
        max_length=16,
        choices=ConnectedOrganizationState.choices,
        default=ConnectedOrganizationState.CONFIGURED,
    )
    created_at = models.DateTimeField(auto_now_add=True)
    modified_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["display_name"]

    def __str__(self) -> str:
        return self.display_name


class OrganizationDomain(models.Model):
    organization = models.ForeignKey(ConnectedOrganization, on_delete=models.CASCADE, related_name="domains")
    domain = models.CharField(max_length=253, unique=True)

    class Meta:
        ordering = ["domain"]

    def __str__(self) -> str:
        return self.domain

    def save(self, *args: object, **kwargs: object) -> None:
        self.domain = self.domain.strip().lower()
        super().save(*args, **kwargs)  # type: ignore[arg-type]


class CollaborationMode(models.TextChoices):
    ANY = "any", "Allow any domain (most inclusive)"
    DENY = "deny", "Deny the domains listed"
    ALLOW = "allow", "Allow only the domains listed (most restrictive)"


class CollaborationRestriction(models.Model):
    """The tenant's collaboration restrictions (Entra's allow or deny list of external
    domains): one row, read by the policy form and by sign-in."""

    mode = models.CharField(max_length=8, choices=CollaborationMode.choices, default=CollaborationMode.ANY)
    # One domain a line; a listed domain covers its subdomains.
    domains = models.TextField(blank=True)
    modified_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.get_mode_display()

    @property
    def domain_list(self) -> list[str]:
        return [d for d in self.domains.split() if d]

    def allows(self, domain: str) -> bool:
        domain = domain.lower().strip(".")
        listed = any(domain == d or domain.endswith(f".{d}") for d in self.domain_list)
        if self.mode == CollaborationMode.ALLOW:
            return listed
        if self.mode == CollaborationMode.DENY:
            return not listed
        return True


class User(CatalogScoped, AbstractUser):
    """A person in the directory.

    Django's user, with a UUID id (the same id the API shows as ``targetId``/``objectId``)
    and the profile the governance rules need: internal or external, organization,
    manager and sponsor.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    display_name = models.CharField(max_length=256, blank=True)
    user_principal_name = models.CharField(max_length=256, unique=True, null=True, blank=True)
    user_type = models.CharField(max_length=8, choices=UserType.choices, default=UserType.MEMBER)
    connected_organization = models.ForeignKey(
        ConnectedOrganization,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="users",
    )
    manager = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="reports")
    sponsor = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="sponsored")
    # The person's own choices (My Access > Settings): pages and emails in this language and
    # time zone; empty = the browser's Accept-Language / time zone, then the site's.
    preferred_language = models.CharField(max_length=8, blank=True, default="", choices=settings.LANGUAGES)
    time_zone = models.CharField(max_length=64, blank=True, default="")

    class Meta(AbstractUser.Meta):
        ordering = ["username"]
        swappable = "AUTH_USER_MODEL"
        # Lists of assignments and requests sort by the person's name.
        indexes = [models.Index(fields=["display_name"], name="user_display_name")]

    def __str__(self) -> str:
        return self.display_name or self.get_full_name() or self.username

    @property
    def is_external(self) -> bool:
        return self.user_type == UserType.GUEST


def person_of(principal: Any) -> User | None:
    """The person behind a principal: a user, a personal token's user, or nobody (an
    application token and the system act for no one)."""
    if isinstance(principal, User):
        return principal
    user = getattr(principal, "acting_user", None)
    return user if isinstance(user, User) else None


class DirectoryRoleAssignment(models.Model):
    """A tenant-wide administrative role held by a person."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="directory_roles")
    role = models.CharField(max_length=32, choices=GlobalRole.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "role"], name="unique_directory_role"),
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.get_role_display()}"


class GroupSource(models.TextChoices):
    BUILTIN = "builtin", "Built-in directory"
    LDAP = "ldap", "LDAP directory"
    OIDC = "oidc", "Identity provider (sign-in claim)"


class DirectoryGroup(CatalogScoped, models.Model):
    """A group of the directory (not ``auth.Group``, which is for portal permissions)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    display_name = models.CharField(max_length=256)
    description = models.TextField(blank=True)
    mail = models.EmailField(blank=True)
    source = models.CharField(max_length=16, choices=GroupSource.choices, default=GroupSource.BUILTIN)
    external_id = models.CharField(max_length=512, null=True, blank=True, unique=True)
    members = models.ManyToManyField(User, through="GroupMembership", related_name="directory_groups")
    # Rule 17: who may add the group to a catalog without being an administrator. Kept by
    # administrators for built-in groups, by the directory sync (LDAP ``owner``) for synced ones.
    owners = models.ManyToManyField(User, through="GroupOwnership", related_name="owned_groups", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["display_name"]

    def __str__(self) -> str:
        return self.display_name


class GroupMembership(models.Model):
    # No index of its own: unique_group_membership (group, user) leads with it.
    group = models.ForeignKey(DirectoryGroup, on_delete=models.CASCADE, related_name="memberships", db_index=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="group_memberships")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["group", "user"], name="unique_group_membership"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.group}"


class GroupOwnership(models.Model):
    """An owner of a directory group (Entra's group owners)."""

    group = models.ForeignKey(DirectoryGroup, on_delete=models.CASCADE, related_name="ownerships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="group_ownerships")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["group", "user"], name="unique_group_owner"),
        ]

    def __str__(self) -> str:
        return f"{self.user} owns {self.group}"
