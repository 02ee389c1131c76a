"""What an attacker, a broken client or a cat on the keyboard sends, as hypothesis strategies."""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from governance.api.odata import encode_skiptoken
from governance.services.text import MAX_NAME, MAX_TEXT

# One profile for CI: the same examples every run (a failure reproduces), few enough that the
# whole fuzz package stays well under 90 s. Locally `HYPOTHESIS_PROFILE=deep` digs further.
settings.register_profile(
    "ci",
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "deep",
    parent=settings.get_profile("ci"),
    max_examples=500,
    derandomize=False,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# Over HTTP a form cannot carry a lone surrogate (it is not encodable), so the form fuzzers use
# TEXT; services and JSON bodies (where JSON's \ud800 escape carries one) add LONE_SURROGATES.
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)

# What issue 13 found answering 500 or accepted when it should not be, and its neighbours.
CONTROL_IN_NAMES = st.sampled_from(
    ["Tools\rAdmin", "Tools\r\nBcc: x@example.com", "a\nb", "tab\there", "\x1b[2J", "a\x7fb", "a\x85b", "a\u2028b"]
)
LONE_SURROGATES = st.sampled_from(["\ud800", "x\udfff", "\udbff\udbff", "a\ud83d"])
UNICODE_DIGITS = st.sampled_from(["²", "٣", "١٢٣", "\U0001d7d7", "½", "Ⅻ", "१०"])
HUGE_NUMBERS = st.sampled_from(["9" * 5000, str(2**31), str(2**63), str(2**64), "-" + "9" * 30, "1" + "0" * 400])
DURATIONS = st.sampled_from(
    ["P999999999D", "PT99999999999H", f"P{'9' * 5000}D", "P٣D", "P0D", "PT0H", "P1DT1H", "P", "PT", "P-1D"]
)
OVERLONG = st.sampled_from([n for limit in (MAX_NAME, MAX_TEXT) for n in (limit, limit + 1)] + [MAX_TEXT * 4]).map(
    lambda n: "x" * n
)
QUERY_OPTIONS = st.sampled_from(
    [
        {"$top": "²"},
        {"$top": "9" * 5000},
        {"$top": str(2**31)},
        {"$skiptoken": encode_skiptoken(2**64)},
        {"$filter": "displayName eq 'a\x00b'"},
        {"$filter": "(" * 467 + "displayName eq 'x'" + ")" * 467},
    ]
)


def nested(depth: int, leaf: Any = "x") -> Any:
    """``leaf`` inside ``depth`` arrays (built without recursion, as deep as asked)."""
    for _ in range(depth):
        leaf = [leaf]
    return leaf


# Past the API's limit of 64 levels, and well short of where Python's own json gives up.
DEEP_JSON = st.sampled_from([65, 200, 400]).map(nested)

NASTY_STRINGS = st.one_of(
    st.sampled_from(
        [
            "",
            " ",
            "\x00",
            "a\x00b",
            "'; DROP TABLE governance_catalog; --",
            "<script>alert(1)</script>",
            "{{ 7*7 }}",
            "%s%s%s",
            "../../etc/passwd",
            "ﷺ" * 30,
            "👩‍👩‍👧‍👦",
            "\u202eevil",
            "x" * 5000,
            "on",
            "true",
            "None",
            "null",
        ]
    ),
    CONTROL_IN_NAMES,
    UNICODE_DIGITS,
    HUGE_NUMBERS,
    DURATIONS,
    OVERLONG,
)
BAD_UUIDS = st.sampled_from(
    ["not-a-uuid", "00000000-0000-0000-0000-000000000000", "1", "-1", "{}", "[]", "%00", "g" * 32, "1" * 40]
) | st.uuids().map(str)
BAD_DATES = st.sampled_from(
    [
        "0001-01-01T00:00",
        "9999-12-31T23:59",
        "10000-01-01T00:00",
        "2026-02-30T10:00",
        "2026-13-01T00:00",
        "1970-01-01",
        "yesterday",
        "2026-01-01T25:61",
        "-2026-01-01",
    ]
)
BAD_NUMBERS = (
    st.integers(min_value=-(10**30), max_value=10**30).map(str)
    | st.sampled_from(["0", "-1", "1e308", "NaN", "inf", "1.5", "0x10", "٣"])
    | UNICODE_DIGITS
    | HUGE_NUMBERS
)


def scalar(valid: list[str]) -> st.SearchStrategy[str]:
    """One value for one field: sometimes right (so success paths run too), mostly wrong."""
    good = st.sampled_from(valid) if valid else st.nothing()
    return st.one_of(good, good, TEXT, NASTY_STRINGS, BAD_UUIDS, BAD_DATES, BAD_NUMBERS)


def field_value(valid: list[str]) -> st.SearchStrategy[Any]:
    """A scalar, or a list where a scalar is expected (repeated keys in the body)."""
    return st.one_of(scalar(valid), st.lists(scalar(valid), min_size=0, max_size=4))


def form_data(field_names: list[str], valid: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Any subset of the fields (missing ones are missing), each with any value."""
    return st.fixed_dictionaries({}, optional={name: field_value(valid) for name in field_names})
