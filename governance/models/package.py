"""Access packages, the resource roles they bundle, and propagation of role changes."""

from __future__ import annotations

import uuid

from django.db import models

from governance.models.catalog import Catalog
from governance.models.connector import ResourceRole
from governance.models.querysets import CatalogScoped


class AccessPackage(CatalogScoped, models.Model):
    catalog_path = "catalog_id"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    catalog = models.ForeignKey(Catalog, on_delete=models.PROTECT, related_name="packages")
    display_name = models.CharField(max_length=256)
    description = models.TextField(blank=True)
    is_hidden = models.BooleanField(
        "Hidden",
        default=False,
        help_text="Hidden packages are not listed in My Access; only their direct link opens them.",
    )
    resource_roles = models.ManyToManyField(ResourceRole, through="PackageResourceRole", related_name="packages")
    # Separation of duties (rule 13). A link is one-way in storage (Graph's
    # ``incompatibleAccessPackages``; the other end reads it as ``incompatible_with``, Graph's
    # ``accessPackagesIncompatibleWith``) and checked both ways.
    incompatible_packages = models.ManyToManyField(
        "self", symmetrical=False, blank=True, related_name="incompatible_with"
    )
    incompatible_groups = models.ManyToManyField(
        "governance.DirectoryGroup", blank=True, related_name="incompatible_packages"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    modified_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["display_name"]
        # Lists across packages sort by the package's name (the package's rows, then each one's).
        indexes = [models.Index(fields=["display_name"], name="package_display_name")]

    def __str__(self) -> str:
        return self.display_name


class PackageResourceRole(CatalogScoped, models.Model):
    """A resource role bundled in a package (Graph: a resourceRoleScope)."""

    catalog_path = "package__catalog_id"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    package = models.ForeignKey(AccessPackage, on_delete=models.CASCADE, related_name="role_links")
    resource_role = models.ForeignKey(ResourceRole, on_delete=models.PROTECT, related_name="package_links")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["package", "resource_role"], name="unique_package_role"),
        ]

    def __str__(self) -> str:
        return f"{self.package} · {self.resource_role}"


class RoleOperationKind(models.TextChoices):
    ADD = "add", "Add resource role"
    REMOVE = "remove", "Remove resource role"


class RoleOperationState(models.TextChoices):
    PROPAGATING = "propagating", "Propagating"
    COMPLETED = "completed", "Completed"


class RoleOperation(CatalogScoped, models.Model):
    """Rule 8: adding or removing a package's role, propagated to every active assignment.

    Progress (done/failed) is read from the grants the operation touched, so it can never
    disagree with them; ``total`` is fixed when the propagation has enumerated them.
    """

    catalog_path = "package__catalog_id"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    package = models.ForeignKey(AccessPackage, on_delete=models.CASCADE, related_name="role_operations")
    resource_role = models.ForeignKey(
        ResourceRole, on_delete=models.SET_NULL, null=True, blank=True, related_name="operations"
    )
    role_label = models.CharField(max_length=600)
    kind = models.CharField(max_length=8, choices=RoleOperationKind.choices)
    state = models.CharField(max_length=16, choices=RoleOperationState.choices, default=RoleOperationState.PROPAGATING)
    total = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.role_label}"
