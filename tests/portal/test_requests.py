"""Requests (seeds 000, 001, 003): filters, detail with approval history and the count of
delivery errors, Reprocess request (rule 1), Cancel request (rule 3), Reprocess several."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from governance import models as m
from governance.services import approvals
from tests import factories as f
from tests.conftest import members_of, snapshot
from tests.portal.conftest import Scene, pending_request, repair, text

pytestmark = pytest.mark.django_db


def _people(response: Any) -> list[str]:
    return [str(r.target) for r in response.context["page"].rows]


class TestList:
    def test_filters(self, scene: Scene, as_persona: Any, approver) -> None:
        carol = str(pending_request(scene.package, approver).target)
        client = as_persona("catalog_reader")
        url = f"/governance/packages/{scene.package.pk}/requests/"
        assert len(_people(client.get(url))) == 3
        assert _people(client.get(url, {"status": "attention"})) == ["Bob Brown"]
        assert _people(client.get(url, {"status": "pendingApproval"})) == [carol]
        assert _people(client.get(url, {"status": "open"})) == [carol]
        assert sorted(_people(client.get(url, {"type": "adminAdd"}))) == ["Alice Anders", "Bob Brown"]
        assert _people(client.get(url, {"q": "alice"})) == ["Alice Anders"]
        today = timezone.localdate()
        assert len(_people(client.get(url, {"date_from": today.isoformat()}))) == 3
        assert _people(client.get(url, {"date_to": (today - timedelta(days=1)).isoformat()})) == []
        assert "Partially delivered" in text(client.get(url, {"status": "attention"}))

    def test_search_finds_who_asked_too(self, scene: Scene, as_persona: Any) -> None:
        # Direct assignments were requested by the administrator.
        assert len(_people(as_persona("admin").get("/governance/requests/", {"q": "admin"}))) == 2

    def test_the_count_of_delivery_errors_in_the_list(self, scene: Scene, as_persona: Any) -> None:
        response = as_persona("admin").get("/governance/requests/", {"status": "attention"})
        (row,) = response.context["page"].rows
        assert row.errors == 1
        assert f'href="/governance/requests/{row.pk}/errors/"' in response.content.decode()

    def test_invalid_filters_are_ignored(self, scene: Scene, as_persona: Any) -> None:
        response = as_persona("admin").get("/governance/requests/", {"status": "bogus", "date_from": "yesterday"})
        assert response.status_code == 200
        assert len(_people(response)) == 2


class TestDetail:
    def test_shows_the_request_and_the_count_of_delivery_errors(self, scene: Scene, as_persona: Any) -> None:
        client = as_persona("catalog_reader")
        page = text(client.get(f"/governance/requests/{scene.failed_request.pk}/"))
        assert "Direct assignment: Bob Brown" in page
        assert "Partially delivered" in page
        assert "Delivery errors 1" in page
        assert f"Requested by {m.User.objects.get(username='admin')}" in page
        assert "Admin direct" in page  # the policy
        # A reader sees neither button.
        assert "Reprocess request" not in page
        assert "Cancel request" not in page

    def test_the_count_opens_the_list_of_errors(self, scene: Scene, as_persona: Any) -> None:
        client = as_persona("pkg_manager")
        page = text(client.get(f"/governance/requests/{scene.failed_request.pk}/errors/"))
        assert str(scene.bad_role) in page
        assert "Grant" in page
        assert "Permanent error" in page
        assert "does not exist in the built-in directory" in page
        partial = client.get(f"/governance/requests/{scene.failed_request.pk}/errors/", HTTP_HX_REQUEST="true")
        assert partial.content.decode().lstrip().startswith("<table")

    def test_approval_history(self, scene: Scene, as_persona: Any, approver) -> None:
        request = pending_request(scene.package, approver)
        client = as_persona("admin")
        page = text(client.get(f"/governance/requests/{request.pk}/"))
        assert "Waiting for stage 1 of 1" in page
        assert str(approver) in page
        approvals.decide(approver, request.pk, m.Decision.APPROVE, "Fine by me")
        page = text(client.get(f"/governance/requests/{request.pk}/"))
        assert "Approved" in page
        assert str(approver) in page  # by display name, never username
        assert "Fine by me" in page

    def test_reprocess_request_is_offered_only_when_rule_1_allows(self, scene: Scene, as_persona: Any) -> None:
        client = as_persona("assignment_manager")
        url = f"/governance/requests/{scene.failed_request.pk}/"
        assert "Reprocess request" in text(client.get(url))
        m.AssignmentRequest.objects.filter(pk=scene.failed_request.pk).update(
            completed_at=timezone.now() - timedelta(days=15)
        )
        assert "Reprocess request" not in text(client.get(url))
        # The server refuses anyway.
        before = snapshot()
        response = client.post(f"/governance/requests/{scene.failed_request.pk}/reprocess/", follow=True)
        assert "more than 14 days ago" in text(response)
        assert snapshot() == before

    def test_cancel_request_is_offered_only_when_rule_3_allows(self, scene: Scene, as_persona: Any, approver) -> None:
        client = as_persona("assignment_manager")
        assert "Cancel request" not in text(client.get(f"/governance/requests/{scene.failed_request.pk}/"))
        pending = pending_request(scene.package, approver)
        assert "Cancel request" in text(client.get(f"/governance/requests/{pending.pk}/"))


class TestActions:
    def test_reprocess_request(self, scene: Scene, as_persona: Any, deliver) -> None:
        repair(scene.bad_role)
        client = as_persona("pkg_manager")
        response = client.post(f"/governance/requests/{scene.failed_request.pk}/reprocess/", follow=True)
        assert "Reprocessing: the failed deliveries are being retried." in text(response)
        assert m.AuditEvent.objects.filter(action="request.reprocess", object_id=str(scene.failed_request.pk)).exists()
        # Twice: it is delivering already, so the second click changes nothing.
        before = snapshot()
        again = client.post(f"/governance/requests/{scene.failed_request.pk}/reprocess/", follow=True)
        assert again.status_code == 200
        assert snapshot() == before
        deliver()
        scene.failed_request.refresh_from_db()
        assert scene.failed_request.state == m.RequestState.DELIVERED
        assert "bob" in members_of(scene.bad_role)

    def test_cancel_request(self, scene: Scene, as_persona: Any, approver) -> None:
        pending = pending_request(scene.package, approver)
        client = as_persona("assignment_manager")
        response = client.post(f"/governance/requests/{pending.pk}/cancel/", {"reason": "Duplicate"}, follow=True)
        assert "Request canceled." in text(response)
        pending.refresh_from_db()
        assert pending.state == m.RequestState.CANCELED
        assert pending.cancel_reason == "Duplicate"
        assert m.AuditEvent.objects.filter(action="request.cancel_by_admin", object_id=str(pending.pk)).exists()
        assert m.OutboundEmail.objects.filter(kind="request_canceled", request=pending).count() == 1
        again = client.post(f"/governance/requests/{pending.pk}/cancel/", follow=True)
        assert "already canceled" in text(again)
        assert m.OutboundEmail.objects.filter(kind="request_canceled", request=pending).count() == 1

    def test_cancel_a_delivered_request_is_refused(self, scene: Scene, as_persona: Any) -> None:
        delivered = m.AssignmentRequest.objects.get(assignment=scene.delivered)
        client = as_persona("assignment_manager")
        before = snapshot()
        response = client.post(f"/governance/requests/{delivered.pk}/cancel/", follow=True)
        assert "Cannot cancel the request: the request is Delivered." in text(response)
        assert snapshot() == before

    def test_reprocess_several_reports_the_skipped(self, scene: Scene, as_persona: Any, approver, deliver) -> None:
        repair(scene.bad_role)
        pending = pending_request(scene.package, approver)
        client = as_persona("pkg_manager")
        back = f"/governance/packages/{scene.package.pk}/requests/"
        response = client.post(
            "/governance/requests/reprocess/", {"ids": [scene.failed_request.pk, pending.pk], "next": back}, follow=True
        )
        assert response.redirect_chain[-1][0] == back
        page = text(response)
        assert "Reprocess: 1 queued; 1 skipped" in page
        assert "already Pending approval (1)" in page
        deliver()
        scene.failed_request.refresh_from_db()
        assert scene.failed_request.state == m.RequestState.DELIVERED

    def test_reprocess_several_outside_ones_catalogs_finds_nothing(
        self, scene: Scene, as_persona: Any, finance_owner
    ) -> None:
        client = as_persona("finance_owner")
        before = snapshot()
        response = client.post("/governance/requests/reprocess/", {"ids": [scene.failed_request.pk]}, follow=True)
        assert "0 queued; 1 skipped: not found (1)." in text(response)
        assert snapshot() == before


def test_a_request_without_policy_or_requestor_still_shows(scene: Scene, as_persona: Any) -> None:
    request = f.RequestFactory(package=scene.package, policy=None, requestor=None, requestor_label="system")
    page = text(as_persona("admin").get(f"/governance/requests/{request.pk}/"))
    assert "Requested by system" in page
