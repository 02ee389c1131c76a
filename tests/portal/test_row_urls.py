"""A list's links to its rows (web.url_of_id): the URL ``{% url %}`` would give, without
resolving the pattern per row."""

from __future__ import annotations

import uuid

import pytest
from django.urls import NoReverseMatch, get_script_prefix, reverse, set_script_prefix

from governance.web import url_of_id

NAMES = (
    "governance:request_detail",
    "governance:request_errors",
    "governance:assignment_detail",
    "governance:package_overview",
    "governance:person_detail",
    "governance:resource_detail",
)


def test_the_same_url_as_reverse_for_every_row():
    for name in NAMES:
        for pk in (uuid.uuid4(), uuid.UUID(int=0), uuid.UUID(int=2**128 - 1)):
            assert url_of_id(name, pk) == reverse(name, args=[pk]), name
    pk = uuid.uuid4()
    assert url_of_id("governance:request_detail", pk) == f"/governance/requests/{pk}/"


def test_under_a_script_prefix_too():
    before = get_script_prefix()
    pk = uuid.uuid4()
    try:
        assert url_of_id("governance:request_detail", pk) == f"/governance/requests/{pk}/"
        set_script_prefix("/portcullis/")
        assert url_of_id("governance:request_detail", pk) == f"/portcullis/governance/requests/{pk}/"
    finally:
        set_script_prefix(before)


def test_what_is_not_an_id_is_reversed_as_django_does():
    pk = uuid.uuid4()
    assert url_of_id("governance:request_detail", str(pk)) == f"/governance/requests/{pk}/"
    with pytest.raises(NoReverseMatch):
        url_of_id("governance:request_detail", "not-an-id")
