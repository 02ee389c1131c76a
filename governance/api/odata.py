"""The OData subset the API understands, and nothing more.

``$filter`` (``eq``, ``ne``, ``ge``/``le``/``gt``/``lt`` on dates and times, ``and``, ``or``,
``not``, ``contains()``, ``startswith()``, ``endswith()`` on the properties each collection
names), ``$select``, ``$expand`` with nested ``$select``/``$expand``, ``$orderby``, ``$top``,
``$skip``, ``$count`` and paging by ``@odata.nextLink`` (``$skiptoken``). Property names and
enum values are matched case-insensitively, as Graph does. Any other system query option, or
one of these used on something we do not support, is refused with a 400: a script must never
get an unfiltered answer it believes is filtered.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q
from django.utils.dateparse import parse_datetime

from governance.api.errors import ODataError
from governance.services.text import unstorable

DEFAULT_PAGE_SIZE = 100
# The server-side cap: a larger $top still answers pages of this size, with a nextLink.
MAX_PAGE_SIZE = 100
# $top and the offsets of $skiptoken are Graph's Int32; a larger number is out of range.
MAX_NUMBER = 2**31 - 1
# Parentheses in $filter, one inside the other: more is no query a person writes.
MAX_FILTER_DEPTH = 32

COLLECTION_OPTIONS = frozenset({"$filter", "$select", "$expand", "$top", "$skip", "$count", "$skiptoken", "$orderby"})
ITEM_OPTIONS = frozenset({"$select", "$expand"})
_ALL_SYSTEM_OPTIONS = COLLECTION_OPTIONS | {"$search", "$format", "$apply", "$levels"}

_COMPARISONS = frozenset({"eq", "ne", "ge", "le", "gt", "lt"})
_FUNCTIONS = frozenset({"contains", "startswith", "endswith"})
_TEXT_OPERATORS = frozenset({"eq", "ne", "contains", "startswith", "endswith"})


@dataclass(frozen=True)
class FilterField:
    """A property one may filter on: its ORM lookup, its type and the operators allowed."""

    lookup: str
    kind: str = "string"  # string, uuid, bool, enum, datetime
    operators: frozenset[str] = frozenset({"eq", "ne"})
    choices: frozenset[str] = frozenset()
    # Maps a literal to what is stored (an alias, a Graph casing); may return a list.
    convert: Callable[[Any], Any] | None = None
    # May $orderby sort on it (a plain column of the row or of a row it points to).
    orderable: bool = True


def text(lookup: str, convert: Callable[[str], Any] | None = None) -> FilterField:
    return FilterField(lookup, "string", _TEXT_OPERATORS, convert=convert)


def ident(lookup: str) -> FilterField:
    return FilterField(lookup, "uuid", orderable=False)


def flag(lookup: str) -> FilterField:
    return FilterField(lookup, "bool")


def enum(lookup: str, choices: Iterable[str], convert: Callable[[str], Any] | None = None) -> FilterField:
    return FilterField(lookup, "enum", choices=frozenset(choices), convert=convert)


def moment(lookup: str) -> FilterField:
    """A date and time: compared with eq, ne, ge, le, gt, lt."""
    return FilterField(lookup, "datetime", _COMPARISONS)


@dataclass
class Expansion:
    name: str
    nested: frozenset[str] = frozenset()
    # A nested $select: only these properties of the expanded object(s) (id always stays).
    select: frozenset[str] | None = None


@dataclass
class QueryOptions:
    filter: Q = field(default_factory=Q)
    select: frozenset[str] | None = None
    expand: dict[str, Expansion] = field(default_factory=dict)
    top: int = DEFAULT_PAGE_SIZE
    count: bool = False
    offset: int = 0
    order_by: tuple[str, ...] = ()
    # A keyset $skiptoken's payload (the last row's sort key, governance.api.keyset).
    after: str | None = None

    def expands(self, name: str) -> bool:
        return name in self.expand


def canonical(name: str, names: Iterable[str]) -> str | None:
    """``name`` as the API spells it, matched case-insensitively (Graph's way); None if unknown."""
    lowered = name.lower()
    return next((n for n in names if n.lower() == lowered), None)


# --- $filter --------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>'(?:[^']|'')*')
      | (?P<datetime>\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)?)(?![\w-])
      | (?P<guid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})(?![\w-])
      | (?P<number>-?\d+(?:\.\d+)?)(?![\w/])
      | (?P<name>[A-Za-z_][\w]*(?:/[A-Za-z_][\w]*)*)
      | (?P<punct>[(),])
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Token:
    kind: str
    value: str

    def word(self, *words: str) -> bool:
        return self.kind == "name" and self.value.lower() in words


def _tokenize(text_: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    text_ = text_.rstrip()
    while position < len(text_):
        match = _TOKEN.match(text_, position)
        if match is None or match.end() == position:
            raise ODataError(f"Invalid $filter near '{text_[position : position + 20]}'.", target="$filter")
        kind = match.lastgroup or ""
        value = match.group(kind)
        if kind == "string":
            value = value[1:-1].replace("''", "'")
        tokens.append(_Token(kind, value))
        position = match.end()
    return tokens


class _FilterParser:
    """or_expr := and_expr ('or' and_expr)*; and_expr := unary ('and' unary)*;
    unary := 'not' unary | '(' or_expr ')' | function(property, literal) | property op literal."""

    def __init__(self, expression: str, fields: Mapping[str, FilterField]) -> None:
        self.tokens = _tokenize(expression)
        self.position = 0
        self.fields = fields
        self.depth = 0

    def parse(self) -> Q:
        if not self.tokens:
            raise ODataError("$filter is empty.", target="$filter")
        result = self._or()
        if self.position != len(self.tokens):
            raise ODataError(f"Unexpected '{self.tokens[self.position].value}' in $filter.", target="$filter")
        return result

    def _peek(self) -> _Token | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _take(self, kind: str | None = None, value: str | None = None) -> _Token:
        token = self._peek()
        if token is None or (kind and token.kind != kind) or (value is not None and token.value != value):
            expected = value or kind or "more"
            raise ODataError(f"Invalid $filter: expected {expected}.", target="$filter")
        self.position += 1
        return token

    def _nest(self) -> None:
        self.depth += 1
        if self.depth > MAX_FILTER_DEPTH:
            raise ODataError(f"$filter is nested too deeply: at most {MAX_FILTER_DEPTH} levels.", target="$filter")

    def _property(self) -> str:
        """A property name, or ``tolower(name)``/``toupper(name)``: every string comparison
        here ignores case already, so they change nothing."""
        name = self._take("name").value
        following = self._peek()
        if name.lower() in {"tolower", "toupper"} and following is not None and following.value == "(":
            self.position += 1
            name = self._take("name").value
            self._take("punct", ")")
        return name

    def _or(self) -> Q:
        result = self._and()
        while (token := self._peek()) is not None and token.word("or"):
            self.position += 1
            result |= self._and()
        return result

    def _and(self) -> Q:
        result = self._unary()
        while (token := self._peek()) is not None and token.word("and"):
            self.position += 1
            result &= self._unary()
        return result

    def _unary(self) -> Q:
        token = self._peek()
        if token is None:
            raise ODataError("Invalid $filter: it ends too early.", target="$filter")
        if token.word("not"):
            self.position += 1
            self._nest()
            inner = ~self._unary()
            self.depth -= 1
            return inner
        if token.kind == "punct" and token.value == "(":
            self.position += 1
            self._nest()
            inner = self._or()
            self._take("punct", ")")
            self.depth -= 1
            return inner
        if token.kind == "name" and token.value.lower() in _FUNCTIONS:
            following = self.tokens[self.position + 1] if self.position + 1 < len(self.tokens) else None
            if following is not None and following.kind == "punct" and following.value == "(":
                self.position += 2
                name = self._property()
                self._take("punct", ",")
                literal = self._take()
                self._take("punct", ")")
                return self._condition(name, token.value.lower(), literal)
        name = self._property()
        following = self._peek()
        if following is not None and following.kind == "punct" and following.value == "(":
            raise ODataError(
                f"The function '{name}' is not supported in $filter; use contains(), startswith() or endswith().",
                target="$filter",
            )
        operator = self._take("name").value.lower()
        if operator not in _COMPARISONS:
            raise ODataError(
                f"The '{operator}' operator is not supported in $filter; use eq, ne, ge, le, gt, lt, and, or, not.",
                target="$filter",
            )
        return self._condition(name, operator, self._take())

    def _condition(self, name: str, operator: str, literal: _Token) -> Q:
        known = canonical(name, self.fields)
        if known is None:
            supported = ", ".join(sorted(self.fields)) or "nothing"
            raise ODataError(f"Filtering on '{name}' is not supported here; supported: {supported}.", target="$filter")
        spec = self.fields[known]
        if operator not in spec.operators:
            raise ODataError(f"'{operator}' is not supported on '{known}'.", target="$filter")
        value = _literal(known, spec, literal)
        if operator in _FUNCTIONS:
            lookup = {"contains": "icontains", "startswith": "istartswith", "endswith": "iendswith"}[operator]
            return Q(**{f"{spec.lookup}__{lookup}": value})
        if isinstance(value, list):
            condition = Q(**{f"{spec.lookup}__in": value})
        elif value is None:
            condition = Q(**{f"{spec.lookup}__isnull": True})
        elif operator in {"ge", "le", "gt", "lt"}:
            condition = Q(**{f"{spec.lookup}__{ {'ge': 'gte', 'le': 'lte'}.get(operator, operator) }": value})
        elif spec.kind == "string":
            condition = Q(**{f"{spec.lookup}__iexact": value})
        else:
            condition = Q(**{spec.lookup: value})
        if operator == "ne":
            # "ne" keeps the rows where the property is null too, as OData's ne does.
            return ~condition if value is None else ~condition | Q(**{f"{spec.lookup}__isnull": True})
        return condition


def _literal(name: str, spec: FilterField, token: _Token) -> Any:
    if token.word("null"):
        return None
    if spec.kind == "bool":
        if token.word("true", "false"):
            return token.value.lower() == "true"
        raise ODataError(f"'{name}' is true or false.", target="$filter")
    if spec.kind == "datetime":
        return _moment(name, token)
    if token.kind not in {"string", "guid"}:
        raise ODataError(f"Compare '{name}' with a quoted string.", target="$filter")
    value = token.value
    if (reason := unstorable(value)) is not None:
        raise ODataError(f"A string in $filter cannot contain {reason}.", target="$filter")
    if spec.kind == "uuid":
        try:
            ident = uuid.UUID(value)
        except ValueError:
            raise ODataError(f"'{name}' is compared with an id (a GUID).", target="$filter") from None
        # A convert may turn the id into a subquery (``pk__in``: rows related through another table).
        return spec.convert(ident) if spec.convert is not None else ident
    if spec.kind == "enum":
        # A Graph value of the enum (any casing), or what a conversion makes one.
        value = canonical(value, spec.choices) or value
        known = value in spec.choices
        if spec.convert is not None:
            value = spec.convert(value)
        values = value if isinstance(value, list) else [value]
        if not known and not all(v in spec.choices for v in values):
            raise ODataError(
                f"'{token.value}' is not a value of '{name}'; use one of: {', '.join(sorted(spec.choices))}.",
                target="$filter",
            )
        return value
    if spec.convert is not None:
        return spec.convert(value)
    return value


def _moment(name: str, token: _Token) -> dt.datetime:
    found = parse_datetime(token.value) if token.kind in {"datetime", "string"} else None
    if found is None and token.kind in {"datetime", "string"}:
        try:
            day = dt.date.fromisoformat(token.value)
        except ValueError:
            day = None
        found = dt.datetime(day.year, day.month, day.day) if day is not None else None
    if found is None:
        raise ODataError(f"Compare '{name}' with a date and time, e.g. 2030-01-31T00:00:00Z.", target="$filter")
    return found if found.tzinfo is not None else found.replace(tzinfo=dt.UTC)


def parse_filter(expression: str, fields: Mapping[str, FilterField]) -> Q:
    return _FilterParser(expression, fields).parse()


def parse_orderby(text_: str, fields: Mapping[str, FilterField]) -> tuple[str, ...]:
    """``createdDateTime desc, displayName``: the ORM ordering, on properties one may sort by."""
    ordering: list[str] = []
    for part in text_.split(","):
        words = part.split()
        if not words or len(words) > 2 or (len(words) == 2 and words[1].lower() not in {"asc", "desc"}):
            raise ODataError(f"Invalid $orderby item '{part.strip()}'.", target="$orderby")
        known = canonical(words[0], fields)
        sortable = sorted(n for n, f in fields.items() if f.orderable)
        if known is None or not fields[known].orderable:
            raise ODataError(
                f"Sorting by '{words[0]}' is not supported here; sortable: {', '.join(sortable) or 'nothing'}.",
                target="$orderby",
            )
        descending = len(words) == 2 and words[1].lower() == "desc"
        ordering.append(("-" if descending else "") + fields[known].lookup)
    return tuple(ordering)


# --- $expand and $select ----------------------------------------------------------------


def _split(text_: str, separator: str, target: str) -> list[str]:
    """``text_`` split at ``separator`` outside parentheses."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text_:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise ODataError(f"Unbalanced parentheses in {target}.", target=target)
        if char == separator and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    if depth:
        raise ODataError(f"Unbalanced parentheses in {target}.", target=target)
    parts.append("".join(current).strip())
    return parts


_PROPERTY = re.compile(r"[A-Za-z_@][\w.@]*")


def parse_expand(text_: str, allowed: Mapping[str, frozenset[str]]) -> dict[str, Expansion]:
    """``a,b($expand=c,d),e($select=x,y)``: each name must be expandable here, nested ones too."""
    result: dict[str, Expansion] = {}
    for part in _split(text_, ",", "$expand"):
        if not part:
            raise ODataError("Empty item in $expand.", target="$expand")
        given, _, rest = part.partition("(")
        given = given.strip()
        if given == "*":
            raise ODataError("$expand=* is not supported; name the properties.", target="$expand")
        name = canonical(given, allowed)
        if name is None:
            supported = ", ".join(sorted(allowed)) or "nothing"
            raise ODataError(f"Cannot expand '{given}' here; expandable: {supported}.", target="$expand")
        expansion = Expansion(name)
        if rest:
            if not rest.endswith(")"):
                raise ODataError(f"Invalid $expand item '{part}'.", target="$expand")
            for nested_option in _split(rest[:-1], ";", "$expand"):
                option, _, value = nested_option.partition("=")
                option = option.strip().lower()
                names = [v.strip() for v in value.split(",")]
                if not value.strip() or not all(_PROPERTY.fullmatch(n) for n in names):
                    raise ODataError(f"Invalid nested option in $expand item '{part}'.", target="$expand")
                if option == "$expand":
                    nested = [canonical(n, allowed[name]) for n in names]
                    unknown = [n for n, c in zip(names, nested, strict=True) if c is None]
                    if unknown:
                        raise ODataError(f"Cannot expand '{', '.join(unknown)}' of '{name}'.", target="$expand")
                    expansion.nested = frozenset(c for c in nested if c)
                elif option == "$select":
                    expansion.select = frozenset(names)
                else:
                    raise ODataError(
                        f"Only $select and $expand may be nested in $expand (got '{option}').", target="$expand"
                    )
        result[name] = expansion
    return result


def parse_select(text_: str, allowed: Iterable[str]) -> frozenset[str]:
    names = [part.strip() for part in text_.split(",")]
    known = list(allowed)
    found = [canonical(n, known) for n in names]
    unknown = sorted(n for n, c in zip(names, found, strict=True) if c is None)
    if unknown or not all(names):
        raise ODataError(f"Cannot select '{', '.join(unknown) or '(empty)'}' here.", target="$select")
    return frozenset(c for c in found if c)


def prune_expanded(data: Any, expand: Mapping[str, Expansion]) -> Any:
    """Apply each expansion's nested ``$select`` to what was rendered (``id`` always stays)."""
    rows = data if isinstance(data, list) else [data]
    for row in rows:
        if not isinstance(row, dict):
            continue
        for name, expansion in expand.items():
            if expansion.select is None or name not in row:
                continue
            targets = row[name] if isinstance(row[name], list) else [row[name]]
            for target in targets:
                if not isinstance(target, dict):
                    continue
                chosen = {canonical(n, target) for n in expansion.select}
                if None in chosen:
                    raise ODataError(f"Cannot select those properties of '{name}'.", target="$expand")
                for key in list(target):
                    if key not in chosen and key != "id" and not key.startswith("@odata."):
                        del target[key]
    return data


# --- Paging -----------------------------------------------------------------------------


def encode_skiptoken(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def whole_number(value: str) -> int | None:
    """``value`` as a number from 0 to MAX_NUMBER, written in ASCII digits; else None.
    (``str.isdigit`` and ``int`` take ``²`` or ``٣``, and ``int`` gives up on 5,000 digits.)"""
    if not value.isascii() or not value.isdigit():
        return None
    digits = value.lstrip("0") or "0"
    if len(digits) > len(str(MAX_NUMBER)) or int(digits) > MAX_NUMBER:
        return None
    return int(digits)


def decode_skiptoken(token: str) -> int:
    return _read_skiptoken(token)[0]


def _read_skiptoken(token: str) -> tuple[int, str | None]:
    """An offset token (``o:<n>``) or a keyset one (``k:<sort key>``, read by the view)."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raw = ""
    kind, _, number = raw.partition(":")
    if kind == "k" and number:
        return 0, number
    offset = whole_number(number)
    if kind != "o" or offset is None:
        raise ODataError("The $skiptoken is not valid; follow @odata.nextLink as given.", target="$skiptoken")
    return offset, None


def parse_options(
    params: Mapping[str, str],
    *,
    collection: bool,
    filters: Mapping[str, FilterField] | None = None,
    expand: Mapping[str, frozenset[str]] | None = None,
    select: Iterable[str] = (),
) -> QueryOptions:
    """Read the query string; anything unsupported is a 400, never ignored."""
    allowed = COLLECTION_OPTIONS if collection else ITEM_OPTIONS
    options = QueryOptions()
    for key in params:
        if key.startswith("$") and key not in allowed:
            raise ODataError(f"The query option '{key}' is not supported here.", target=key)
        if f"${key}" in _ALL_SYSTEM_OPTIONS:
            raise ODataError(f"Write the query option '{key}' as '${key}'.", target=key)
    if (value := params.get("$filter")) is not None:
        options.filter = parse_filter(value, filters or {})
    if (value := params.get("$orderby")) is not None:
        options.order_by = parse_orderby(value, filters or {})
    if (value := params.get("$expand")) is not None:
        options.expand = parse_expand(value, expand or {})
    if (value := params.get("$select")) is not None:
        options.select = parse_select(value, select)
    if (value := params.get("$top")) is not None:
        top = whole_number(value)
        if not top:
            raise ODataError(f"$top is a whole number from 1 to {MAX_NUMBER}.", target="$top")
        options.top = min(top, MAX_PAGE_SIZE)
    _paging(params, options)
    return options


def _paging(params: Mapping[str, str], options: QueryOptions) -> None:
    if (value := params.get("$count")) is not None:
        if value.lower() not in {"true", "false"}:
            raise ODataError("$count is true or false.", target="$count")
        options.count = value.lower() == "true"
    if (value := params.get("$skip")) is not None:
        skip = whole_number(value)
        if skip is None:
            raise ODataError(f"$skip is a whole number from 0 to {MAX_NUMBER}.", target="$skip")
        options.offset = skip
    if (value := params.get("$skiptoken")) is not None:
        options.offset, options.after = _read_skiptoken(value)
