"""Big CSV downloads (every assignment, every request): on PostgreSQL the rows leave the
database as CSV (``COPY (SELECT …) TO STDOUT``) and are passed on in chunks, with no Python
object per row; elsewhere (SQLite) the same columns go row by row through ``stream_csv``.

A download is described once, as columns (:class:`Column`), and both paths read that
description, so they write the same bytes: the same header, labels for states, "yes" for a
flag, times in the viewer's zone as ``YYYY-MM-DD HH:MM:SS+HHMM``, an empty cell for nothing,
a ``'`` before a cell that starts like a formula, and Python's ``csv`` quoting and ``\\r\\n``
line ends. The rows are the queryset the view built (the permission scoping, the filter, the
order): the COPY runs exactly its SQL.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connections, transaction
from django.db.models import Case, CharField, F, Func, Q, QuerySet, TextField, Value, When
from django.db.models.functions import Cast, NullIf
from django.http import StreamingHttpResponse
from django.utils import timezone

from governance.views.listing import _Echo, stream_csv

# A cell that starts like a formula (listing._cell's characters: = + - @ tab CR).
FORMULA_PATTERN = "^([=+@\t\r-])"
# COPY sends one message per row; they are passed on in pieces of about this size.
CHUNK_BYTES = 256 * 1024


@dataclass(frozen=True)
class Column:
    """One column of a download: the field (path or annotation) and how its value is shown.

    kind: ``text`` (as it is; numbers and ids too), ``label`` (the value's label from
    ``labels``, the value itself when it has none), ``flag`` (``flag_text`` when true, else
    empty), ``time`` (in the viewer's zone)."""

    path: str
    kind: str = "text"
    labels: Mapping[str, Any] = field(default_factory=dict)
    flag_text: str = "yes"

    def shown(self, value: Any) -> Any:
        """What ``listing._cell`` then writes (the row-by-row path)."""
        if self.kind == "label":
            return self.labels.get(value, value)
        if self.kind == "flag":
            return self.flag_text if value else ""
        return value


def download_csv(
    filename: str, header: Sequence[str], queryset: QuerySet[Any], columns: Sequence[Column]
) -> StreamingHttpResponse:
    """``queryset``'s rows as a streamed CSV download (COPY on PostgreSQL)."""
    zone_name = getattr(timezone.get_current_timezone(), "key", None)
    if uses_copy(queryset) and zone_name:
        lines: Iterable[bytes] = _copied(header, queryset, columns, zone_name)
        response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
    return stream_csv(filename, header, row_by_row(queryset, columns))


def uses_copy(queryset: QuerySet[Any]) -> bool:
    """COPY where the database has it (PostgreSQL); the row-by-row path elsewhere."""
    return connections[queryset.db].vendor == "postgresql"


def row_by_row(queryset: QuerySet[Any], columns: Sequence[Column]) -> Iterator[tuple[Any, ...]]:
    """The fallback: the values, shown as the columns say, for ``stream_csv`` to write."""
    rows = queryset.values_list(*(column.path for column in columns))
    for row in rows.iterator(chunk_size=2000):
        yield tuple(column.shown(value) for column, value in zip(columns, row, strict=True))


# --- PostgreSQL: COPY ------------------------------------------------------------------------


def _guarded(expression: Any) -> NullIf:
    """A cell as text; an empty text as nothing (COPY would quote it as ``""``, Python's csv
    writes it bare); a ``'`` before a formula (CSV injection), as ``listing._cell`` does.
    One ``regexp_replace`` reads the value once, however costly its expression."""
    as_text = Cast(expression, TextField())
    neutralised = Func(
        as_text, Value(FORMULA_PATTERN), Value("'\\1"), function="regexp_replace", output_field=TextField()
    )
    return NullIf(neutralised, Value(""), output_field=TextField())


class _LocalTime(Func):
    """A time as the viewer reads it: ``to_char`` in the session's zone (set for the COPY),
    ``YYYY-MM-DD HH24:MI:SS`` and the offset as ``+HHMM`` (strftime's ``%z``)."""

    function = "to_char"
    template = "to_char(%(expressions)s, 'YYYY-MM-DD HH24:MI:SSTZHTZM')"
    output_field = CharField()


def _expression(column: Column) -> Any:
    source = F(column.path)
    if column.kind == "time":
        return _LocalTime(source)
    if column.kind == "flag":
        flagged = When(Q(**{column.path: True}), then=Value(column.flag_text))
        return Case(flagged, default=None, output_field=TextField())
    if column.kind == "label":
        return _guarded(
            Case(
                *(When(Q(**{column.path: value}), then=Value(str(label))) for value, label in column.labels.items()),
                default=Cast(source, TextField()),
                output_field=TextField(),
            )
        )
    return _guarded(source)


def _select(queryset: QuerySet[Any], columns: Sequence[Column]) -> tuple[str, tuple[Any, ...]]:
    """The queryset's SQL, selecting the formatted columns in order."""
    annotations = {f"csv_{index}": _expression(column) for index, column in enumerate(columns)}
    selected = queryset.annotate(**annotations).values_list(*annotations)
    sql, params = selected.query.sql_with_params()
    return sql, tuple(params)


def _copied(header: Sequence[str], queryset: QuerySet[Any], columns: Sequence[Column], zone: str) -> Iterator[bytes]:
    yield csv.writer(_Echo()).writerow(header).encode()
    sql, params = _select(queryset, columns)
    with transaction.atomic(using=queryset.db), connections[queryset.db].cursor() as cursor:
        # The viewer's zone for to_char, for this transaction only (and back at once, for a
        # caller's transaction that goes on, as a test's does).
        cursor.execute("SELECT current_setting('TimeZone'), set_config('TimeZone', %s, true)", [zone])
        (before, _) = cursor.fetchone()
        with cursor.cursor.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)", params) as copy:
            pending: list[bytes | memoryview] = []
            size = 0
            for row in copy:
                pending.append(row)
                size += len(row)
                if size >= CHUNK_BYTES:
                    yield crlf(b"".join(pending))
                    pending, size = [], 0
            if pending:
                yield crlf(b"".join(pending))
        cursor.execute("SELECT set_config('TimeZone', %s, true)", [before])


def crlf(rows: bytes) -> bytes:
    """COPY ends a row with ``\\n``, Python's csv (and RFC 4180) with ``\\r\\n``. A line break
    inside a quoted cell stays as it is (the csv writer keeps those too): quotes come in
    pairs within a row, so the pieces between them alternate outside, inside, outside."""
    if b'"' not in rows:
        return rows.replace(b"\n", b"\r\n")
    pieces = rows.split(b'"')
    pieces[::2] = [piece.replace(b"\n", b"\r\n") for piece in pieces[::2]]
    return b'"'.join(pieces)
