"""The all-requests and all-assignments lists filter by policy with one filter and one query
string: ``?policy=<id>`` picks one policy (its package named, as policies share names), and
``?policy=<text>`` — what the requests list took before, kept so that old links work —
finds policies whose name contains it. A policy the viewer may not see is never applied."""

from __future__ import annotations

import pytest

from governance import models as m
from governance.filters import AllAssignmentsFilter, AllRequestsFilter, PolicyFilter
from governance.services import requests
from tests import factories as f
from tests.myaccess.conftest import content, signed_in
from tests.seeds.test_request_policy import download

pytestmark = pytest.mark.django_db

LISTS = ["/governance/requests/", "/governance/assignments/"]


@pytest.fixture
def wiki(make_package, requestor, outsider, deliver):
    """Two policies of one package, a delivered request through each."""
    package = make_package(name="Wiki")
    staff = package.policies.get()
    m.AssignmentPolicy.objects.filter(pk=staff.pk).update(display_name="Staff policy")
    guests = f.PolicyFactory(
        package=package, display_name="Guest policy", allowed_target_scope=m.TargetScope.ALL_MEMBERS
    )
    requests.submit_request(requestor, package.pk, policy_id=staff.pk)
    requests.submit_request(outsider, package.pk, policy_id=guests.pk)
    deliver()
    return package


def rows_of(page: str) -> list[str]:
    return [line.strip() for line in page.splitlines() if '<td data-label="Policy">' in line]


def test_both_lists_share_one_filter_class() -> None:
    assert isinstance(AllRequestsFilter.base_filters["policy"], PolicyFilter)
    assert isinstance(AllAssignmentsFilter.base_filters["policy"], PolicyFilter)


@pytest.mark.parametrize("url", LISTS)
def test_a_policy_chosen_by_id_with_its_package_named(admin, wiki, url) -> None:
    guests = wiki.policies.get(display_name="Guest policy")
    page = content(signed_in(admin).get(url, {"policy": str(guests.pk)}))
    assert rows_of(page) == ['<td data-label="Policy">Guest policy</td>']
    # The search box shows the chosen policy's name, its package beside it, and keeps its id.
    assert 'name="policy" value="Guest policy"' in page
    assert f'data-chosen="{guests.pk}" data-chosen-name="Guest policy"' in page
    assert '<span class="muted small search-choice-detail" id="id_policy_chosen">Wiki</span>' in page
    assert f"{url}download/?policy={guests.pk}" in page


@pytest.mark.parametrize("url", LISTS)
def test_an_old_link_with_part_of_a_name_still_works(admin, wiki, url) -> None:
    page = content(signed_in(admin).get(url, {"policy": "guest"}))
    assert rows_of(page) == ['<td data-label="Policy">Guest policy</td>']
    # The page says what it is filtered by, in the same search box.
    assert 'name="policy" value="guest"' in page
    assert "data-chosen=" not in page
    assert f"{url}download/?policy=guest" in page
    rows = download(signed_in(admin), f"{url}download/", policy="guest")
    column = rows[0].index("Policy")
    assert [row[column] for row in rows[1:]] == ["Guest policy"]


@pytest.mark.parametrize("url", LISTS)
def test_a_policy_the_viewer_cannot_see_is_not_applied(catalog_owner, wiki, make_package, other_catalog, url) -> None:
    elsewhere = make_package(name="Elsewhere", in_catalog=other_catalog).policies.get()
    client = signed_in(catalog_owner)
    page = client.get(url, {"policy": str(elsewhere.pk)})
    assert page.status_code == 200
    assert "Elsewhere" not in content(page)
    assert client.get(f"{url}download/", {"policy": str(elsewhere.pk)}).status_code == 400


@pytest.mark.parametrize("url", LISTS)
def test_a_name_postgresql_cannot_compare_is_a_form_error(admin, wiki, url) -> None:
    """A NUL in ?policy= reached the database as a name to match (500 on PostgreSQL)."""
    client = signed_in(admin)
    page = client.get(url, {"policy": "gu\x00est"})
    assert page.status_code == 200
    assert "A policy name cannot contain a NUL character." in content(page)
    assert client.get(f"{url}download/", {"policy": "gu\x00est"}).status_code == 400
