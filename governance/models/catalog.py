"""Catalogs and the people who hold a role in one."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from governance.models.querysets import CatalogScoped


class CatalogRole(models.TextChoices):
    OWNER = "owner", "Catalog owner"
    READER = "reader", "Catalog reader"
    PACKAGE_MANAGER = "package_manager", "Access package manager"
    ASSIGNMENT_MANAGER = "assignment_manager", "Access package assignment manager"


class CatalogState(models.TextChoices):
    PUBLISHED = "published", "Published"
    UNPUBLISHED = "unpublished", "Unpublished"


class Catalog(CatalogScoped, models.Model):
    catalog_path = "id"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    display_name = models.CharField(max_length=256, unique=True)
    description = models.TextField(blank=True)
    state = models.CharField(max_length=16, choices=CatalogState.choices, default=CatalogState.PUBLISHED)
    is_externally_visible = models.BooleanField(
        default=True, help_text="Users of connected organizations may request packages in it."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    modified_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["display_name"]

    def __str__(self) -> str:
        return self.display_name


class CatalogRoleAssignment(CatalogScoped, models.Model):
    catalog_path = "catalog_id"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    catalog = models.ForeignKey(Catalog, on_delete=models.CASCADE, related_name="role_assignments")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="catalog_roles")
    role = models.CharField(max_length=32, choices=CatalogRole.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["catalog", "role"]
        constraints = [
            models.UniqueConstraint(fields=["catalog", "user", "role"], name="unique_catalog_role"),
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.get_role_display()} · {self.catalog}"
