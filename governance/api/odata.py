"""The OData subset the API understands, and nothing more.

``$filter`` (``eq``, ``and``, ``contains`` on the properties each collection names),
``$select``, ``$expand`` (the navigation properties each collection names), ``$top``,
``$count`` and paging by ``@odata.nextLink`` (``$skiptoken``). Any other system query option,
or one of these used on something we do not support, is refused with a 400: a script must
never get an unfiltered answer it believes is filtered.
"""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q

from governance.api.errors import ODataError
from governance.services.text import unstorable

DEFAULT_PAGE_SIZE = 100
# The server-side cap: a larger $top still answers pages of this size, with a nextLink.
MAX_PAGE_SIZE = 100
# $top and the offsets of $skiptoken are Graph's Int32; a larger number is out of range.
MAX_NUMBER = 2**31 - 1
# Parentheses in $filter, one inside the other: more is no query a person writes.
MAX_FILTER_DEPTH = 32

COLLECTION_OPTIONS = frozenset({"$filter", "$select", "$expand", "$top", "$count", "$skiptoken"})
ITEM_OPTIONS = frozenset({"$select", "$expand"})
_ALL_SYSTEM_OPTIONS = COLLECTION_OPTIONS | {"$orderby", "$search", "$skip", "$format", "$apply", "$levels"}


@dataclass(frozen=True)
class FilterField:
    """A property one may filter on: its ORM lookup, its type and the operators allowed."""

    lookup: str
    kind: str = "string"  # string, uuid, bool, enum
    operators: frozenset[str] = frozenset({"eq"})
    choices: frozenset[str] = frozenset()
    # Maps a literal to what is stored (an alias, a Graph casing); may return a list.
    convert: Callable[[str], Any] | None = None


def text(lookup: str) -> FilterField:
    return FilterField(lookup, "string", frozenset({"eq", "contains"}))


def ident(lookup: str) -> FilterField:
    return FilterField(lookup, "uuid")


def flag(lookup: str) -> FilterField:
    return FilterField(lookup, "bool")


def enum(lookup: str, choices: Iterable[str], convert: Callable[[str], Any] | None = None) -> FilterField:
    return FilterField(lookup, "enum", choices=frozenset(choices), convert=convert)


@dataclass
class Expansion:
    name: str
    nested: frozenset[str] = frozenset()


@dataclass
class QueryOptions:
    filter: Q = field(default_factory=Q)
    select: frozenset[str] | None = None
    expand: dict[str, Expansion] = field(default_factory=dict)
    top: int = DEFAULT_PAGE_SIZE
    count: bool = False
    offset: int = 0
    # A keyset $skiptoken's payload (the last row's sort key, governance.api.keyset).
    after: str | None = None

    def expands(self, name: str) -> bool:
        return name in self.expand


# --- $filter --------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>'(?:[^']|'')*')
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
    def __init__(self, expression: str, fields: Mapping[str, FilterField]) -> None:
        self.tokens = _tokenize(expression)
        self.position = 0
        self.fields = fields
        self.depth = 0

    def parse(self) -> Q:
        if not self.tokens:
            raise ODataError("$filter is empty.", target="$filter")
        result = self._and()
        if self.position != len(self.tokens):
            token = self.tokens[self.position]
            if token.kind == "name" and token.value in {"or", "not"}:
                raise ODataError(f"The '{token.value}' operator is not supported in $filter.", target="$filter")
            raise ODataError(f"Unexpected '{token.value}' in $filter.", target="$filter")
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

    def _and(self) -> Q:
        result = self._term()
        while (token := self._peek()) is not None and token.kind == "name" and token.value == "and":
            self.position += 1
            result &= self._term()
        return result

    def _term(self) -> Q:
        token = self._peek()
        if token is None:
            raise ODataError("Invalid $filter: it ends too early.", target="$filter")
        if token.kind == "punct" and token.value == "(":
            self.position += 1
            self.depth += 1
            if self.depth > MAX_FILTER_DEPTH:
                raise ODataError(
                    f"$filter is nested too deeply: at most {MAX_FILTER_DEPTH} parentheses.", target="$filter"
                )
            inner = self._and()
            self._take("punct", ")")
            self.depth -= 1
            return inner
        if token.kind == "name" and token.value == "contains":
            self.position += 1
            self._take("punct", "(")
            name = self._take("name").value
            self._take("punct", ",")
            literal = self._take()
            self._take("punct", ")")
            return self._condition(name, "contains", literal)
        name = self._take("name").value
        following = self._peek()
        if following is not None and following.kind == "punct" and following.value == "(":
            raise ODataError(f"The function '{name}' is not supported in $filter; use contains().", target="$filter")
        operator = self._take("name").value
        if operator != "eq":
            raise ODataError(
                f"The '{operator}' operator is not supported in $filter; use eq, and, contains().", target="$filter"
            )
        return self._condition(name, "eq", self._take())

    def _condition(self, name: str, operator: str, literal: _Token) -> Q:
        spec = self.fields.get(name)
        if spec is None:
            supported = ", ".join(sorted(self.fields)) or "nothing"
            raise ODataError(f"Filtering on '{name}' is not supported here; supported: {supported}.", target="$filter")
        if operator not in spec.operators:
            raise ODataError(f"'{operator}' is not supported on '{name}'.", target="$filter")
        value = _literal(name, spec, literal)
        if operator == "contains":
            return Q(**{f"{spec.lookup}__icontains": value})
        if isinstance(value, list):
            return Q(**{f"{spec.lookup}__in": value})
        if value is None:
            return Q(**{f"{spec.lookup}__isnull": True})
        if spec.kind == "string":
            return Q(**{f"{spec.lookup}__iexact": value})
        return Q(**{spec.lookup: value})


def _literal(name: str, spec: FilterField, token: _Token) -> Any:
    if token.kind == "name" and token.value == "null":
        return None
    if spec.kind == "bool":
        if token.kind == "name" and token.value in {"true", "false"}:
            return token.value == "true"
        raise ODataError(f"'{name}' is true or false.", target="$filter")
    if token.kind not in {"string", "guid"}:
        raise ODataError(f"Compare '{name}' with a quoted string.", target="$filter")
    value = token.value
    if (reason := unstorable(value)) is not None:
        raise ODataError(f"A string in $filter cannot contain {reason}.", target="$filter")
    if spec.kind == "uuid":
        try:
            return uuid.UUID(value)
        except ValueError:
            raise ODataError(f"'{name}' is compared with an id (a GUID).", target="$filter") from None
    if spec.kind == "enum":
        if spec.convert is not None:
            value = spec.convert(value)
        values = value if isinstance(value, list) else [value]
        if not all(v in spec.choices for v in values):
            raise ODataError(
                f"'{token.value}' is not a value of '{name}'; use one of: {', '.join(sorted(spec.choices))}.",
                target="$filter",
            )
        return value
    return value


def parse_filter(expression: str, fields: Mapping[str, FilterField]) -> Q:
    return _FilterParser(expression, fields).parse()


# --- $expand and $select ----------------------------------------------------------------


def _split_top_level(text_: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text_:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise ODataError("Unbalanced parentheses in $expand.", target="$expand")
        if char == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    if depth:
        raise ODataError("Unbalanced parentheses in $expand.", target="$expand")
    parts.append("".join(current).strip())
    return parts


def parse_expand(text_: str, allowed: Mapping[str, frozenset[str]]) -> dict[str, Expansion]:
    """``a,b($expand=c,d)``: each name must be expandable here, nested ones too."""
    result: dict[str, Expansion] = {}
    for part in _split_top_level(text_):
        if not part:
            raise ODataError("Empty item in $expand.", target="$expand")
        name, _, rest = part.partition("(")
        name = name.strip()
        if name == "*":
            raise ODataError("$expand=* is not supported; name the properties.", target="$expand")
        if name not in allowed:
            supported = ", ".join(sorted(allowed)) or "nothing"
            raise ODataError(f"Cannot expand '{name}' here; expandable: {supported}.", target="$expand")
        nested: frozenset[str] = frozenset()
        if rest:
            if not rest.endswith(")"):
                raise ODataError(f"Invalid $expand item '{part}'.", target="$expand")
            option, _, value = rest[:-1].partition("=")
            if option.strip() != "$expand":
                raise ODataError(f"Only $expand may be nested in $expand (got '{option}').", target="$expand")
            nested = frozenset(v.strip() for v in value.split(","))
            unknown = nested - allowed[name]
            if unknown or not value.strip():
                raise ODataError(f"Cannot expand '{', '.join(sorted(unknown))}' of '{name}'.", target="$expand")
        result[name] = Expansion(name, nested)
    return result


def parse_select(text_: str, allowed: Iterable[str]) -> frozenset[str]:
    names = frozenset(part.strip() for part in text_.split(","))
    known = frozenset(allowed)
    unknown = sorted(n for n in names if n not in known)
    if unknown or not all(names):
        raise ODataError(f"Cannot select '{', '.join(unknown) or '(empty)'}' here.", target="$select")
    return names


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
    if (value := params.get("$expand")) is not None:
        options.expand = parse_expand(value, expand or {})
    if (value := params.get("$select")) is not None:
        options.select = parse_select(value, select)
    if (value := params.get("$top")) is not None:
        top = whole_number(value)
        if not top:
            raise ODataError(f"$top is a whole number from 1 to {MAX_NUMBER}.", target="$top")
        options.top = min(top, MAX_PAGE_SIZE)
    if (value := params.get("$count")) is not None:
        if value not in {"true", "false"}:
            raise ODataError("$count is true or false.", target="$count")
        options.count = value == "true"
    if (value := params.get("$skiptoken")) is not None:
        options.offset, options.after = _read_skiptoken(value)
    return options
