"""Connectors (how access reaches a target system), resources and their roles."""

from __future__ import annotations

import uuid

from django.db import models

from governance.models.catalog import Catalog
from governance.models.querysets import CatalogScoped, RestrictedQuerySet


class ConnectorKind(models.TextChoices):
    BUILTIN = "builtin", "Built-in directory"
    LDAP = "ldap", "LDAP directory"
    SCIM = "scim", "SCIM 2.0 application"
    WEBHOOK = "webhook", "Signed webhook"


class DriftMode(models.TextChoices):
    REPORT = "report", "Report only"
    HEAL = "heal", "Heal automatically"


class Connector(CatalogScoped, models.Model):
    """A way into a target system. Secrets are never stored here, only the names of the
    environment variables that hold them."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    display_name = models.CharField(max_length=256, unique=True)
    kind = models.CharField(max_length=16, choices=ConnectorKind.choices)
    config = models.JSONField(default=dict, blank=True)
    drift_mode = models.CharField(max_length=8, choices=DriftMode.choices, default=DriftMode.REPORT)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    modified_at = models.DateTimeField(auto_now=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["display_name"]

    def __str__(self) -> str:
        return self.display_name


class ResourceType(models.TextChoices):
    GROUP = "group", "Group"
    APPLICATION = "application", "Application"
    SITE = "site", "Site"


class Resource(CatalogScoped, models.Model):
    """A thing access is granted on, inside one catalog, reached through one connector."""

    catalog_path = "catalog_id"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    catalog = models.ForeignKey(Catalog, on_delete=models.PROTECT, related_name="resources")
    connector = models.ForeignKey(Connector, on_delete=models.PROTECT, related_name="resources")
    display_name = models.CharField(max_length=256)
    description = models.TextField(blank=True)
    resource_type = models.CharField(max_length=16, choices=ResourceType.choices, default=ResourceType.GROUP)
    # The target system's identifier: a group's UUID (built-in), a DN (LDAP), a SCIM id.
    origin_id = models.CharField(max_length=512)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["display_name"]
        constraints = [
            models.UniqueConstraint(fields=["catalog", "connector", "origin_id"], name="unique_resource_in_catalog"),
        ]

    def __str__(self) -> str:
        return self.display_name


class ResourceRole(CatalogScoped, models.Model):
    """A role on a resource (``Member`` of a group, an application's role)."""

    catalog_path = "resource__catalog_id"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    resource = models.ForeignKey(Resource, on_delete=models.CASCADE, related_name="roles")
    display_name = models.CharField(max_length=256, default="Member")
    description = models.TextField(blank=True)
    origin_id = models.CharField(max_length=512, default="member")

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["resource__display_name", "display_name"]
        constraints = [
            models.UniqueConstraint(fields=["resource", "origin_id"], name="unique_role_of_resource"),
        ]

    def __str__(self) -> str:
        return f"{self.resource.display_name} · {self.display_name}"
