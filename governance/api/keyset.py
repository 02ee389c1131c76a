"""Keyset paging for the API's ``$skiptoken`` (DESIGN §8: a deep page costs what the first does).

``@odata.nextLink`` carries the sort key of the page's last row instead of an offset, and the
next page is ``WHERE (sort key) after (that row) ORDER BY ... LIMIT top``: an index range,
not a scan past every earlier row. Used when the collection's order is made of plain,
non-null columns of its own rows (every collection here orders by such columns and ends
with the primary key); otherwise paging stays by offset.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from typing import Any

from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db.models import F, Field, Lookup, Q, QuerySet
from django.db.models.fields.tuple_lookups import (
    Tuple,
    TupleGreaterThan,
    TupleGreaterThanOrEqual,
    TupleLessThan,
    TupleLessThanOrEqual,
)


def ordering(queryset: QuerySet[Any], *, related: bool = False) -> list[str] | None:
    """The queryset's order as ``[-]field`` names ending with the primary key, when keyset
    paging can follow it; else None. The API's collections page by their own columns only;
    the portal's lists (``related``) also by columns of rows they must point to
    (``target__display_name``)."""
    names = list(queryset.query.order_by or queryset.model._meta.ordering)
    if not names or not all(isinstance(n, str) and (related or "__" not in n) for n in names):
        return None
    fields = [_field(queryset, n.lstrip("-")) for n in names]
    if any(f is None or f.null for f in fields):
        return None
    if not any(f is not None and f.primary_key for f in fields):
        return None  # not a total order: rows with equal keys could be skipped or repeated
    return names


def _field(queryset: QuerySet[Any], name: str) -> Field[Any, Any] | None:
    """The column ``name`` orders by: one of the row's own, or (``a__b``) of a row it must
    point to (a non-null foreign key), so the value is never missing."""
    model = queryset.model
    *path, last = name.split("__")
    for step in path:
        try:
            relation = model._meta.get_field(step)
        except FieldDoesNotExist:
            return None
        target = relation.related_model if isinstance(relation, Field) else None
        if target is None or not relation.many_to_one or relation.null:
            return None
        model = target
    meta = model._meta
    if last == "pk":
        return meta.pk
    try:
        found = meta.get_field(last)
    except FieldDoesNotExist:
        return None
    return found if isinstance(found, Field) and found.concrete else None


def _value(row: Any, name: str) -> Any:
    for step in name.split("__"):
        row = getattr(row, step)
    return row


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def encode(row: Any, order: list[str]) -> str:
    values = [_plain(_value(row, name.lstrip("-"))) for name in order]
    raw = "k:" + json.dumps(values, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(payload: str, queryset: QuerySet[Any], order: list[str]) -> list[Any] | None:
    """The sort key a token carries, converted back; None if it does not fit this order."""
    try:
        values = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(values, list) or len(values) != len(order):
        return None
    converted = []
    for name, value in zip(order, values, strict=True):
        field = _field(queryset, name.lstrip("-"))
        if field is None or not isinstance(value, str | int | float | bool):
            return None
        try:
            converted.append(field.to_python(value))
        except (ValidationError, ValueError, TypeError, OverflowError):
            return None
    return converted


def after(queryset: QuerySet[Any], order: list[str], values: list[Any]) -> QuerySet[Any]:
    """Rows that come after ``values`` in ``order``, written so that an index on the order's
    columns reads them as one range (the first page and the last cost the same):

    - keys that all run one way: one row-value comparison, ``(a, b, id) > (x, y, z)``;
    - otherwise (``-created_at, id``): the leading keys that run one way bound the range,
      ``created_at <= x``, and the exact condition ``(a < x) or (a = x and id > z)`` drops
      the few rows of that bound that came before."""
    columns = [name.lstrip("-") for name in order]
    descending = [name.startswith("-") for name in order]
    run = next((i for i, d in enumerate(descending) if d != descending[0]), len(order))
    if run == len(order):
        return queryset.filter(_compare(columns, values, descending[0], strict=True)).order_by(*order)
    condition = Q()
    for i, column in enumerate(columns):
        step = Q(**{f"{column}__{'lt' if descending[i] else 'gt'}": values[i]})
        for previous, value in zip(columns[:i], values[:i], strict=True):
            step &= Q(**{previous: value})
        condition |= step
    bound = _compare(columns[:run], values[:run], descending[0], strict=False)
    return queryset.filter(bound).filter(condition).order_by(*order)


def _compare(columns: list[str], values: list[Any], descending: bool, *, strict: bool) -> Q | Lookup[Any]:
    """``(a, b) > (x, y)`` (``<`` descending; ``>=``, ``<=`` unless strict) as one row-value
    comparison; on a database without them (SQLite) Django spells it out."""
    if len(columns) == 1:
        lookup = ("lt" if descending else "gt") + ("" if strict else "e")
        return Q(**{f"{columns[0]}__{lookup}": values[0]})
    if descending:
        compare: type[Lookup[Any]] = TupleLessThan if strict else TupleLessThanOrEqual
    else:
        compare = TupleGreaterThan if strict else TupleGreaterThanOrEqual
    return compare(Tuple(*(F(column) for column in columns)), list(values))
