"""Issue 15 item 4 (seed 000: "who requested, their policy, and status"): the Policy column,
a filter by policy, and Download (CSV) of the filtered Requests list."""

from __future__ import annotations

import csv
import io

import pytest

from governance import models as m
from governance.services import requests
from tests import factories as f
from tests.myaccess.conftest import content, signed_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def wiki(make_package, requestor, outsider):
    """Two policies of one package, a request through each."""
    package = make_package(name="Wiki")
    staff = package.policies.get()
    m.AssignmentPolicy.objects.filter(pk=staff.pk).update(display_name="Staff policy")
    guests = f.PolicyFactory(
        package=package, display_name="Guest policy", allowed_target_scope=m.TargetScope.ALL_MEMBERS
    )
    requests.submit_request(requestor, package.pk, policy_id=staff.pk)
    requests.submit_request(outsider, package.pk, policy_id=guests.pk)
    return package


def download(client, url: str, **query) -> list[list[str]]:
    response = client.get(url, query)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


class TestPackageTab:
    def test_policy_column_and_filter(self, admin, wiki, requestor, outsider):
        client = signed_in(admin)
        url = f"/governance/packages/{wiki.pk}/requests/"
        page = content(client.get(url))
        assert '<th scope="col">Policy</th>' in page
        assert '<td data-label="Policy">Staff policy</td>' in page
        assert '<td data-label="Policy">Guest policy</td>' in page
        assert '<label for="id_policy">Policy</label>' in page
        guests = wiki.policies.get(display_name="Guest policy")
        filtered = content(client.get(url, {"policy": str(guests.pk)}))
        assert str(outsider) in filtered
        assert str(requestor) not in filtered
        assert f'href="/governance/packages/{wiki.pk}/requests/download/?policy={guests.pk}"' in filtered

    def test_download_is_the_filtered_list(self, admin, wiki, outsider):
        guests = wiki.policies.get(display_name="Guest policy")
        rows = download(signed_in(admin), f"/governance/packages/{wiki.pk}/requests/download/", policy=str(guests.pk))
        assert rows[0][:7] == [
            "Person",
            "User principal name",
            "Requested by",
            "Access package",
            "Policy",
            "Type",
            "Status",
        ]
        assert len(rows) == 2
        assert rows[1][0] == outsider.display_name
        assert rows[1][3:5] == ["Wiki", "Guest policy"]

    def test_a_policy_of_another_package_is_a_form_error_not_a_500(self, admin, wiki, make_package):
        other = make_package(name="Other").policies.get()
        client = signed_in(admin)
        response = client.get(f"/governance/packages/{wiki.pk}/requests/", {"policy": str(other.pk)})
        assert response.status_code == 200
        response = client.get(f"/governance/packages/{wiki.pk}/requests/download/", {"policy": str(other.pk)})
        assert response.status_code == 400


class TestAllRequests:
    def test_policy_column_filter_by_name_and_download(self, admin, wiki, requestor, outsider):
        client = signed_in(admin)
        page = content(client.get("/governance/requests/", {"policy": "guest"}))
        assert '<td data-label="Policy">Guest policy</td>' in page
        assert '<td data-label="Policy">Staff policy</td>' not in page
        assert 'href="/governance/requests/download/?policy=guest"' in page
        rows = download(client, "/governance/requests/download/", policy="guest")
        assert [row[4] for row in rows[1:]] == ["Guest policy"]
        everything = download(client, "/governance/requests/download/")
        assert sorted(row[4] for row in everything[1:]) == ["Guest policy", "Staff policy"]

    def test_download_shows_only_what_the_viewer_may_see(
        self, catalog_owner, wiki, make_package, other_catalog, requestor
    ):
        elsewhere = make_package(name="Elsewhere", in_catalog=other_catalog)
        requests.submit_request(requestor, elsewhere.pk)
        rows = download(signed_in(catalog_owner), "/governance/requests/download/")
        assert {row[3] for row in rows[1:]} == {"Wiki"}
