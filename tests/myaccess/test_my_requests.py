"""Seed 002, "View your access and requests" and "Cancel a request" (rule 3)."""

from __future__ import annotations

import re

import pytest
from django.utils.html import escape

from governance import models as m
from governance.services import approvals, requests
from tests import factories as f
from tests.clients import signed_in
from tests.myaccess.conftest import content, everything

pytestmark = pytest.mark.django_db

DETAIL_LINK = re.compile(r'<a href="/myaccess/requests/[0-9a-f-]{36}/">')


class TestMyRequestsList:
    def test_every_request_with_its_status(self, requestor, developer_tools, make_package, admin):
        pending = requests.submit_request(requestor, developer_tools.pk, justification="Release")
        wiki = make_package(name="Wiki")
        delivering = requests.submit_request(requestor, wiki.pk)
        someone_elses = f.RequestFactory(package=wiki, policy=wiki.policies.get())
        page = content(signed_in(requestor).get("/myaccess/requests/"))
        assert "<h1>My requests</h1>" in page
        assert f'href="/myaccess/requests/{pending.pk}/"' in page
        assert f'href="/myaccess/requests/{delivering.pk}/"' in page
        assert f"/myaccess/requests/{someone_elses.pk}/" not in page
        assert '<span class="badge badge-pendingApproval">Pending approval</span>' in page
        assert '<span class="badge badge-delivering">Delivering</span>' in page

    def test_filters_and_search_live_in_the_query_string(self, requestor, developer_tools, make_package):
        pending = requests.submit_request(requestor, developer_tools.pk, justification="Release")
        requests.cancel_request_as_requestor(requestor, pending.pk)
        wiki = requests.submit_request(requestor, make_package(name="Wiki").pk)
        client = signed_in(requestor)
        open_page = content(client.get("/myaccess/requests/", {"status": "open"}))
        assert f"/myaccess/requests/{wiki.pk}/" in open_page
        assert f"/myaccess/requests/{pending.pk}/" not in open_page
        completed = content(client.get("/myaccess/requests/", {"status": "completed"}))
        assert f"/myaccess/requests/{pending.pk}/" in completed
        assert f"/myaccess/requests/{wiki.pk}/" not in completed
        searched = content(client.get("/myaccess/requests/", {"q": "wiki"}, HTTP_HX_REQUEST="true"))
        assert f"/myaccess/requests/{wiki.pk}/" in searched
        assert f"/myaccess/requests/{pending.pk}/" not in searched
        assert "<html" not in searched

    def test_pages_through_many(self, requestor, make_package):
        package = make_package(name="Many")
        policy = package.policies.get()
        for _ in range(30):
            f.RequestFactory(target=requestor, package=package, policy=policy, state=m.RequestState.DENIED)
        client = signed_in(requestor)
        first = content(client.get("/myaccess/requests/"))
        assert "Page 1 of 2" in first
        assert len(DETAIL_LINK.findall(first)) == 25
        second = content(client.get("/myaccess/requests/", {"page": 2}))
        assert len(DETAIL_LINK.findall(second)) == 5


class TestRequestDetail:
    def test_shows_status_next_step_decisions_and_history(self, requestor, approver, developer_tools, deliver):
        request = requests.submit_request(requestor, developer_tools.pk, justification="Release 4.2")
        approvals.decide(approver, request.pk, m.Decision.APPROVE, "Go ahead")
        deliver()
        page = content(signed_in(requestor).get(f"/myaccess/requests/{request.pk}/"))
        assert '<span class="badge badge-delivered">Delivered</span>' in page
        assert "Release 4.2" in page
        assert f"<strong>Approved</strong> by {approver}" in page
        assert "“Go ahead”" in page
        # History lines are sentences that name people by display name.
        submitted, approved = f"Submitted by {escape(requestor)}", f"Approved (stage 1) by {escape(approver)}"
        for step in (submitted, "Sent to approvers (stage 1)", approved, "Delivered"):
            assert f"<strong>{step}</strong>" in page
        assert "See it in <a href=" in page
        assert ">Cancel</button>" not in page

    def test_pending_shows_approvers_and_cancel(self, requestor, approver, developer_tools):
        request = requests.submit_request(requestor, developer_tools.pk, justification="Release")
        page = content(signed_in(requestor).get(f"/myaccess/requests/{request.pk}/"))
        assert f"Waiting for approval by <strong>{approver}</strong>" in page
        assert ">Cancel</button>" in page

    def test_denied_shows_who_and_why(self, requestor, approver, developer_tools):
        request = requests.submit_request(requestor, developer_tools.pk, justification="Release")
        approvals.decide(approver, request.pk, m.Decision.DENY, "Not in this team")
        page = content(signed_in(requestor).get(f"/myaccess/requests/{request.pk}/"))
        assert f"Denied by {approver}: “Not in this team”" in page
        assert "Request again" in page

    def test_someone_elses_request_is_404(self, outsider, requestor, developer_tools):
        request = requests.submit_request(requestor, developer_tools.pk, justification="Release")
        assert signed_in(outsider).get(f"/myaccess/requests/{request.pk}/").status_code == 404


class TestCancel:
    def test_requestor_cancels_while_pending_approval(self, requestor, developer_tools):
        request = requests.submit_request(requestor, developer_tools.pk, justification="Release")
        response = signed_in(requestor).post(f"/myaccess/requests/{request.pk}/cancel/", follow=True)
        page = content(response)
        assert "Your request for Developer tools was canceled." in page
        assert '<span class="badge badge-canceled">Canceled</span>' in page
        assert f"<strong>Canceled by {escape(requestor)}</strong>" in page  # a sentence, by display name
        request.refresh_from_db()
        assert request.state == m.RequestState.CANCELED
        assert m.AssignmentRequest.objects.get(pk=request.pk).assignment is None
        listing = content(signed_in(requestor).get("/myaccess/requests/"))
        assert '<span class="badge badge-canceled">Canceled</span>' in listing

    def test_refused_once_delivering(self, requestor, make_package):
        request = requests.submit_request(requestor, make_package(name="Wiki").pk)
        before = everything()
        response = signed_in(requestor).post(f"/myaccess/requests/{request.pk}/cancel/", follow=True)
        assert "Cannot cancel the request: the request is Delivering." in content(response)
        assert everything() == before
        request.refresh_from_db()
        assert request.state == m.RequestState.DELIVERING

    def test_someone_elses_request_is_404_and_untouched(self, outsider, requestor, developer_tools):
        request = requests.submit_request(requestor, developer_tools.pk, justification="Release")
        before = everything()
        assert signed_in(outsider).post(f"/myaccess/requests/{request.pk}/cancel/").status_code == 404
        assert everything() == before

    def test_get_does_not_cancel(self, requestor, developer_tools):
        request = requests.submit_request(requestor, developer_tools.pk, justification="Release")
        # A GET only asks (issue 14 item 2: confirm before destroying).
        response = signed_in(requestor).get(f"/myaccess/requests/{request.pk}/cancel/")
        assert response.status_code == 200
        assert "Cancel your request for Developer tools?" in response.content.decode()
        request.refresh_from_db()
        assert request.state == m.RequestState.PENDING_APPROVAL

    def test_cancel_needs_csrf(self, requestor, developer_tools):
        from django.test import Client

        request = requests.submit_request(requestor, developer_tools.pk, justification="Release")
        client = Client(enforce_csrf_checks=True)
        client.force_login(requestor)
        assert client.post(f"/myaccess/requests/{request.pk}/cancel/").status_code == 403
        request.refresh_from_db()
        assert request.state == m.RequestState.PENDING_APPROVAL
