"""The list filters' FastSelect writes what Django's Select writes, byte for byte: the pages
and the browser tests read the same markup, only faster (issue 19: list pages < 50 ms)."""

from __future__ import annotations

from typing import Any

import pytest
from django import forms

from governance.filters import AllAssignmentsFilter, AllRequestsFilter, AssignmentFilter, FastSelect, RequestFilter

CHOICES: list[Any] = [
    ("", "Any"),
    ("a", 'A <b>&"'),
    ("Group", [("x", "X"), ("y", "Y")]),
    (1, "One"),
]
ATTRS = {"id": "id_policy", "data-x": "1", "disabled": True, "hidden": False, "title": '"quoted" <x>'}


@pytest.mark.parametrize("value", ["a", "", "x", 1, None, "missing"])
def test_the_same_markup_as_djangos_select(value: Any) -> None:
    expected = forms.Select(attrs=ATTRS, choices=CHOICES).render("policy", value)
    assert FastSelect(attrs=ATTRS, choices=CHOICES).render("policy", value) == expected


def test_the_catalog_filter_uses_it() -> None:
    """Packages and policies, 20,000 of each at full size, are search boxes instead
    (tests/portal/test_filter_search.py)."""
    assert isinstance(AllRequestsFilter.base_filters["catalog"].field.widget, FastSelect)


def test_the_status_type_and_package_policy_filters_use_it() -> None:
    """A dozen statuses rendered through Django's templates cost more than the rows' badges."""
    for filterset, name in (
        (AllRequestsFilter, "status"),
        (AllRequestsFilter, "type"),
        (RequestFilter, "policy"),
        (AllAssignmentsFilter, "status"),
        (AssignmentFilter, "status"),
    ):
        assert isinstance(filterset.base_filters[name].field.widget, FastSelect), (filterset, name)
