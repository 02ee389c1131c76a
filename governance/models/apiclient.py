"""API clients: bearer tokens for automation, acting with a role or as one person."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from governance.models.catalog import Catalog, CatalogRole
from governance.models.identity import GlobalRole, User


class ApiClientRole(models.TextChoices):
    """The roles an application token can hold (DESIGN §9's ``--role`` values)."""

    GLOBAL_ADMIN = "global_admin", "Global administrator"
    GOVERNANCE_ADMIN = "governance_admin", "Identity Governance administrator"
    USER_ADMIN = "user_admin", "User administrator"
    CATALOG_OWNER = "catalog_owner", "Catalog owner"
    CATALOG_READER = "catalog_reader", "Catalog reader"
    PACKAGE_MANAGER = "package_manager", "Access package manager"
    ASSIGNMENT_MANAGER = "assignment_manager", "Access package assignment manager"


# An application token's role, as the global or catalog role the portal knows (the
# constraint below keeps each to its kind; permissions turns them into rights).
GLOBAL_ROLE_OF: dict[str, str] = {
    ApiClientRole.GLOBAL_ADMIN: GlobalRole.GLOBAL_ADMIN,
    ApiClientRole.GOVERNANCE_ADMIN: GlobalRole.GOVERNANCE_ADMIN,
    ApiClientRole.USER_ADMIN: GlobalRole.USER_ADMIN,
}
CATALOG_ROLE_OF: dict[str, str] = {
    ApiClientRole.CATALOG_OWNER: CatalogRole.OWNER,
    ApiClientRole.CATALOG_READER: CatalogRole.READER,
    ApiClientRole.PACKAGE_MANAGER: CatalogRole.PACKAGE_MANAGER,
    ApiClientRole.ASSIGNMENT_MANAGER: CatalogRole.ASSIGNMENT_MANAGER,
}


class ApiClient(models.Model):
    """A bearer token and what it may do.

    An *application* token holds one role (a catalog role with its catalog); a *personal*
    token acts as its user, with exactly that person's rights. Only a hash of the token is
    stored; the token itself is shown once, when it is made.

    An instance is a principal for :mod:`governance.permissions` (which reads its rights
    from ``role``, ``catalog`` and ``user``) and an actor for :mod:`governance.audit`
    (``audit_label``, ``acting_user``).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=128, unique=True)
    role = models.CharField(max_length=32, choices=ApiClientRole.choices, blank=True)
    catalog = models.ForeignKey(Catalog, on_delete=models.CASCADE, null=True, blank=True, related_name="api_clients")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="api_tokens"
    )
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    token_prefix = models.CharField(max_length=12, editable=False, help_text="The token's first characters.")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(user__isnull=False, role="", catalog__isnull=True)
                    | models.Q(
                        user__isnull=True,
                        role__in=list(GLOBAL_ROLE_OF),
                        catalog__isnull=True,
                    )
                    | models.Q(user__isnull=True, role__in=list(CATALOG_ROLE_OF), catalog__isnull=False)
                ),
                name="api_client_role_or_user",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    # --- A principal ------------------------------------------------------------------

    is_authenticated = True
    is_anonymous = False

    @property
    def is_active(self) -> bool:
        if self.revoked_at is not None:
            return False
        return self.user is None or self.user.is_active

    @property
    def is_personal(self) -> bool:
        return self.user_id is not None

    @property
    def acting_user(self) -> User | None:
        return self.user

    @property
    def audit_label(self) -> str:
        if self.user is not None:
            return f"api:{self.name} as {self.user.username}"
        return f"api:{self.name}"

    def describe_rights(self) -> str:
        if self.user is not None:
            return f"Acts as {self.user}"
        label = self.get_role_display()
        return f"{label} of {self.catalog}" if self.catalog is not None else label


class ClientRequestKey(models.Model):
    """A create the API already made for a client's ``client-request-id`` (Graph's header).

    Written in the same transaction as what it made, so a client whose call failed in
    flight (a dropped connection, a 503) can send it again with the same id: either the
    first call committed, and the retry answers what it made, or nothing was stored, and
    the retry makes it now. The unique pair makes two retries racing each other one create.
    """

    client = models.ForeignKey(ApiClient, on_delete=models.CASCADE, related_name="+")
    key = models.UUIDField()
    request = models.ForeignKey(
        "governance.AssignmentRequest", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["client", "key"], name="client_request_key_once")]

    def __str__(self) -> str:
        return f"{self.client_id}:{self.key}"
