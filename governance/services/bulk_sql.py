"""Set-based writes: many rows in one statement, without a model instance per row.

The delivery engine, expiry, access-review apply and request settling write their
attempts, requests, audit rows and emails here, as tuples. One way per kind of write:

- **New rows** (:func:`insert_rows`): ``COPY … FROM STDIN`` on PostgreSQL (psycopg's
  ``write_row``). Measured against one ``INSERT … SELECT FROM unnest(<one array per
  column>)`` for audit rows on the shared 2-CPU machine (load ~14): 100 rows 20 / 33 ms,
  500 rows 84 / 121 ms, 1,000 rows 174 / 431 ms, 4,000 rows 708 / 1,945 ms (COPY / unnest;
  a second run with the order swapped: 54 / 57, 176 / 199, 327 / 337, 778 / 1,300 ms). COPY
  is never slower, and far faster at an expiry batch's 4,000 audit rows.
- **Changes to existing rows** (:func:`update`) and filters by many ids (:func:`among`):
  each column or id list travels as ONE array parameter, and :func:`write_together` sends
  several updates with a read in one round trip (data-modifying CTEs).

Elsewhere (SQLite: the fast test tier, ``make run``) the same calls go through one
``executemany`` INSERT (each value prepared by its field, as Django would) or the ORM.

Values are what the columns hold: UUIDs, strings, numbers, aware datetimes, ``None``, and
dicts for JSON columns.
"""

from __future__ import annotations

import itertools
import json
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
    """One set-based change of existing rows: its PostgreSQL statement, and the same change
    through the ORM for other databases. :func:`write_together` sends several in one round
    trip."""

    sql: str
    params: list[Any]
    orm: Callable[[], object]


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


# --- new rows --------------------------------------------------------------------------


def insert_rows(
    model: type[models.Model], columns: Sequence[str], rows: Iterable[Sequence[Any]], *, now: datetime | None = None
) -> int:
    """INSERT ``rows`` (tuples of the values of ``columns``, field names) into ``model``'s
    table; returns how many.

    Columns not named are filled as a model instance would fill them: their default, and
    ``now`` (default: this moment) for ``auto_now``/``auto_now_add`` stamps. Rows keep their
    order, so an auto-increment id (the audit trail's) follows it."""
    pending = iter(rows)
    first = next(pending, None)
    if first is None:
        return 0  # no statement at all
    meta = model._meta
    named: list[models.Field[Any, Any]] = [meta.get_field(name) for name in columns]  # type: ignore[misc]
    moment = now or timezone.now()
    rest: list[models.Field[Any, Any]] = [
        field
        for field in meta.concrete_fields
        if field not in named and not isinstance(field, models.AutoField | models.BigAutoField)
    ]
    fields = named + rest
    stamped = [getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False) for field in rest]
    constants = [moment if stamp else field.get_default() for field, stamp in zip(rest, stamped, strict=True)]
    # A default made per row (a new UUID) is made for every row, as an instance would.
    fresh = [
        (len(named) + i, field)
        for i, (field, stamp) in enumerate(zip(rest, stamped, strict=True))
        if not stamp and field.has_default() and callable(field.default)
    ]

    def values_of(row: Sequence[Any]) -> list[Any]:
        values = [*row, *constants]
        for i, field in fresh:
            values[i] = field.get_default()
        return values

    table = connection.ops.quote_name(meta.db_table)
    names = ", ".join(connection.ops.quote_name(field.column or field.name) for field in fields)
    every = itertools.chain([first], pending)
    if on_postgresql():
        json_at = [i for i, field in enumerate(fields) if isinstance(field, models.JSONField)]
        as_json = _JSONMemo()
        written = 0
        with connection.cursor() as cursor, cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for row in every:
                values = values_of(row)
                for i in json_at:
                    if values[i] is not None:
                        values[i] = as_json(values[i])
                copy.write_row(values)
                written += 1
        return written
    prepared = [
        [field.get_db_prep_save(value, connection) for field, value in zip(fields, values_of(row), strict=True)]
        for row in every
    ]
    marks = ", ".join(["%s"] * len(fields))
    with connection.cursor() as cursor:
        # Table and column names are the model's own; every value is a bound parameter.
        cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", prepared)  # nosec B608
    return len(prepared)


class _JSONMemo:
    """``json.dumps`` for one COPY, each distinct flat dict encoded once: a batch's audit rows
    repeat a handful of ``data`` dicts ({"previous": "granted", "state": "revoking"}) thousands
    of times, and encoding each was a tenth of an expiry batch's Python. The key holds each
    value's type, so ``True`` and ``1`` (equal, with one hash) stay apart."""

    def __init__(self) -> None:
        self.seen: dict[tuple[Any, ...], str] = {}

    def __call__(self, value: Any) -> str:
        try:
            key = tuple((name, type(item), item) for name, item in value.items())
            text = self.seen.get(key)
        except (AttributeError, TypeError):  # a list, or a dict holding a list or a dict
            return json.dumps(value, cls=DjangoJSONEncoder)
        if text is None:
            text = self.seen[key] = json.dumps(value, cls=DjangoJSONEncoder)
        return text


# --- audit rows ------------------------------------------------------------------------

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


def audit_row(
    actor: Any,
    action: str,
    object_type: str,
    object_id: Any,
    object_repr: str,
    catalog_id: UUID | None,
    package_id: UUID | None,
    **data: Any,
) -> tuple[Any, ...]:
    """The row :func:`governance.audit.build_event` makes, as values of :data:`AUDIT_COLUMNS`
    for :func:`insert_audit_rows` (the caller knows the object's type, id, repr, catalog and
    package, so no instance is needed). ``actor`` None is the system."""
    person = person_of(actor)
    return (
        person.pk if person is not None else None,
        actor_label(actor)[:256],
        action,
        object_type,
        str(object_id),
        object_repr[:512],
        catalog_id,
        package_id,
        data,
    )


def insert_audit_rows(rows: Iterable[tuple[Any, ...]], *, now: datetime | None = None) -> int:
    """Write :func:`audit_row` tuples, all stamped ``now`` (default: this moment)."""
    return insert_rows(AuditEvent, AUDIT_COLUMNS, rows, now=now)
