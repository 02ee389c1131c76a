"""Set-based writes of many rows in one statement, without a model instance per row.

The delivery engine writes a batch's attempts, audit rows, grant outcomes and memberships
this way. On PostgreSQL each column travels as ONE array parameter (``unnest`` on the
server side), so the cost of a batch is one statement and a few string joins, whatever its
size; Django's ``bulk_create`` would build a model instance and quote every value of every
row. Elsewhere (SQLite: the fast test tier, ``make run``) the same calls go through the ORM.

Values are what the columns hold: UUIDs, strings, numbers, aware datetimes, ``None``, and
dicts for JSON columns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models
from django.db.models import Q
from django.db.models.expressions import RawSQL
from django.utils import timezone

from governance.audit import actor_label
from governance.models import AuditEvent
from governance.models.identity import person_of
from governance.services.rows import AUDIT_COLUMNS


def on_postgresql() -> bool:
    return connection.vendor == "postgresql"


_JSON = DjangoJSONEncoder(separators=(",", ":"))


def _quoted(text: str) -> str:
    if "\\" in text or '"' in text:
        text = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def _element(value: Any) -> str:
    """One element of a PostgreSQL array literal: NULL, or a double-quoted string with
    backslashes and quotes escaped (the literal is a parameter, never SQL text)."""
    kind = type(value)
    if value is None:
        return "NULL"
    if kind is UUID or kind is int:
        return str(value)
    if kind is str:
        return _quoted(value)
    if kind is bool:
        return "t" if value else "f"
    if isinstance(value, datetime):
        return _quoted(value.isoformat())
    if isinstance(value, dict | list):
        return _quoted(_JSON.encode(value))
    if isinstance(value, UUID | int | float):
        return str(value)
    return _quoted(str(value))


def array(values: Iterable[Any]) -> str:
    """A PostgreSQL array literal of ``values`` (bind it, cast it: ``%s::uuid[]``). A batch
    repeats its values (one moment, one state), so each distinct one is rendered once."""
    seen: dict[Any, str] = {}
    out = []
    for value in values:
        try:
            text = seen.get(value)
        except TypeError:  # a dict (JSON)
            out.append(_element(value))
            continue
        if text is None:
            text = seen[value] = _element(value)
        out.append(text)
    return "{" + ",".join(out) + "}"


def among(model: type[models.Model], ids: Iterable[Any], field: str = "pk") -> Q | RawSQL:
    """A filter: ``field`` is one of ``ids``. On PostgreSQL one array parameter
    (``= ANY(%s::uuid[])``) instead of ``IN`` with a placeholder per id, which Django and
    psycopg would build and quote one by one for a batch of hundreds."""
    ids = list(ids)
    if not on_postgresql():
        return Q(**{f"{field}__in": ids})
    column, db_type = _column(model, model._meta.pk.name if field == "pk" else field)
    table = connection.ops.quote_name(model._meta.db_table)
    sql = f"{table}.{connection.ops.quote_name(column)} = ANY(%s::{db_type}[])"
    return RawSQL(sql, [array(ids)], output_field=models.BooleanField())


def _column(model: type[models.Model], name: str) -> tuple[str, str]:
    field = model._meta.get_field(name)
    assert isinstance(field, models.Field)
    db_type = field.db_type(connection)  # a foreign key's is its target's
    if db_type is None:
        raise ValueError(f"{model.__name__}.{name} has no column")
    # A check constraint in the type ("smallint CHECK (...)") is not part of an array type.
    return str(field.column), db_type.split(" CHECK", 1)[0]


@dataclass(frozen=True)
class Write:
    """One set-based write: its PostgreSQL statement, and the same change through the ORM
    for other databases. :func:`write_together` sends several in one round trip."""

    sql: str
    params: list[Any]
    orm: Callable[[], object]


def insert(model: type[models.Model], fields: Sequence[str], rows: Sequence[Sequence[Any]]) -> Write | None:
    """INSERT ``rows`` (tuples in the order of ``fields``, by field name): one statement."""
    if not rows:
        return None
    attnames = [model._meta.get_field(name).attname for name in fields]  # type: ignore[union-attr]

    def orm() -> object:
        return model._default_manager.bulk_create([model(**dict(zip(attnames, row, strict=True))) for row in rows])

    if not on_postgresql():
        return Write("", [], orm)
    columns = [_column(model, name) for name in fields]
    names = ", ".join(connection.ops.quote_name(column) for column, _ in columns)
    arrays = ", ".join(f"%s::{db_type}[]" for _, db_type in columns)
    table = connection.ops.quote_name(model._meta.db_table)
    params = [array(row[i] for row in rows) for i in range(len(fields))]
    return Write(f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays})", params, orm)


def update(model: type[models.Model], pks: Sequence[Any], values: Mapping[str, Any]) -> Write | None:
    """UPDATE the rows whose key is in ``pks``, setting ``values`` (field name → value)."""
    if not pks:
        return None

    def orm() -> object:
        return model._default_manager.filter(pk__in=list(pks)).update(**values)

    if not on_postgresql():
        return Write("", [], orm)
    sets = []
    params: list[Any] = []
    for name, value in values.items():
        column, db_type = _column(model, name)
        sets.append(f"{connection.ops.quote_name(column)} = %s::{db_type}")
        params.append(value)
    pk_column, pk_type = _column(model, model._meta.pk.name)
    table = connection.ops.quote_name(model._meta.db_table)
    params.append(array(pks))
    where = f"{connection.ops.quote_name(pk_column)} = ANY(%s::{pk_type}[])"
    return Write(f"UPDATE {table} SET {', '.join(sets)} WHERE {where}", params, orm)


def write_together(writes: Iterable[Write | None], then: tuple[str, list[Any]] | None = None) -> list[tuple[Any, ...]]:
    """Run ``writes`` (and on PostgreSQL the query ``then``, whose rows are returned) in ONE
    statement: each write a data-modifying CTE, all executed whatever the query reads. The
    query sees the database as it was before the writes (one snapshot): ask it only about
    rows the writes do not change, or correct for them. Elsewhere each write runs on its own
    and ``then`` is the caller's to run (an empty list comes back)."""
    todo = [w for w in writes if w is not None]
    if not on_postgresql():
        for write in todo:
            write.orm()
        return []
    if not todo and then is None:
        return []
    ctes = ", ".join(f"w{i} AS ({w.sql})" for i, w in enumerate(todo))
    params = [p for w in todo for p in w.params]
    query, query_params = then if then is not None else ("SELECT 1", [])
    sql = f"WITH {ctes} {query}" if ctes else query
    with connection.cursor() as cursor:
        cursor.execute(sql, params + query_params)
        return list(cursor.fetchall())


def insert_rows(model: type[models.Model], fields: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """:func:`insert`, now."""
    write_together([insert(model, fields, rows)])


def update_by_pk(model: type[models.Model], pks: Sequence[Any], values: Mapping[str, Any]) -> None:
    """:func:`update`, now."""
    write_together([update(model, pks, values)])


# --- audit rows ------------------------------------------------------------------------

# An audit row's columns are rows.AUDIT_COLUMNS (the COPY path's), led by its moment.
AUDIT_FIELDS = ("created_at", *AUDIT_COLUMNS)


def audit_row(
    actor: Any,
    action: str,
    object_type: str,
    object_id: Any,
    object_repr: str,
    *,
    catalog_id: UUID | None,
    package_id: UUID | None,
    data: Mapping[str, Any],
    at: datetime | None = None,
) -> tuple[Any, ...]:
    """The row :func:`governance.audit.build_event` makes, as values in ``AUDIT_FIELDS``
    order, for :func:`insert_audit_rows` (the caller knows the object's type, id, repr,
    catalog and package, so no instance is needed)."""
    person = person_of(actor)
    return (
        at or timezone.now(),
        person.pk if person is not None else None,
        actor_label(actor)[:256],
        action,
        object_type,
        str(object_id),
        object_repr[:512],
        catalog_id,
        package_id,
        dict(data),
    )


def insert_audit(rows: Sequence[tuple[Any, ...]]) -> Write | None:
    return insert(AuditEvent, AUDIT_FIELDS, rows)


def insert_audit_rows(rows: Sequence[tuple[Any, ...]]) -> None:
    insert_rows(AuditEvent, AUDIT_FIELDS, rows)
