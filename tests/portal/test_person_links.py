"""Issue 22: every admin-portal page that names a person links the name to the person's page,
but only when the viewer may open it (the page is 404 outside their scope), and without a
query per row."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from governance import models as m
from governance.permissions import opens_person_page, person_in_scope
from governance.services import assignments, reviews, separation
from tests import factories as f
from tests.portal.conftest import pending_request
from tests.portal.explain_scene import Otto, otto_scene

pytestmark = pytest.mark.django_db


@pytest.fixture
def otto(catalog, admin, deliver) -> Otto:  # type: ignore[no-untyped-def]
    return otto_scene(catalog, admin, deliver)


def link(person: m.User) -> str:
    return f'href="/governance/people/{person.pk}/"'


def body(client: Any, url: str, method: str = "get", **data: Any) -> str:
    response = getattr(client, method)(url, data)
    assert response.status_code == 200, url
    return response.content.decode()


def test_lists_and_details_link_the_person(client, admin, otto, approver):
    pending = pending_request(f.AccessPackageFactory(catalog=otto.dev_tools.catalog, display_name="Wiki"), approver)
    request_of_otto = m.AssignmentRequest.objects.filter(assignment=otto.dev_assignment).first()
    assert request_of_otto is not None
    client.force_login(admin)
    for url in (
        "/governance/assignments/",
        f"/governance/packages/{otto.dev_tools.pk}/assignments/",
        "/governance/requests/",
        f"/governance/packages/{otto.dev_tools.pk}/requests/",
        f"/governance/assignments/{otto.dev_assignment.pk}/",
        f"/governance/requests/{request_of_otto.pk}/",
        f"/governance/resources/{otto.roles['Builders'].resource_id}/",
    ):
        assert link(otto.person) in body(client, url), url
    # Who asked for it, and who decides it: named on the request's page, linked too.
    detail = body(client, f"/governance/requests/{request_of_otto.pk}/")
    assert link(admin) in detail  # requested by
    assert link(approver) in body(client, f"/governance/requests/{pending.pk}/")  # approvers of the stage
    # The audit log and the dashboard name who did it.
    assert link(admin) in body(client, "/governance/audit/")
    assert link(admin) in body(client, "/governance/")


def test_decisions_reviews_members_conflicts_and_bulk_removal(client, admin, catalog, catalog_owner, approver, otto):
    client.force_login(admin)
    # Approval decisions on a request's page: who decided.
    decided = pending_request(f.AccessPackageFactory(catalog=catalog, display_name="Wiki"), approver)
    f.ApprovalDecisionFactory(request=decided, approver=approver)
    assert link(approver) in body(client, f"/governance/requests/{decided.pk}/")
    # People in the catalog's roles.
    assert link(catalog_owner) in body(client, f"/governance/catalogs/{catalog.pk}/")
    # An access review's decisions: the person reviewed and the reviewer.
    policy = otto.dev_assignment.policy
    otto.person.manager = approver
    otto.person.save(update_fields=["manager"])
    reviews.save_settings(
        policy,
        reviews.ReviewSpec(
            enabled=True,
            start_at=timezone.now() - timedelta(minutes=1),
            reviewers=[("manager", None, False)],
        ),
        None,
    )
    instance = reviews.start_instance(policy.pk)
    assert instance is not None
    page = body(client, f"/governance/packages/{otto.dev_tools.pk}/reviews/{instance.pk}/")
    assert link(otto.person) in page
    assert link(approver) in page
    # The separation-of-duties report: people who already hold both.
    separation.add_incompatible_package(admin, otto.dev_tools.pk, otto.oncall.pk)
    assert link(otto.person) in body(client, f"/governance/packages/{otto.dev_tools.pk}/separation/held-both/")
    # Removing a selection: the confirmation names each person.
    confirm = body(client, "/governance/assignments/remove/", "post", ids=[str(otto.dev_assignment.pk)], next="/")
    assert link(otto.person) in confirm


def test_a_catalog_viewer_gets_links_only_to_people_in_their_scope(client, admin, otto, catalog_reader):
    """The target of a row the reader sees is in scope; the administrator who assigned it
    (no assignment in the reader's catalogs) is not, so is named without a link."""
    request_of_otto = m.AssignmentRequest.objects.filter(assignment=otto.dev_assignment).first()
    assert request_of_otto is not None
    client.force_login(catalog_reader)
    for url in ("/governance/assignments/", "/governance/requests/", f"/governance/requests/{request_of_otto.pk}/"):
        page = body(client, url)
        assert link(otto.person) in page, url
        assert link(admin) not in page, url
        assert str(admin) in page or url == "/governance/assignments/"
    assert client.get(f"/governance/people/{admin.pk}/").status_code == 404
    assert client.get(f"/governance/people/{otto.person.pk}/").status_code == 200


@pytest.mark.parametrize(
    "persona", ["admin", "governance_admin", "catalog_owner", "catalog_reader", "outsider", "requestor"]
)
def test_the_link_rule_agrees_with_the_page(request, persona, otto, admin):
    """opens_person_page (no query) never links to a page person_in_scope would refuse."""
    viewer = request.getfixturevalue(persona)
    for person, is_target in ((otto.person, True), (admin, False)):
        if opens_person_page(viewer, target_of_visible_row=is_target):
            assert person_in_scope(viewer, person.pk) == person


def _queries(client: Any, url: str) -> int:
    with CaptureQueriesContext(connection) as context:
        assert client.get(url).status_code == 200
    return len(context)


@pytest.mark.parametrize("persona", ["admin", "catalog_reader"])
def test_links_add_no_query_per_row(request, client, persona, catalog, admin, otto):
    client.force_login(request.getfixturevalue(persona))
    urls = ("/governance/assignments/", "/governance/requests/", "/governance/audit/")
    before = [_queries(client, url) for url in urls]
    package = f.AccessPackageFactory(catalog=catalog, display_name="Many")
    f.PackageResourceRoleFactory(package=package, resource_role=otto.roles["Builders"])
    policy = f.PolicyFactory(package=package, allowed_target_scope=m.TargetScope.NO_ONE)
    people = [f.UserFactory().pk for _ in range(30)]
    assignments.create_direct_assignments(admin, package.pk, policy_id=policy.pk, target_ids=people)
    pages = [body(client, url) for url in urls]
    assert all(pages[0].count(f'href="/governance/people/{pk}/"') == 1 for pk in people[-20:])
    assert [_queries(client, url) for url in urls] == before
