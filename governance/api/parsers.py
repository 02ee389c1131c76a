"""The one JSON parser of the API: what it cannot take is a 400, never a 500.

Python's ``json`` recurses once per nesting level, so a body of 100,000 brackets would end in
a RecursionError; no Graph body needs more than a handful of levels. And JSON's ``\\ud800``
escape carries a lone surrogate, which is not Unicode and which no database can store, so
every string (and property name) is checked once here, naming where it was found.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser
from rest_framework.utils.json import strict_constant

from governance.api.errors import ODataError
from governance.services.text import unstorable

MAX_DEPTH = 64


class GraphJSONParser(JSONParser):
    """DRF hands a JSON parser the body Django read, so a body past
    DATA_UPLOAD_MAX_MEMORY_SIZE was refused before (errors.py makes that a 413)."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None) -> Any:
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            document = json.loads(stream.read().decode(encoding), parse_constant=strict_constant)
        except RecursionError:
            raise _too_deep() from None
        except ValueError as exc:  # bad JSON, bad UTF-8, a number of thousands of digits
            raise ParseError(f"JSON parse error - {exc}") from None
        check_document(document)
        return document


def _too_deep() -> ODataError:
    return ODataError(f"The JSON body is nested too deeply: at most {MAX_DEPTH} levels.")


def _path(parent: str, key: str) -> str:
    return f"{parent}.{key}" if parent else key


def check_document(document: Any, max_depth: int = MAX_DEPTH) -> None:
    """Depth at most ``max_depth`` arrays and objects; every string and property name storable."""
    pending: list[tuple[Any, int, str]] = [(document, 1, "")]
    while pending:
        value, depth, path = pending.pop()
        if isinstance(value, str):
            reason = unstorable(value)
            if reason is not None:
                raise ODataError(f"'{path or 'the body'}' cannot contain {reason}.", target=path)
            continue
        if not isinstance(value, dict | list):
            continue
        if depth > max_depth:
            raise _too_deep()
        if isinstance(value, list):
            pending.extend((item, depth + 1, f"{path}[{index}]") for index, item in enumerate(value))
            continue
        for key in value:
            reason = unstorable(key)
            if reason is not None:
                where = f" in '{path}'" if path else ""
                raise ODataError(f"A property name{where} cannot contain {reason}.", target=path)
        pending.extend((item, depth + 1, _path(path, key)) for key, item in value.items())
