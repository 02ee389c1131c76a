"""Connectors: configured and tested by global administrators only.

A connector's password, token or signing secret is entered in the portal, stored encrypted
(``Connector.encrypted_secrets``) and never shown back: the form says "Set" or "Not set" and
takes a new value to replace it; the audit row says that it changed, never what it is.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse
from uuid import UUID

from django.db import transaction
from django.db.models import Count, OuterRef, QuerySet, Subquery

from governance import encryption
from governance.audit import log_action
from governance.connectors import BaseConnector, ConfigError, ConnectorError, Field, PluginNotInstalled, registry
from governance.errors import NotAllowed, NotFound, StillInUse, ValidationFailed
from governance.ids import is_uuid
from governance.models import Connector, DeliveryAttempt, DriftMode
from governance.models.connector import LEGACY_SECRET_KEYS, LEGACY_SECRET_PREFIX
from governance.permissions import Action, can_globally
from governance.services.text import clean_name

SECRET_MAX_LENGTH = 4096


# --- Kinds: those that come with Portcullis and installed plugins (connectors.registry) ------


def kinds_to_add() -> list[tuple[str, str]]:
    """(kind, label) of every kind an administrator may add, by label."""
    found = [(kind, cls.label or kind) for kind, cls in registry.current().classes.items() if not cls.singleton]
    return sorted(found, key=lambda pair: pair[1].lower())


def kind_label(kind: str) -> str:
    return registry.kind_label(kind)


def is_singleton(kind: str) -> bool:
    """Whether exactly one connector of ``kind`` exists, never added or deleted (the built-in directory)."""
    cls = registry.find(kind)
    return cls is not None and cls.singleton


def plugin_problems() -> list[str]:
    """Installed connector plugins that were left out, and why."""
    return list(registry.current().problems.values())


def missing_plugin(kind: str) -> str:
    """Why no code can use connectors of ``kind`` ("" when it is installed)."""
    try:
        registry.connector_class(kind)
    except PluginNotInstalled as exc:
        return exc.message
    return ""


def fields_of(kind: str) -> tuple[Field, ...]:
    """The form fields of ``kind``, in order (none for a kind that is not installed)."""
    cls = registry.find(kind)
    return cls.fields if cls is not None else ()


def secret_fields(kind: str) -> tuple[Field, ...]:
    cls = registry.find(kind)
    return cls.secret_fields() if cls is not None else ()


def defaults(kind: str) -> dict[str, Any]:
    cls = registry.find(kind)
    return cls.config_defaults() if cls is not None else {}


def _class_of(kind: str) -> type[BaseConnector]:
    try:
        return registry.connector_class(kind)
    except PluginNotInstalled as exc:
        message = exc.message if kind in registry.current().problems else "Choose a kind of connector."
        raise ValidationFailed(message, field="kind") from exc


def clean_config(kind: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    """A connector's config, checked field by field by its kind's fields; errors name the field.
    Secrets are never part of it (see save_connector's ``secrets``)."""
    config: dict[str, Any] = {}
    for spec in _class_of(kind).fields:
        if spec.is_secret:
            continue
        try:
            config[spec.name] = spec.clean(raw.get(spec.name, spec.default))
        except ConfigError as exc:
            raise ValidationFailed(exc.message, field=exc.field) from exc
    return config


def _require(actor: Any) -> None:
    if not can_globally(actor, Action.MANAGE_CONNECTORS):
        raise NotFound("Connector not found.")


def can_manage(actor: Any) -> bool:
    return can_globally(actor, Action.MANAGE_CONNECTORS)


def connectors_for(actor: Any) -> QuerySet[Connector]:
    """The connectors list: names and health, for anyone who works in the admin portal.

    Health is the connector's most recent delivery attempt (``last_outcome``,
    ``last_attempt_at``), one query for the whole list."""
    if not can_globally(actor, Action.VIEW_CONNECTORS):
        raise NotFound("Connector not found.")
    latest = DeliveryAttempt.objects.filter(connector=OuterRef("pk")).order_by("-started_at")
    return Connector.objects.annotate(
        resource_count=Count("resources"),
        last_outcome=Subquery(latest.values("outcome")[:1]),
        last_attempt_at=Subquery(latest.values("started_at")[:1]),
    ).order_by("display_name")


def get_connector(actor: Any, connector_id: UUID | str) -> Connector:
    _require(actor)
    found = Connector.objects.filter(pk=connector_id).first() if is_uuid(connector_id) else None
    if found is None:
        raise NotFound("Connector not found.")
    return found


@dataclass(frozen=True)
class SecretState:
    """What the form may say about one secret: never its value."""

    field: Field
    is_set: bool
    problem: str = ""  # e.g. stored under a key that is gone
    variable: str = ""  # an old config's PORTCULLIS_CONNECTOR_* variable, until imported


def secret_states(connector: Connector | None, kind: str) -> list[SecretState]:
    stored: Collection[str] = ()
    problem = ""
    if connector is not None:
        try:
            stored = connector.stored_secrets().keys()
        except encryption.SecretsUnavailable as exc:
            problem = exc.message
    states = []
    for spec in secret_fields(kind):
        variable = connector.legacy_secret_variable(spec.name) if connector is not None else ""
        if not variable.startswith(LEGACY_SECRET_PREFIX):
            variable = ""  # never read (see BaseConnector.secret), so no secret: saving drops it
        is_stored = spec.name in stored or bool(problem and connector and connector.encrypted_secrets)
        states.append(SecretState(spec, is_set=is_stored, problem=problem, variable="" if is_stored else variable))
    return states


def _new_secrets(kind: str, secrets: Mapping[str, Any] | None) -> dict[str, str]:
    """The secrets typed in this time (an empty one keeps what is stored)."""
    typed: dict[str, str] = {}
    for spec in secret_fields(kind):
        value = str((secrets or {}).get(spec.name) or "")
        if not value:
            continue
        if len(value) > SECRET_MAX_LENGTH or "\x00" in value:
            raise ValidationFailed(
                f"{spec.label} must be at most {SECRET_MAX_LENGTH} characters, without NUL.", field=spec.name
            )
        typed[spec.name] = value
    return typed


def _target_changed(kind: str, before: Mapping[str, Any], after: Mapping[str, Any]) -> Field | None:
    """The URL field whose host changed, if any: a stored secret goes only to the server it
    was entered for."""
    for spec in fields_of(kind):
        if spec.kind == "url" and before.get(spec.name) is not None:
            old, new = urlparse(str(before[spec.name])), urlparse(str(after.get(spec.name, "")))
            if (old.scheme, old.hostname, old.port) != (new.scheme, new.hostname, new.port):
                return spec
    return None


def save_connector(
    actor: Any,
    *,
    connector_id: UUID | str | None = None,
    display_name: str,
    kind: str,
    config: Mapping[str, Any],
    secrets: Mapping[str, Any] | None = None,
    drift_mode: str = DriftMode.REPORT,
    enabled: bool = True,
) -> Connector:
    """Create or change a connector. ``secrets`` holds values typed in this time; an empty
    or missing one keeps the stored secret (which must exist for a required one).

    A connector whose plugin is not installed keeps its config and secrets as they are (no
    code here knows its fields); its name, drift check and whether it is enabled still change.
    """
    _require(actor)
    display_name = clean_name(display_name, "display_name")
    if drift_mode not in DriftMode.values:
        raise ValidationFailed("Choose what drift checks do.", field="drift_mode")
    if connector_id is None and (cls := _class_of(kind)).singleton:
        raise ValidationFailed(f"There is one {cls.label.lower()}; it cannot be added again.", field="kind")
    installed = registry.find(kind) is not None
    cleaned = clean_config(kind, config) if installed else {}
    typed = _new_secrets(kind, secrets)
    with transaction.atomic():
        if connector_id is None:
            connector = Connector(kind=kind)
            before: dict[str, Any] = {}
        else:
            connector = Connector.objects.select_for_update().get(pk=get_connector(actor, connector_id).pk)
            if connector.kind != kind:
                raise ValidationFailed("The kind of a connector cannot change; add a new one.", field="kind")
            if not installed:
                cleaned = dict(connector.config)
            before = {
                "display_name": connector.display_name,
                "config": connector.config,
                "drift_mode": connector.drift_mode,
                "enabled": connector.enabled,
            }
        if Connector.objects.filter(display_name__iexact=display_name).exclude(pk=connector.pk).exists():
            raise ValidationFailed("A connector with this name already exists.", field="display_name")
        secret_changes = _apply_secrets(connector, kind, cleaned, typed, before.get("config") or {})
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
            secrets=secret_changes,
        )
    return connector


def _apply_secrets(
    connector: Connector,
    kind: str,
    cleaned: dict[str, Any],
    typed: Mapping[str, str],
    old_config: Mapping[str, Any],
) -> dict[str, str]:
    """Store the typed secrets (encrypted) with the ones kept; keep an old config's
    environment reference for a secret not replaced. Returns, per secret, what happened
    ("set", "replaced") for the audit row: never a value."""
    existing = None if connector._state.adding else connector
    states = {state.field.name: state for state in secret_states(existing, kind)}
    moved = _target_changed(kind, old_config, cleaned) if old_config else None
    for spec in secret_fields(kind):
        state = states[spec.name]
        has_one = state.is_set or bool(state.variable)
        if spec.name not in typed and moved is not None and has_one:
            raise ValidationFailed(
                f"Enter the {spec.label.lower()} again: {moved.label} changed, and a stored secret is only "
                "sent to the server it was entered for.",
                field=spec.name,
            )
        if spec.required and spec.name not in typed and not has_one:
            raise ValidationFailed(f"{spec.label} is required.", field=spec.name)
        legacy_key = LEGACY_SECRET_KEYS.get(spec.name, "")
        if spec.name not in typed and state.variable and legacy_key:
            cleaned[legacy_key] = old_config[legacy_key]
    if not typed:
        return {}
    try:
        kept = connector.stored_secrets() if existing is not None else {}
    except encryption.SecretsUnavailable:
        kept = {}  # unreadable under the current keys: what is typed now replaces it
    try:
        connector.store_secrets({**kept, **typed})
    except encryption.SecretsUnavailable as exc:
        field_name = next(iter(typed))
        raise ValidationFailed(exc.message, field=field_name) from exc
    return {name: "replaced" if states[name].is_set or states[name].variable else "set" for name in sorted(typed)}


def test_connection(actor: Any, connector_id: UUID | str) -> tuple[bool, str]:
    """Reach the target system: (worked, what happened)."""
    connector = get_connector(actor, connector_id)
    try:
        implementation = registry.for_connector(connector)
    except ConnectorError as exc:
        return False, exc.message
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
        if is_singleton(connector.kind):
            raise NotAllowed(f"The {kind_label(connector.kind).lower()} cannot be deleted.")
        used = list(connector.resources.values_list("display_name", flat=True)[:6])
        if used:
            names = ", ".join(used[:5]) + (", …" if len(used) > 5 else "")
            raise StillInUse(f"{connector} is used by resources: {names}. Remove them from their catalogs first.")
        log_action(actor, "connector.deleted", connector)
        connector.delete()


# --- Keys and old configurations (management commands) ------------------------------------


@dataclass
class ReencryptReport:
    reencrypted: list[str] = field(default_factory=list)
    current: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)


def reencrypt_secrets() -> ReencryptReport:
    """After a new key was put first in ``CONNECTOR_SECRET_KEYS``: encrypt every stored
    secret with it, so the old key can be removed. Safe to repeat; one row at a time."""
    report = ReencryptReport()
    for pk in Connector.objects.exclude(encrypted_secrets="").order_by("display_name").values_list("pk", flat=True):
        with transaction.atomic():
            connector = Connector.objects.select_for_update().get(pk=pk)
            token = connector.encrypted_secrets
            if not token:
                continue
            if encryption.encrypted_with_first_key(token):
                report.current.append(connector.display_name)
                continue
            try:
                connector.encrypted_secrets = encryption.reencrypt(token)
            except encryption.SecretsUnavailable:
                report.unreadable.append(connector.display_name)
                continue
            connector.save(update_fields=["encrypted_secrets"])
            log_action(None, "connector.secrets_reencrypted", connector)
            report.reencrypted.append(connector.display_name)
    return report


@dataclass
class ImportReport:
    imported: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "connector: why"


def import_connector_secrets(also_variables: Collection[str] = ()) -> ImportReport:
    """Store, encrypted, the secrets old configurations still read from environment
    variables, and drop those references. Only ``PORTCULLIS_CONNECTOR_*`` variables are read,
    and the ones the operator names in ``also_variables``."""
    report = ImportReport()
    allowed = set(also_variables)
    for pk in Connector.objects.order_by("display_name").values_list("pk", flat=True):
        with transaction.atomic():
            connector = Connector.objects.select_for_update().get(pk=pk)
            references = {n: v for n in LEGACY_SECRET_KEYS if (v := connector.legacy_secret_variable(n))}
            if not references:
                continue
            try:
                stored = connector.stored_secrets()
            except encryption.SecretsUnavailable as exc:
                report.skipped.append(f"{connector}: {exc.message}")
                continue
            found: dict[str, str] = {}
            dropped: dict[str, str] = {}
            for name, variable in references.items():
                if name in stored:
                    dropped[name] = variable  # a secret was entered since: the reference is stale
                elif not (variable.startswith(LEGACY_SECRET_PREFIX) or variable in allowed):
                    report.skipped.append(
                        f"{connector}: {variable} is not a {LEGACY_SECRET_PREFIX}* variable (enter the secret on "
                        "the connector's page, or name the variable with --variable if it really holds it)"
                    )
                elif not os.environ.get(variable):
                    report.skipped.append(f"{connector}: {variable} is not set here")
                else:
                    found[name] = os.environ[variable]
            if not found and not dropped:
                continue
            if found:
                connector.store_secrets({**stored, **found})
            config = dict(connector.config)
            for name in [*found, *dropped]:
                config.pop(LEGACY_SECRET_KEYS[name], None)
            connector.config = config
            connector.save(update_fields=["encrypted_secrets", "config", "modified_at"])
            log_action(
                None,
                "connector.secrets_imported",
                connector,
                secrets={name: f"imported from {references[name]}" for name in sorted(found)}
                | {name: f"reference to {references[name]} dropped" for name in sorted(dropped)},
            )
            if found:
                report.imported.append(connector.display_name)
    return report
