"""A person's page and a resource's page (issue 22): what they show, CSV, scope (404 outside
it) and a constant number of queries whatever the number of rows."""

from __future__ import annotations

import csv
import html
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from governance import models as m
from governance.services import assignments
from tests import factories as f
from tests.portal.conftest import pending_request, text
from tests.portal.explain_scene import otto_scene

pytestmark = pytest.mark.django_db


@pytest.fixture
def otto(catalog, admin, deliver):  # type: ignore[no-untyped-def]
    return otto_scene(catalog, admin, deliver)


def test_person_page_shows_assignments_requests_and_why_each_role(client, admin, otto, approver):
    pending = pending_request(f.AccessPackageFactory(catalog=otto.dev_tools.catalog, display_name="Wiki"), approver)
    pending.target = otto.person
    pending.save(update_fields=["target"])
    client.force_login(admin)
    body = html.unescape(text(client.get(f"/governance/people/{otto.person.pk}/")))
    assert "Otto Outsider" in body
    assert "Builders · Member Granted Developer tools Production on-call" in body
    assert "Developers · Member Granted Developer tools" in body
    assert "Status Requested Wiki User request" in body
    assert "Developer tools" in body
    assert "Production on-call" in body


def test_person_csv(client, admin, otto):
    client.force_login(admin)
    response = client.get(f"/governance/people/{otto.person.pk}/download/")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:3] == ["Access package", "Catalog", "Policy"]
    assert sorted((r[0], r[6]) for r in rows[1:]) == [
        ("Developer tools", "Builders · Member"),
        ("Developer tools", "Developers · Member"),
        ("Developer tools", "Support queue · Member"),
        ("Production on-call", "Builders · Member"),
    ]


def test_resource_page_lists_holders_and_reads_who_is_not_governed(client, admin, otto):
    builders = otto.roles["Builders"]
    stranger = f.UserFactory(display_name="Sam Stranger")
    m.GroupMembership.objects.create(group_id=builders.resource.origin_id, user=stranger)
    client.force_login(admin)
    url = f"/governance/resources/{builders.resource_id}/"
    body = text(client.get(url))
    assert "Member Otto Outsider Developer tools" in body
    assert "Member Otto Outsider Production on-call" in body
    assert "Sam Stranger" not in body  # only read from the target when asked
    read = text(client.get(url, {"read": "1"}))
    assert "Sam Stranger" in read
    assert "Not governed" in read
    partial = client.get(url, {"read": "1"}, headers={"HX-Request": "true"}).content.decode()
    assert "<html" not in partial
    assert "Sam Stranger" in partial
    rows = list(csv.reader(io.StringIO(b"".join(client.get(url + "download/").streaming_content).decode())))
    assert sorted((r[1], r[4]) for r in rows[1:]) == [
        ("Otto Outsider", "Developer tools"),
        ("Otto Outsider", "Production on-call"),
    ]


@pytest.mark.parametrize(
    ("persona", "status"),
    [
        ("admin", 200),
        ("governance_admin", 200),
        ("catalog_owner", 200),
        ("catalog_reader", 200),
        ("assignment_manager", 200),
        ("finance_owner", 404),
        ("outsider", 404),
        ("requestor", 404),
    ],
)
def test_permission_matrix(client, request, persona, status, otto):
    client.force_login(request.getfixturevalue(persona))
    resource = otto.roles["Builders"].resource_id
    for url in (
        f"/governance/people/{otto.person.pk}/",
        f"/governance/people/{otto.person.pk}/download/",
        f"/governance/resources/{resource}/",
        f"/governance/resources/{resource}/download/",
        f"/governance/resources/{resource}/?read=1",
    ):
        assert client.get(url).status_code == status, url


def test_a_catalog_viewer_sees_only_their_catalogs(client, otto, other_catalog, finance_owner, admin, deliver):
    elsewhere = f.AccessPackageFactory(catalog=other_catalog, display_name="Payroll")
    role = f.ResourceRoleFactory(resource__catalog=other_catalog, resource__display_name="Ledger")
    f.PackageResourceRoleFactory(package=elsewhere, resource_role=role)
    direct = f.PolicyFactory(package=elsewhere, allowed_target_scope=m.TargetScope.NO_ONE)
    assignments.create_direct_assignments(admin, elsewhere.pk, policy_id=direct.pk, target_ids=[otto.person.pk])
    deliver()
    client.force_login(finance_owner)
    body = text(client.get(f"/governance/people/{otto.person.pk}/"))
    assert "Payroll" in body
    assert "Ledger" in body
    assert "Developer tools" not in body
    assert "Builders" not in body
    assert client.get(f"/governance/resources/{otto.roles['Builders'].resource_id}/").status_code == 404


def test_unknown_person_is_404(client, admin):
    client.force_login(admin)
    assert client.get("/governance/people/00000000-0000-0000-0000-000000000000/").status_code == 404


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as context:
        assert client.get(url).status_code == 200
    return len(context)


def test_query_counts_do_not_grow_with_rows(client, admin, catalog, otto, deliver):
    client.force_login(admin)
    person_url = f"/governance/people/{otto.person.pk}/"
    resource_url = f"/governance/resources/{otto.roles['Builders'].resource_id}/"
    before = (_queries(client, person_url), _queries(client, resource_url))
    for number in range(8):
        package = f.AccessPackageFactory(catalog=catalog, display_name=f"Extra {number}")
        f.PackageResourceRoleFactory(package=package, resource_role=otto.roles["Builders"])
        policy = f.PolicyFactory(package=package, allowed_target_scope=m.TargetScope.NO_ONE)
        people = [otto.person.pk, f.UserFactory().pk]
        assignments.create_direct_assignments(admin, package.pk, policy_id=policy.pk, target_ids=people)
    deliver()
    assert (_queries(client, person_url), _queries(client, resource_url)) == before
