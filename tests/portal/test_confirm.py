"""Confirm before destroying (issue 14 item 2), without JavaScript: a GET says what will
happen and changes nothing; the POST acts. Out of scope is 404, as for the action itself."""

from __future__ import annotations

import html

import pytest

from governance import models as m
from governance.services import assignments
from tests import factories as f
from tests.conftest import members_of
from tests.portal.conftest import pending_request, text
from tests.portal.explain_scene import SENTENCE, otto_scene

pytestmark = pytest.mark.django_db


@pytest.fixture
def otto(catalog, admin, deliver):  # type: ignore[no-untyped-def]
    return otto_scene(catalog, admin, deliver)


def test_remove_assignment_asks_first_and_says_what_is_lost_and_kept(client, admin, otto, deliver):
    client.force_login(admin)
    url = f"/governance/assignments/{otto.dev_assignment.pk}/remove/"
    page = client.get(url, {"justification": "Left the team"})
    assert page.status_code == 200
    body = text(page)
    assert SENTENCE in body
    assert 'value="Left the team"' in page.content.decode() or "Left the team" in body
    otto.dev_assignment.refresh_from_db()
    assert otto.dev_assignment.state == m.AssignmentState.DELIVERED

    client.post(url, {"justification": "Left the team"})
    deliver()
    otto.dev_assignment.refresh_from_db()
    assert otto.dev_assignment.state == m.AssignmentState.REMOVED
    assert {name for name, role in otto.roles.items() if "otto" in members_of(role)} == {"Builders"}


def test_htmx_gets_only_the_confirmation(client, admin, otto):
    client.force_login(admin)
    page = client.get(f"/governance/assignments/{otto.dev_assignment.pk}/remove/", headers={"HX-Request": "true"})
    body = page.content.decode()
    assert 'id="confirm"' in body
    assert "<html" not in body
    assert SENTENCE in text(page)


def test_remove_an_ended_assignment_goes_back(client, admin, otto):
    client.force_login(admin)
    otto.dev_assignment.state = m.AssignmentState.REMOVED
    otto.dev_assignment.save(update_fields=["state"])
    page = client.get(f"/governance/assignments/{otto.dev_assignment.pk}/remove/", follow=True)
    assert "already removed" in text(page)


def test_remove_resource_role_asks_who_loses_it(client, pkg_manager, admin, otto, catalog, deliver):
    other = f.UserFactory(display_name="Dana Doe")
    policy = otto.oncall.policies.get()
    assignments.create_direct_assignments(admin, otto.oncall.pk, policy_id=policy.pk, target_ids=[other.pk])
    deliver()
    client.force_login(pkg_manager)
    url = f"/governance/packages/{otto.oncall.pk}/roles/{otto.roles['Builders'].pk}/remove/"
    body = text(client.get(url))
    assert "Dana Doe loses Builders." in body
    assert "Otto Outsider keeps Builders through Developer tools." in body
    assert m.PackageResourceRole.objects.filter(package=otto.oncall).exists()


def test_admin_cancel_asks_first(client, assignment_manager, catalog, make_package, approver):
    package = make_package(roles=1, name="Wiki")
    pending = pending_request(package, approver)
    client.force_login(assignment_manager)
    url = f"/governance/requests/{pending.pk}/cancel/"
    body = html.unescape(text(client.get(url, {"reason": "Asked twice"})))
    assert f"Cancel {pending.target}'s request for Wiki?" in body
    assert "nothing has been given yet" in body
    pending.refresh_from_db()
    assert pending.state == m.RequestState.PENDING_APPROVAL
    client.post(url, {"reason": "Asked twice"})
    pending.refresh_from_db()
    assert pending.state == m.RequestState.CANCELED


@pytest.mark.parametrize("persona", ["catalog_reader", "finance_owner", "outsider"])
def test_confirmation_pages_are_404_outside_scope(client, request, persona, otto, make_package, approver):
    pending = pending_request(make_package(roles=1, name="Wiki"), approver)
    client.force_login(request.getfixturevalue(persona))
    for url in (
        f"/governance/assignments/{otto.dev_assignment.pk}/remove/",
        f"/governance/requests/{pending.pk}/cancel/",
        f"/governance/packages/{otto.oncall.pk}/roles/{otto.roles['Builders'].pk}/remove/",
    ):
        # Outside the admin portal altogether, or outside this catalog: not there.
        assert client.get(url).status_code == 404, url


def test_the_pattern_takes_a_bulk_selection(rf, admin, otto, catalog, deliver):
    """How a bulk action adopts it: the selected ids as hidden fields, one what-if for all."""
    from django.contrib.messages.storage.fallback import FallbackStorage

    from governance.services import explain
    from governance.web import Confirmation, confirm_page

    other = f.UserFactory(display_name="Dana Doe")
    policy = otto.oncall.policies.get()
    assignments.create_direct_assignments(admin, otto.oncall.pk, policy_id=policy.pk, target_ids=[other.pk])
    deliver()
    ids = [str(otto.oncall_assignment.pk), str(m.Assignment.objects.get(target=other).pk)]
    request = rf.get("/governance/assignments/remove/")
    request.user = admin
    request.session = {}
    request._messages = FallbackStorage(request)
    response = confirm_page(
        request,
        Confirmation(
            title="Remove 2 assignments?",
            button="Remove",
            action="/governance/assignments/remove/",
            back="/governance/assignments/",
            what_if=explain.removing_assignments(ids, viewer=admin),
            hidden=[("ids", pk) for pk in ids],
        ),
    )
    body = response.content.decode()
    assert "Dana Doe loses Builders." in body
    assert "Otto Outsider keeps Builders through Developer tools." in body
    assert all(f'name="ids" value="{pk}"' in body for pk in ids)
