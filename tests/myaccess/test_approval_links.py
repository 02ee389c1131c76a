"""Emailed approval links (DESIGN §6): signed, single use, one approver, one stage; GET never decides."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core import signing
from django.test import Client
from django.utils import timezone
from django.utils.html import escape

from governance import models as m
from governance.services import approval_links, approvals, requests
from governance.services.approval_links import LinkExpired, LinkForSomeoneElse, LinkInvalid, LinkUsed
from tests import factories as f
from tests.clients import signed_in
from tests.myaccess.conftest import approval_link, content, everything, path_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def link(approver, pending) -> str:
    return path_of(approval_link(approver, pending))


@pytest.fixture
def login_optional(settings):
    settings.APPROVAL_LINK_REQUIRES_LOGIN = False


def approve(client: Client, path: str, **extra: str):
    return client.post(path, {"decision": "Approve", "stage": 1, **extra})


class TestEmailCarriesALink:
    def test_each_approver_gets_a_link_of_their_own(
        self, settings, requestor, approver, second_approver, developer_tools
    ):
        request = requests.submit_request(requestor, developer_tools.pk, justification="x")
        first, second = approval_link(approver, request), approval_link(second_approver, request)
        assert first != second
        assert first.startswith(f"{settings.SITE_URL}/myaccess/approvals/{request.pk}/link/")
        links = m.ApprovalLink.objects.filter(request=request)
        assert {(li.approver_id, li.stage_order, li.expires_at) for li in links} == {
            (approver.pk, 1, request.stage_due_at),
            (second_approver.pk, 1, request.stage_due_at),
        }

    def test_link_is_absolute_from_site_url(self, settings, requestor, approver, developer_tools):
        settings.SITE_URL = "https://portcullis.example"
        request = requests.submit_request(requestor, developer_tools.pk, justification="x")
        assert approval_link(approver, request).startswith(
            f"https://portcullis.example/myaccess/approvals/{request.pk}/link/"
        )


class TestWithSignInRequired:
    """APPROVAL_LINK_REQUIRES_LOGIN on (the default)."""

    def test_anonymous_is_sent_to_sign_in_and_back(self, client, link, approver):
        before = everything()
        response = client.get(link)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=/myaccess/approvals/")
        signed = client.post("/accounts/login/", {"username": "approver", "password": "pw", "next": link})
        assert signed["Location"] == link
        assert client.get(link).status_code == 200
        assert everything() == before

    def test_anonymous_post_decides_nothing(self, client, link):
        before = everything()
        assert approve(client, link).status_code == 302
        assert everything() == before

    def test_get_shows_the_confirmation_and_decides_nothing(self, approver, requestor, pending, link):
        before = everything()
        response = signed_in(approver).get(link)
        page = content(response)
        assert response.status_code == 200
        assert f"<h1>{requestor} requests Developer tools</h1>" in page
        assert "Release 4.2 needs CI" in page
        assert 'value="Approve"' in page
        assert 'value="Deny"' in page
        assert '<label for="id_justification">Justification</label>' in page
        assert "Nothing is decided until you click Approve or Deny." in page
        assert everything() == before
        pending.refresh_from_db()
        assert pending.state == m.RequestState.PENDING_APPROVAL

    def test_post_approves_once_and_replay_is_refused(self, approver, requestor, pending, link):
        client = signed_in(approver)
        response = approve(client, link, justification="Fine by me")
        assert response.status_code == 200
        assert "You approved this request" in content(response)
        pending.refresh_from_db()
        assert pending.state == m.RequestState.DELIVERING
        decision = pending.decisions.get()
        assert (decision.approver, decision.justification) == (approver, "Fine by me")
        used = m.ApprovalLink.objects.get(request=pending, approver=approver)
        assert used.used_at is not None
        assert used.decision == decision
        assert m.AuditEvent.objects.filter(
            action="request.approval_link_used", object_id=str(pending.pk), data__signed_in=True
        ).exists()

        before = everything()
        replay = client.post(link, {"decision": "Deny", "stage": 1})
        assert replay.status_code == 410
        assert "This link has already been used" in content(replay)
        assert "you approved this request on" in content(replay)
        again = client.get(link)
        assert again.status_code == 410
        assert everything() == before

    def test_a_token_for_approver_a_used_by_b_is_refused(self, approver, second_approver, pending, link):
        before = everything()
        client = signed_in(second_approver)
        response = client.get(link)
        assert response.status_code == 403
        page = content(response)
        assert "This link is for someone else" in page
        assert f"This approval link was sent to {approver}" in page
        assert "Release 4.2" not in page  # the wrong person learns nothing about the request
        assert "Developer tools" not in page
        assert f"Sign in as {approver}" in page
        assert approve(client, link).status_code == 403
        assert everything() == before

    def test_the_requestor_holding_the_link_is_refused(self, requestor, pending, link):
        before = everything()
        assert approve(signed_in(requestor), link).status_code == 403
        assert everything() == before

    def test_deny_with_justification(self, approver, requestor, pending, link):
        response = signed_in(approver).post(link, {"decision": "Deny", "stage": 1, "justification": "Wrong team"})
        assert "You denied this request" in content(response)
        pending.refresh_from_db()
        assert pending.state == m.RequestState.DENIED
        assert "Reason: Wrong team" in m.OutboundEmail.objects.get(kind="request_denied").body_text

    def test_justification_required_keeps_the_link_usable(self, approver, pending, link):
        pending.policy.approver_justification_required = True
        pending.policy.save()
        client = signed_in(approver)
        before = everything()
        response = approve(client, link)
        assert response.status_code == 200
        assert 'id="id_justification_error">A justification is required for this decision.' in content(response)
        assert everything() == before
        assert approve(client, link, justification="Checked with the lead").status_code == 200
        pending.refresh_from_db()
        assert pending.state == m.RequestState.DELIVERING


class TestWithoutSignIn:
    """APPROVAL_LINK_REQUIRES_LOGIN off: the link alone authorizes that approver's one decision."""

    def test_anonymous_get_shows_the_page_and_post_decides_as_the_approver(
        self, login_optional, client, approver, pending, link
    ):
        before = everything()
        page = client.get(link)
        assert page.status_code == 200
        assert f"You, {approver}, are an approver of this request." in content(page)
        assert everything() == before
        response = approve(client, link)
        assert response.status_code == 200
        pending.refresh_from_db()
        assert pending.state == m.RequestState.DELIVERING
        assert pending.decisions.get().approver == approver
        assert m.AuditEvent.objects.filter(action="request.approval_link_used", data__signed_in=False).exists()
        assert approve(client, link).status_code == 410

    def test_signed_in_as_someone_else_is_still_refused(self, login_optional, outsider, pending, link):
        before = everything()
        assert approve(signed_in(outsider), link).status_code == 403
        assert everything() == before

    def test_csrf_still_applies(self, login_optional, pending, link):
        strict = Client(enforce_csrf_checks=True)
        before = everything()
        assert approve(strict, link).status_code == 403
        assert everything() == before


class TestScanners:
    """Mail scanners follow links: GET and HEAD must never change anything."""

    @pytest.mark.parametrize("login_required", [True, False])
    def test_scanner_get_and_head_change_nothing(self, settings, login_required, pending, link):
        settings.APPROVAL_LINK_REQUIRES_LOGIN = login_required
        scanner = Client(HTTP_USER_AGENT="Mozilla/5.0 (compatible; SafeLinks-Scanner/1.0)")
        before = everything()
        links_before = list(m.ApprovalLink.objects.values("pk", "used_at", "decision"))
        for _ in range(3):
            assert scanner.get(link).status_code in {200, 302}
            assert scanner.head(link).status_code in {200, 302}
        assert everything() == before
        assert list(m.ApprovalLink.objects.values("pk", "used_at", "decision")) == links_before
        pending.refresh_from_db()
        assert pending.state == m.RequestState.PENDING_APPROVAL

    def test_other_methods_are_not_allowed(self, approver, link):
        assert signed_in(approver).put(link).status_code == 405


class TestRefusedLinks:
    """Each failure is a clear page, never an error page."""

    def test_tampered_link(self, approver, pending, link):
        before = everything()
        token = link.rstrip("/").rsplit("/", 1)[1]
        tampered = link.replace(token, token[:-3] + ("abc" if not token.endswith("abc") else "xyz"))
        response = signed_in(approver).get(tampered)
        assert response.status_code == 404
        assert "This link is not valid" in content(response)
        assert approve(signed_in(approver), tampered).status_code == 404
        assert everything() == before

    def test_a_link_for_another_request_is_invalid(self, approver, pending, link, requestor, make_package):
        other = requests.submit_request(requestor, make_package(name="Other", approvers=[approver]).pk)
        swapped = link.replace(str(pending.pk), str(other.pk))
        assert signed_in(approver).get(swapped).status_code == 404

    def test_forged_signature_of_a_real_id_is_invalid(self, approver, pending):
        real = m.ApprovalLink.objects.get(request=pending, approver=approver)
        forged = signing.dumps(str(real.pk), salt="something.else")
        response = signed_in(approver).get(f"/myaccess/approvals/{pending.pk}/link/{forged}/")
        assert response.status_code == 404
        with pytest.raises(LinkInvalid):
            approval_links.open_link(forged, pending.pk)

    def test_expired_with_the_stage(self, approver, pending, link):
        with time_machine.travel(pending.stage_due_at + timedelta(minutes=1)):
            before = everything()
            client = signed_in(approver)
            response = client.get(link)
            assert response.status_code == 410
            assert "This link has expired" in content(response)
            assert approve(client, link).status_code == 410
            assert everything() == before

    def test_timed_out_request(self, approver, pending, link):
        approvals.time_out_request(pending.pk, now=pending.stage_due_at + timedelta(minutes=1))
        response = signed_in(approver).get(link)
        assert response.status_code == 409
        assert "no longer waiting for your decision: it is Canceled. Approval timed out" in content(response)

    def test_canceled_by_the_requestor(self, approver, requestor, pending, link):
        requests.cancel_request_as_requestor(requestor, pending.pk)
        before = everything()
        response = approve(signed_in(approver), link)
        assert response.status_code == 409
        assert "it is Canceled" in content(response)
        assert everything() == before

    def test_already_decided_by_another_approver(self, approver, second_approver, pending):
        link = path_of(approval_link(second_approver, pending))
        approvals.decide(approver, pending.pk, m.Decision.APPROVE)
        before = everything()
        client = signed_in(second_approver)
        response = client.get(link)
        assert response.status_code == 409
        page = content(response)
        assert "Already decided" in page
        assert f"Already decided by {escape(approver)} on" in page
        assert approve(client, link).status_code == 409
        assert everything() == before

    def test_a_stage_1_link_cannot_decide_stage_2(self, approver, pending, link):
        second = f.UserFactory(username="stage2")
        stage2 = f.ApprovalStageFactory(policy=pending.policy, order=2)
        f.StageApproverFactory(stage=stage2, kind=m.ApproverKind.USER, user=approver)
        f.StageApproverFactory(stage=stage2, kind=m.ApproverKind.USER, user=second)
        approvals.decide(approver, pending.pk, m.Decision.APPROVE)  # through My Access, not the link
        pending.refresh_from_db()
        assert pending.current_stage == 2
        before = everything()
        assert approve(signed_in(approver), link).status_code == 409
        assert everything() == before
        # The stage 2 email carries a new link that works.
        stage2_link = path_of(approval_link(approver, pending))
        assert stage2_link != link
        assert signed_in(approver).post(stage2_link, {"decision": "Approve", "stage": 2}).status_code == 200

    def test_approver_removed_from_the_stage_is_refused(self, approver, second_approver, pending, link):
        pending.policy.stages.get().approvers.filter(user=approver).delete()
        before = everything()
        response = approve(signed_in(approver), link)
        assert response.status_code == 403
        assert "You are not an approver of stage 1" in content(response)
        assert everything() == before


class TestService:
    def test_check_order_person_first(self, approver, second_approver, pending):
        link = m.ApprovalLink.objects.get(request=pending, approver=approver)
        link.used_at = timezone.now()
        with pytest.raises(LinkForSomeoneElse):
            approval_links.check_usable(link, second_approver)
        with pytest.raises(LinkUsed):
            approval_links.check_usable(link, approver)

    def test_expiry_follows_the_stage_deadline(self, approver, pending):
        link = m.ApprovalLink.objects.get(request=pending, approver=approver)
        approval_links.check_usable(link, approver, now=pending.stage_due_at - timedelta(seconds=1))
        with pytest.raises(LinkExpired):
            approval_links.check_usable(link, approver, now=pending.stage_due_at)


def test_a_used_link_posted_without_a_decision_still_says_used(approver, pending, link):
    client = signed_in(approver)
    approve(client, link)
    response = client.post(link, {})
    assert response.status_code == 410
    assert "This link has already been used" in content(response)
