"""Access I have: resources, delivery state, end date; Extend (rule 6) and Remove my access."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from governance import models as m
from governance.services import approvals, requests
from tests.clients import signed_in
from tests.myaccess.conftest import content, everything

pytestmark = pytest.mark.django_db


@pytest.fixture
def delivered(requestor, approver, developer_tools, deliver) -> m.Assignment:
    request = requests.submit_request(requestor, developer_tools.pk, justification="Release")
    approvals.decide(approver, request.pk, m.Decision.APPROVE)
    deliver()
    request.refresh_from_db()
    assert request.assignment.state == m.AssignmentState.DELIVERED
    return request.assignment


class TestAccessList:
    def test_active_access_with_resources_state_and_end(self, requestor, delivered):
        page = content(signed_in(requestor).get("/myaccess/access/"))
        assert "<h1>Access I have</h1>" in page
        assert f'href="/myaccess/access/{delivered.pk}/"' in page
        for grant in delivered.grants.select_related("resource_role__resource"):
            assert f"Member of the group {grant.resource_role.resource.display_name}" in page
        assert '<span class="badge badge-delivered">Delivered</span>' in page
        assert f'<time datetime="{delivered.end_at.isoformat()}">' in page
        assert f'href="/myaccess/access/{delivered.pk}/#extend">Extend</a>' in page

    def test_failed_grants_are_shown(self, requestor, make_package, deliver):
        package = make_package(name="Broken")
        role = m.ResourceRole.objects.get(package_links__package=package)
        role.resource.origin_id = "00000000-0000-0000-0000-000000000000"
        role.resource.save()
        requests.submit_request(requestor, package.pk)
        deliver()
        page = content(signed_in(requestor).get("/myaccess/access/"))
        assert (
            '<span class="badge badge-deliveryFailed" '
            'title="Delivery failed (Undelivered): no resource could be set up">Delivery failed</span>'
        ) in page
        assert '<span class="badge badge-failed">Failed</span>' in page

    def test_no_extend_when_the_policy_does_not_allow_it(self, requestor, make_package):
        request = requests.submit_request(requestor, make_package(name="Wiki").pk)
        page = content(signed_in(requestor).get("/myaccess/access/"))
        assert f'href="/myaccess/access/{request.assignment_id}/"' in page
        assert ">Extend</a>" not in page

    def test_ended_access_is_under_its_own_tab(self, requestor, delivered):
        requests.request_removal(requestor, delivered.pk)
        client = signed_in(requestor)
        assert f"/myaccess/access/{delivered.pk}/" not in content(client.get("/myaccess/access/"))
        ended = content(client.get("/myaccess/access/", {"status": "ended"}))
        assert f"/myaccess/access/{delivered.pk}/" in ended
        assert '<span class="badge badge-removed">Removed</span>' in ended

    def test_only_ones_own(self, outsider, delivered):
        assert f"/myaccess/access/{delivered.pk}/" not in content(signed_in(outsider).get("/myaccess/access/"))
        assert signed_in(outsider).get(f"/myaccess/access/{delivered.pk}/").status_code == 404


class TestExtend:
    def test_extend_asks_for_approval_when_the_policy_says_so(self, requestor, approver, delivered):
        client = signed_in(requestor)
        page = content(client.get(f"/myaccess/access/{delivered.pk}/"))
        assert '<section class="card" id="extend">' in page
        assert '<label for="id_justification">Business justification (required)</label>' in page
        response = client.post(
            f"/myaccess/access/{delivered.pk}/extend/", {"justification": "Still on it"}, follow=True
        )
        extension = m.AssignmentRequest.objects.get(assignment=delivered, request_type=m.RequestType.USER_EXTEND)
        assert response.redirect_chain[-1][0] == f"/myaccess/requests/{extension.pk}/"
        assert "You asked to extend your access to Developer tools; it now needs approval." in content(response)
        assert extension.state == m.RequestState.PENDING_APPROVAL
        assert m.OutboundEmail.objects.filter(kind="approval_needed", request=extension, recipient=approver).exists()
        # The approver sees it for what it is.
        approvals_page = content(signed_in(approver).get("/myaccess/approvals/"))
        assert '<span class="badge">Extension</span>' in approvals_page

    def test_extend_without_approval_extends(self, requestor, make_package, deliver):
        package = make_package(name="Wiki", allow_extension=True, expiration_days=30)
        made = requests.submit_request(requestor, package.pk)
        deliver()
        assignment = m.Assignment.objects.get(pk=made.assignment_id)
        m.Assignment.objects.filter(pk=assignment.pk).update(end_at=timezone.now() + timedelta(days=3))
        response = signed_in(requestor).post(f"/myaccess/access/{assignment.pk}/extend/", {}, follow=True)
        assert "Your access to Wiki is being extended." in content(response)
        assignment.refresh_from_db()
        assert assignment.end_at > timezone.now() + timedelta(days=29)

    def test_justification_required_error_next_to_the_field(self, requestor, delivered):
        before = everything()
        response = signed_in(requestor).post(f"/myaccess/access/{delivered.pk}/extend/", {"justification": ""})
        assert response.status_code == 200
        assert 'id="id_justification_error">A business justification is required.' in content(response)
        assert everything() == before

    def test_refused_when_the_policy_does_not_allow_extensions(self, requestor, make_package):
        made = requests.submit_request(requestor, make_package(name="Wiki").pk)
        before = everything()
        response = signed_in(requestor).post(f"/myaccess/access/{made.assignment_id}/extend/", {})
        assert response.status_code == 200
        assert "This access package&#x27;s policy does not allow extensions." in content(response)
        assert everything() == before

    def test_a_second_extension_links_to_the_first(self, requestor, delivered):
        first = requests.request_extension(requestor, delivered.pk, justification="first")
        before = everything()
        response = signed_in(requestor).post(f"/myaccess/access/{delivered.pk}/extend/", {"justification": "again"})
        page = content(response)
        assert response.status_code == 200
        assert "A change to this access is already requested" in page
        assert f'href="/myaccess/requests/{first.pk}/"' in page
        assert everything() == before

    def test_someone_elses_access_is_404_and_untouched(self, outsider, delivered):
        before = everything()
        response = signed_in(outsider).post(f"/myaccess/access/{delivered.pk}/extend/", {"justification": "mine"})
        assert response.status_code == 404
        assert everything() == before


class TestRemoveMyAccess:
    def test_removes_and_revokes(self, requestor, delivered, deliver):
        response = signed_in(requestor).post(
            f"/myaccess/access/{delivered.pk}/remove/", {"justification": "Moved teams"}, follow=True
        )
        assert "Your access is being removed." in content(response)
        deliver()
        delivered.refresh_from_db()
        assert delivered.state == m.AssignmentState.REMOVED
        assert not delivered.grants.filter(state__in=m.GrantState.WANTED).exists()

    def test_someone_elses_access_is_404_and_untouched(self, outsider, delivered):
        before = everything()
        assert signed_in(outsider).post(f"/myaccess/access/{delivered.pk}/remove/").status_code == 404
        assert everything() == before

    def test_removing_ended_access_is_refused(self, requestor, delivered, deliver):
        requests.request_removal(requestor, delivered.pk)
        deliver()
        before = everything()
        response = signed_in(requestor).post(f"/myaccess/access/{delivered.pk}/remove/")
        assert response.status_code == 200
        assert "This access has already ended." in content(response)
        assert everything() == before
