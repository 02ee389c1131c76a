"""The all-requests and all-assignments lists filter by policy and by access package with a
search box, not a select of every one (20,000 of each at full size: the page grew with them).
Without JavaScript the typed text filters by names containing it; with htmx the box lists the
first matches from ``/governance/filters/choices/``, scoped like the lists themselves."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from governance import models as m
from governance.filters import MATCHES_SHOWN
from tests import factories as f
from tests.myaccess.conftest import content, signed_in
from tests.seeds.test_request_policy import download

pytestmark = pytest.mark.django_db

LISTS = ["/governance/requests/", "/governance/assignments/"]
CHOICES = "/governance/filters/choices/"


def options(page: str) -> list[tuple[str, str]]:
    """The listbox's options: (name, what tells it apart)."""
    return re.findall(r'<li role="option"[^>]*>(.*?) <span class="muted small">(.*?)</span></li>', page)


def status(page: str) -> str:
    found = re.search(r'<span id="id_\w+_status" hx-swap-oob="true" role="status"[^>]*>(.*?)</span>', page)
    assert found, page
    return found.group(1)


@pytest.fixture
def places(make_package: Any, other_catalog: m.Catalog) -> dict[str, m.AccessPackage]:
    """Two catalogs: Wiki (Engineering) with a staff and a guest policy, Ledger (Finance)."""
    wiki = make_package(name="Wiki")
    m.AssignmentPolicy.objects.filter(package=wiki).update(display_name="Staff policy")
    f.PolicyFactory(package=wiki, display_name="Guest policy")
    ledger = make_package(name="Ledger", in_catalog=other_catalog)
    m.AssignmentPolicy.objects.filter(package=ledger).update(display_name="Guest policy")
    return {"wiki": wiki, "ledger": ledger}


@pytest.mark.parametrize("url", LISTS)
def test_the_lists_offer_search_boxes_not_every_policy_and_package(admin: m.User, places: Any, url: str) -> None:
    page = content(signed_in(admin).get(url))
    for name, label in (("policy", "Policy"), ("package", "Access package")):
        assert f'<label for="id_{name}">{label}</label>' in page
        assert re.search(rf'<input type="text" name="{name}" value=""[^>]*role="combobox"', page)
        assert f'hx-get="{CHOICES}?field={name}"' in page
        assert f'role="listbox" id="id_{name}_listbox"' in page
    # No option per policy or package.
    assert "Staff policy" not in page
    assert "Ledger" not in page


def test_matches_name_the_package_and_are_only_what_the_viewer_may_see(
    admin: m.User, catalog_owner: m.User, places: Any
) -> None:
    page = content(signed_in(admin).get(CHOICES, {"field": "policy", "policy": "guest"}))
    assert options(page) == [("Guest policy", "Ledger"), ("Guest policy", "Wiki")]
    assert status(page) == "2 matches."
    # The owner of Engineering does not see Finance's Ledger, nor its policy.
    owner = signed_in(catalog_owner)
    assert options(content(owner.get(CHOICES, {"field": "policy", "policy": "guest"}))) == [("Guest policy", "Wiki")]
    assert options(content(owner.get(CHOICES, {"field": "package", "package": ""}))) == [("Wiki", "Engineering")]
    ledger = places["ledger"]
    hidden = content(owner.get(CHOICES, {"field": "policy", "policy": "", "package": str(ledger.pk)}))
    assert options(hidden) == []
    assert status(hidden) == "Nothing matches."


def test_matches_narrow_to_the_chosen_catalog_and_package(admin: m.User, places: Any, other_catalog: Any) -> None:
    client = signed_in(admin)
    wiki = places["wiki"]
    by_package = content(client.get(CHOICES, {"field": "policy", "policy": "", "package": str(wiki.pk)}))
    assert options(by_package) == [("Guest policy", "Wiki"), ("Staff policy", "Wiki")]
    by_catalog = content(client.get(CHOICES, {"field": "package", "package": "", "catalog": str(other_catalog.pk)}))
    assert options(by_catalog) == [("Ledger", "Finance")]
    # The box still shows the chosen one (its id is sent): every other is offered too.
    chosen = content(client.get(CHOICES, {"field": "package", "package": str(wiki.pk)}))
    assert options(chosen) == [("Ledger", "Finance"), ("Wiki", "Engineering")]


def test_at_most_twenty_matches_and_the_box_says_to_type_more(admin: m.User, make_package: Any) -> None:
    package = make_package(name="Big")
    for i in range(MATCHES_SHOWN + 2):
        f.PolicyFactory(package=package, display_name=f"Team {i:02d}")
    page = content(signed_in(admin).get(CHOICES, {"field": "policy", "policy": "team"}))
    assert len(options(page)) == MATCHES_SHOWN
    assert options(page)[0] == ("Team 00", "Big")
    assert status(page) == f"The first {MATCHES_SHOWN}: type more of the name to narrow them."


@pytest.mark.parametrize(
    "query",
    [
        {"field": "policy", "policy": "gu\x00est"},
        {"field": "package", "package": "\x00"},
        {"field": "policy", "policy": "x" * 5000},
    ],
)
def test_bad_text_matches_nothing_and_is_never_a_500(admin: m.User, places: Any, query: dict[str, str]) -> None:
    response = signed_in(admin).get(CHOICES, query)
    assert response.status_code == 200
    assert options(content(response)) == []


def test_ids_that_are_not_ids_narrow_nothing(admin: m.User, places: Any) -> None:
    query = {"field": "policy", "policy": "guest", "package": "not-an-id", "catalog": "\x00"}
    response = signed_in(admin).get(CHOICES, query)
    assert response.status_code == 200
    assert options(content(response)) == [("Guest policy", "Ledger"), ("Guest policy", "Wiki")]


def test_only_the_two_search_boxes_and_only_for_the_admin_portal(admin: m.User, requestor: m.User) -> None:
    assert signed_in(admin).get(CHOICES, {"field": "catalog"}).status_code == 404
    assert signed_in(admin).get(CHOICES).status_code == 404
    assert signed_in(requestor).get(CHOICES, {"field": "policy"}).status_code == 404
    assert Client().get(CHOICES, {"field": "policy"}).status_code == 302  # to sign in


def _queries(client: Client, query: dict[str, str]) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        assert client.get(CHOICES, query).status_code == 200
    return len(captured.captured_queries)


@pytest.mark.parametrize("field", ["policy", "package"])
def test_matches_cost_the_same_queries_for_one_or_thirty(
    admin: m.User, make_package: Any, field: str, django_assert_max_num_queries: Any
) -> None:
    client = signed_in(admin)
    make_package(name="Team 0")
    few = _queries(client, {"field": field, field: "team"})
    for i in range(1, 30):
        make_package(name=f"Team {i}")
    m.AssignmentPolicy.objects.update(display_name="Team policy")
    many = _queries(client, {"field": field, field: "team"})
    assert few == many
    with django_assert_max_num_queries(5):
        client.get(CHOICES, {"field": field, field: "team"})


@pytest.mark.parametrize("url", LISTS)
def test_a_package_chosen_by_id_shows_its_name_and_catalog(admin: m.User, places: Any, url: str) -> None:
    wiki = places["wiki"]
    page = content(signed_in(admin).get(url, {"package": str(wiki.pk)}))
    assert 'name="package" value="Wiki"' in page
    assert f'data-chosen="{wiki.pk}" data-chosen-name="Wiki"' in page
    assert '<span class="muted small search-choice-detail" id="id_package_chosen">Engineering</span>' in page


@pytest.mark.parametrize("url", LISTS)
def test_package_text_filters_by_name_and_the_download_follows(
    admin: m.User, places: Any, requestor: m.User, url: str, deliver: Any
) -> None:
    from governance.services import requests as request_service

    for package in places.values():
        request_service.submit_request(requestor, package.pk, policy_id=package.policies.first().pk)
    deliver()
    client = signed_in(admin)
    page = content(client.get(url, {"package": "led"}))
    assert 'name="package" value="led"' in page
    packages = re.findall(r'<td data-label="Access package"><a [^>]*>(.*?)</a></td>', page)
    assert packages == ["Ledger"]
    assert f"{url}download/?package=led" in page
    rows = download(client, f"{url}download/", package="led")
    column = rows[0].index("Access package")
    assert [row[column] for row in rows[1:]] == ["Ledger"]


@pytest.mark.parametrize("url", LISTS)
def test_a_package_name_postgresql_cannot_compare_is_a_form_error(admin: m.User, places: Any, url: str) -> None:
    client = signed_in(admin)
    page = client.get(url, {"package": "le\x00dger"})
    assert page.status_code == 200
    assert "An access package name cannot contain a NUL character." in content(page)
    assert client.get(f"{url}download/", {"package": "le\x00dger"}).status_code == 400


@pytest.mark.parametrize("url", LISTS)
def test_the_list_costs_the_same_queries_for_two_or_sixty_policies(
    admin: m.User, make_package: Any, url: str, django_assert_max_num_queries: Any
) -> None:
    """The page no longer reads every policy and package: its queries and its size stay put."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = signed_in(admin)
    first = make_package(name="First")
    query = {"policy": str(first.policies.get().pk), "package": str(first.pk)}

    def measure() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url, query)
        assert response.status_code == 200
        return len(captured.captured_queries), len(response.content)

    few = measure()
    for i in range(30):
        package = make_package(name=f"Package {i}")
        f.PolicyFactory(package=package)
    many = measure()
    assert many == few
