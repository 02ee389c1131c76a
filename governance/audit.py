"""`log_action`: one audit row per state change (pretix's habit).

Services call it inside their transaction, so the row exists exactly when the change does;
:func:`governance.machines.apply_bulk` writes the rows of a set-based change the same way.
It only writes rows: who may do what is decided above, in :mod:`governance.permissions`.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.db import models

from governance.models import AccessPackage, AuditEvent, User
from governance.models.identity import person_of
from governance.models.querysets import catalog_id_of

SYSTEM_LABEL = "system"


def actor_label(actor: Any) -> str:
    if actor is None:
        return SYSTEM_LABEL
    label = getattr(actor, "audit_label", None)
    if label:
        return str(label)
    if isinstance(actor, User):
        return actor.username
    return str(actor)


def person_label(actor: Any) -> str:
    """Who acted, in words for people: a person's display name (the audit row keeps the
    username, which does not change when the name does)."""
    if isinstance(actor, User) and not getattr(actor, "audit_label", None):
        return str(actor)
    return actor_label(actor)


def _package_id_of(obj: models.Model) -> UUID | None:
    if isinstance(obj, AccessPackage):
        return obj.pk
    value = getattr(obj, "package_id", None)
    if value is None and hasattr(obj, "assignment_id"):
        assignment = getattr(obj, "assignment", None)
        value = getattr(assignment, "package_id", None)
    return value


def build_event(actor: Any, action: str, obj: models.Model, **data: Any) -> AuditEvent:
    """An unsaved audit row (for ``bulk_create`` in set-based services). ``catalog_id``,
    ``package_id`` and ``object_repr`` given in ``data`` replace what would be read from
    ``obj`` (where reading it would cost a query per row)."""
    catalog_id = data.pop("catalog_id", None) or catalog_id_of(obj)
    package_id = data.pop("package_id", None) or _package_id_of(obj)
    object_repr = data.pop("object_repr", None) or str(obj)
    return AuditEvent(
        actor=person_of(actor),
        actor_label=actor_label(actor)[:256],
        action=action,
        object_type=obj._meta.model_name or type(obj).__name__.lower(),
        object_id=str(obj.pk),
        object_repr=object_repr[:512],
        catalog_id=catalog_id,
        package_id=package_id,
        data=data,
    )


def log_action(actor: Any, action: str, obj: models.Model, **data: Any) -> AuditEvent:
    event = build_event(actor, action, obj, **data)
    event.save()
    return event
