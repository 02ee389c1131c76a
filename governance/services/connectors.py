"""Connectors: configured and tested by administrators. Secrets never enter the database;
a connector names the environment variable that holds its password, token or secret."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse
from uuid import UUID

from django.db import transaction
from django.db.models import Count

from governance.connectors import ConnectorError, for_connector
from governance.models import Connector, ConnectorKind, DriftMode
from governance.permissions import Action, can_globally
from governance.services.audit import log_action
from governance.services.errors import NotAllowed, NotFound, StillInUse, ValidationFailed
from governance.services.requests import is_uuid
from governance.services.text import clean_name

ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
USER_MATCH = ("username", "email", "user_principal_name")


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    kind: str = "text"  # text, url, env, bool, int, choice
    required: bool = False
    help: str = ""
    choices: tuple[str, ...] = ()
    default: Any = ""


# What each kind of connector needs, shown as the form's fields.
FIELDS: dict[str, tuple[Field, ...]] = {
    ConnectorKind.BUILTIN: (),
    ConnectorKind.LDAP: (
        Field("url", "Server URL", "url", True, "ldap://host:389 or ldaps://host:636", default="ldap://"),
        Field("start_tls", "Use StartTLS", "bool", help="Upgrade an ldap:// connection to TLS.", default=False),
        Field("ca_file", "CA certificate file", help="Path on the worker hosts; empty for the system's CAs."),
        Field("bind_dn", "Bind DN", required=True, help="The service account, e.g. cn=portcullis,ou=services,dc=…"),
        Field(
            "password_env",
            "Password environment variable",
            "env",
            True,
            "The name of the variable holding the bind password (never the password).",
            default="PORTCULLIS_LDAP_PASSWORD",
        ),
        Field("user_base", "People base DN", required=True, help="Where people are searched, e.g. ou=people,dc=…"),
        Field("user_attribute", "Person attribute", required=True, help="uid, mail, sAMAccountName…", default="uid"),
        Field(
            "user_match",
            "Matches Portcullis field",
            "choice",
            True,
            "Which of a person's fields the attribute holds.",
            USER_MATCH,
            "username",
        ),
        Field("group_base", "Groups base DN", help="Where groups are searched when adding resources."),
        Field(
            "placeholder_dn",
            "Placeholder member DN",
            required=True,
            help="Kept in a groupOfNames when its last real member leaves.",
            default="cn=portcullis-placeholder",
        ),
        Field("timeout", "Timeout (seconds)", "int", True, default=10),
    ),
    ConnectorKind.SCIM: (
        Field("base_url", "SCIM base URL", "url", True, "e.g. https://app.example.com/scim/v2"),
        Field(
            "token_env",
            "Token environment variable",
            "env",
            True,
            "The name of the variable holding the bearer token.",
            default="PORTCULLIS_SCIM_TOKEN",
        ),
        Field("user_attribute", "User attribute", required=True, default="userName"),
        Field("user_match", "Matches Portcullis field", "choice", True, choices=USER_MATCH, default="username"),
        Field("verify_tls", "Verify TLS certificates", "bool", default=True),
        Field("timeout", "Timeout (seconds)", "int", True, default=10),
    ),
    ConnectorKind.WEBHOOK: (
        Field("url", "Webhook URL", "url", True, "Receives one signed JSON event per grant or revoke."),
        Field(
            "secret_env",
            "Secret environment variable",
            "env",
            True,
            "The name of the variable holding the HMAC signing secret.",
            default="PORTCULLIS_WEBHOOK_SECRET",
        ),
        Field("timeout", "Timeout (seconds)", "int", True, default=10),
    ),
}


def defaults(kind: str) -> dict[str, Any]:
    return {f.name: f.default for f in FIELDS.get(kind, ())}


def clean_config(kind: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    """A connector's config, checked field by field; errors name the field."""
    if kind not in FIELDS:
        raise ValidationFailed("Choose a kind of connector.", field="kind")
    config: dict[str, Any] = {}
    for spec in FIELDS[kind]:
        value = raw.get(spec.name, spec.default)
        if spec.kind == "bool":
            config[spec.name] = bool(value) and str(value).lower() not in {"0", "false", "off", ""}
            continue
        text = str(value if value is not None else "").strip()
        if spec.required and not text:
            raise ValidationFailed(f"{spec.label} is required.", field=spec.name)
        if spec.kind == "url" and text:
            parsed = urlparse(text)
            schemes = {"ldap", "ldaps"} if kind == ConnectorKind.LDAP else {"http", "https"}
            if parsed.scheme not in schemes or not parsed.hostname:
                raise ValidationFailed(
                    f"{spec.label} must be a {' or '.join(sorted(schemes))} URL with a host.", field=spec.name
                )
        if spec.kind == "env" and text and not ENV_NAME.match(text):
            raise ValidationFailed(
                f"{spec.label} must be the NAME of an environment variable (A-Z, 0-9, _), not the secret itself.",
                field=spec.name,
            )
        if spec.kind == "int":
            try:
                number = int(text)
            except ValueError:
                raise ValidationFailed(f"{spec.label} must be a whole number.", field=spec.name) from None
            if not 1 <= number <= 300:
                raise ValidationFailed(f"{spec.label} must be between 1 and 300.", field=spec.name)
            config[spec.name] = number
            continue
        if spec.kind == "choice" and text not in spec.choices:
            raise ValidationFailed(f"Choose one of: {', '.join(spec.choices)}.", field=spec.name)
        config[spec.name] = text
    return config


def _require(actor: Any) -> None:
    if not can_globally(actor, Action.MANAGE_CONNECTORS):
        raise NotFound("Connector not found.")


def connectors_for(actor: Any) -> Any:
    _require(actor)
    return Connector.objects.annotate(resource_count=Count("resources")).order_by("display_name")


def get_connector(actor: Any, connector_id: UUID | str) -> Connector:
    _require(actor)
    found = Connector.objects.filter(pk=connector_id).first() if is_uuid(connector_id) else None
    if found is None:
        raise NotFound("Connector not found.")
    return found


def save_connector(
    actor: Any,
    *,
    connector_id: UUID | str | None = None,
    display_name: str,
    kind: str,
    config: Mapping[str, Any],
    drift_mode: str = DriftMode.REPORT,
    enabled: bool = True,
) -> Connector:
    _require(actor)
    display_name = clean_name(display_name, "display_name")
    if drift_mode not in DriftMode.values:
        raise ValidationFailed("Choose what drift checks do.", field="drift_mode")
    if kind == ConnectorKind.BUILTIN and connector_id is None:
        raise ValidationFailed("There is one built-in directory; it cannot be added again.", field="kind")
    cleaned = clean_config(kind, config)
    with transaction.atomic():
        if connector_id is None:
            connector = Connector(kind=kind)
            before: dict[str, Any] = {}
        else:
            connector = Connector.objects.select_for_update().get(pk=get_connector(actor, connector_id).pk)
            if connector.kind != kind:
                raise ValidationFailed("The kind of a connector cannot change; add a new one.", field="kind")
            before = {
                "display_name": connector.display_name,
                "config": connector.config,
                "drift_mode": connector.drift_mode,
                "enabled": connector.enabled,
            }
        if Connector.objects.filter(display_name__iexact=display_name).exclude(pk=connector.pk).exists():
            raise ValidationFailed("A connector with this name already exists.", field="display_name")
        connector.display_name = display_name
        connector.config = cleaned
        connector.drift_mode = drift_mode
        connector.enabled = enabled
        connector.save()
        after = {"display_name": display_name, "config": cleaned, "drift_mode": drift_mode, "enabled": enabled}
        log_action(
            actor,
            "connector.created" if connector_id is None else "connector.updated",
            connector,
            changes={k: [before.get(k), v] for k, v in after.items() if before.get(k) != v},
        )
    return connector


def test_connection(actor: Any, connector_id: UUID | str) -> tuple[bool, str]:
    """Reach the target system: (worked, what happened)."""
    connector = get_connector(actor, connector_id)
    implementation = for_connector(connector)
    try:
        message = implementation.test()
    except ConnectorError as exc:
        return False, exc.message
    finally:
        implementation.close()
    return True, message


test_connection.__test__ = False  # type: ignore[attr-defined]  # not a pytest test, despite the name


def delete_connector(actor: Any, connector_id: UUID | str) -> None:
    with transaction.atomic():
        connector = get_connector(actor, connector_id)
        if connector.kind == ConnectorKind.BUILTIN:
            raise NotAllowed("The built-in directory cannot be deleted.")
        used = list(connector.resources.values_list("display_name", flat=True)[:6])
        if used:
            names = ", ".join(used[:5]) + (", …" if len(used) > 5 else "")
            raise StillInUse(f"{connector} is used by resources: {names}. Remove them from their catalogs first.")
        log_action(actor, "connector.deleted", connector)
        connector.delete()
