"""Connectors (how access reaches a target system), resources and their roles."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping

from django.db import models

from governance import encryption
from governance.models.catalog import Catalog
from governance.models.querysets import CatalogScoped


class DriftMode(models.TextChoices):
    REPORT = "report", "Report only"
    HEAL = "heal", "Heal automatically"


# Before secrets were stored encrypted, a connector's config named the environment variable
# holding its secret. Such a connector keeps working only while that name carries this
# prefix, until `manage.py import_connector_secrets` stores the value (README "Connector
# secrets and outbound calls"); no other variable is ever read.
LEGACY_SECRET_PREFIX = "PORTCULLIS_CONNECTOR_"
# Secret name -> the config key that used to name its environment variable.
LEGACY_SECRET_KEYS = {"password": "password_env", "token": "token_env", "secret": "secret_env"}


class Connector(CatalogScoped, models.Model):
    """A way into a target system. Its secrets (a bind password, a bearer token, a signing
    secret) are kept encrypted in ``encrypted_secrets`` and never shown back."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    display_name = models.CharField(max_length=256, unique=True)
    # Which connector class talks to the target: a kind that comes with Portcullis or one an
    # installed plugin provides (governance.connectors.registry checks it when it is saved).
    kind = models.CharField(max_length=64)
    config = models.JSONField(default=dict, blank=True)
    drift_mode = models.CharField(max_length=8, choices=DriftMode.choices, default=DriftMode.REPORT)
    enabled = models.BooleanField(default=True)
    # A Fernet token of the JSON object {secret name: value} (governance/encryption.py).
    encrypted_secrets = models.TextField(blank=True, default="", editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    modified_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["display_name"]

    def __str__(self) -> str:
        return self.display_name

    def stored_secrets(self) -> dict[str, str]:
        """The decrypted secrets; raises :class:`encryption.SecretsUnavailable`."""
        if not self.encrypted_secrets:
            return {}
        values = json.loads(encryption.decrypt(self.encrypted_secrets))
        return {str(k): str(v) for k, v in values.items()} if isinstance(values, dict) else {}

    def store_secrets(self, values: Mapping[str, str]) -> None:
        """Replace the stored secrets (the caller saves the row)."""
        cleaned = {k: v for k, v in values.items() if v}
        self.encrypted_secrets = encryption.encrypt(json.dumps(cleaned, sort_keys=True)) if cleaned else ""

    def legacy_secret_variable(self, name: str) -> str:
        """The environment variable an old config names for secret ``name`` ("" when none)."""
        key = LEGACY_SECRET_KEYS.get(name)
        return str((self.config or {}).get(key) or "").strip() if key else ""


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

    class Meta:
        ordering = ["resource__display_name", "display_name"]
        constraints = [
            models.UniqueConstraint(fields=["resource", "origin_id"], name="unique_role_of_resource"),
        ]

    def __str__(self) -> str:
        return f"{self.resource.display_name} · {self.display_name}"
