"""Writing many rows at once without model instances (set-based services).

An expiry of 100,000 assignments writes 100,000 requests and 400,000 audit rows: built as
model instances and sent through ``bulk_create`` they cost more than everything else the
expiry does (instance construction, per-value preparation, client-side quoting). Here a row
is a tuple: on PostgreSQL it goes through ``COPY … FROM STDIN`` (psycopg's ``write_row``);
elsewhere (SQLite in the fast tests) through one ``executemany`` INSERT with each value
prepared by its field, as Django would.

Columns not named are filled as a model instance would fill them: their default, and the
moment of the write for ``auto_now``/``auto_now_add`` stamps. Rows keep their order, so an
auto-increment id (the audit trail's) follows it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models
from django.utils import timezone

from governance.audit import SYSTEM_LABEL
from governance.models import AuditEvent


def insert_rows(
    model: type[models.Model], columns: Sequence[str], rows: Iterable[Sequence[Any]], *, now: datetime | None = None
) -> int:
    """INSERT ``rows`` (tuples of the values of ``columns``, field names) into ``model``'s table."""
    meta = model._meta
    named: list[models.Field[Any, Any]] = [meta.get_field(name) for name in columns]  # type: ignore[misc]
    moment = now or timezone.now()
    rest: list[tuple[models.Field[Any, Any], Any]] = []
    field: models.Field[Any, Any]
    for field in meta.concrete_fields:
        if field in named or isinstance(field, models.AutoField | models.BigAutoField):
            continue
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            rest.append((field, moment))
        else:
            rest.append((field, field.get_default()))
    fields = named + [field for field, _ in rest]
    constants = [value for _, value in rest]
    table = connection.ops.quote_name(meta.db_table)
    names = ", ".join(connection.ops.quote_name(field.column or field.name) for field in fields)
    written = 0
    if connection.vendor == "postgresql":
        json_at = [i for i, field in enumerate(fields) if isinstance(field, models.JSONField)]
        with connection.cursor() as cursor, cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for row in rows:
                values = [*row, *constants]
                for i in json_at:
                    if values[i] is not None:
                        values[i] = json.dumps(values[i], cls=DjangoJSONEncoder)
                copy.write_row(values)
                written += 1
        return written
    prepared = [
        [field.get_db_prep_save(value, connection) for field, value in zip(fields, [*row, *constants], strict=True)]
        for row in rows
    ]
    if prepared:
        marks = ", ".join(["%s"] * len(fields))
        with connection.cursor() as cursor:
            # Table and column names are the model's own; every value is a bound parameter.
            cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", prepared)  # nosec B608
    return len(prepared)


AUDIT_COLUMNS = (
    "actor",
    "actor_label",
    "action",
    "object_type",
    "object_id",
    "object_repr",
    "catalog_id",
    "package_id",
    "data",
)


def system_event(
    action: str, object_type: str, object_id: Any, object_repr: str, catalog_id: Any, package_id: Any, **data: Any
) -> tuple[Any, ...]:
    """An audit row of the system (no actor) as a tuple of :data:`AUDIT_COLUMNS`: the same
    values :func:`governance.audit.build_event` gives an ``AuditEvent``."""
    return (None, SYSTEM_LABEL, action, object_type, str(object_id), object_repr[:512], catalog_id, package_id, data)


def insert_events(events: Iterable[tuple[Any, ...]], *, now: datetime | None = None) -> int:
    return insert_rows(AuditEvent, AUDIT_COLUMNS, events, now=now)
