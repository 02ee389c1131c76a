"""DESIGN §11: a decision re-checks its deadline when it is made. After an approval stage's
due time, before the time-out job has run, nobody can approve or deny: not in My Access, not
in the API, not through the emailed link (which already refused)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from governance import models as m
from governance.errors import DecisionTooLate
from governance.services import approval_links, approvals
from tests.api.conftest import ApiMaker
from tests.clients import signed_in
from tests.myaccess.conftest import approval_link, content, everything, path_of

pytestmark = pytest.mark.django_db

TOO_LATE = "The time to decide stage 1 of this request ran out on"


def _after_due(request: m.AssignmentRequest) -> time_machine.travel:
    assert request.stage_due_at is not None
    return time_machine.travel(request.stage_due_at + timedelta(minutes=1))


def test_the_service_refuses_a_late_decision_and_the_time_out_still_cancels(
    approver: m.User, pending: m.AssignmentRequest
) -> None:
    with _after_due(pending):
        before = everything()
        for decision in (m.Decision.APPROVE, m.Decision.DENY):
            with pytest.raises(DecisionTooLate, match=TOO_LATE) as refused:
                approvals.decide(approver, pending.pk, decision, "late")
            assert refused.value.http_status == 409
        assert everything() == before
        assert approvals.time_out_due_requests() == 1
    pending.refresh_from_db()
    assert pending.state == m.RequestState.CANCELED
    assert not pending.decisions.exists()


def test_my_access_refuses_a_late_decision_with_a_message(approver: m.User, pending: m.AssignmentRequest) -> None:
    client = signed_in(approver)
    url = f"/myaccess/approvals/{pending.pk}/"
    with _after_due(pending):
        # No longer listed as waiting, and the page says why instead of offering the buttons.
        assert url not in content(client.get("/myaccess/approvals/"))
        page = content(client.get(url))
        assert TOO_LATE in page
        assert 'value="Approve"' not in page
        before = everything()
        response = client.post(url, {"decision": "Approve", "stage": 1, "justification": "late"})
        assert response.status_code == 200
        assert TOO_LATE in content(response)
        assert everything() == before


def test_the_api_refuses_a_late_decision_with_a_409(
    api_as: ApiMaker, approver: m.User, pending: m.AssignmentRequest
) -> None:
    as_approver = api_as(user=approver)
    stage = pending.policy.stages.get()
    path = f"accessPackageAssignmentApprovals/{pending.pk}/stages/{stage.pk}"
    with _after_due(pending):
        before = everything()
        answer = as_approver.patch(path, {"reviewResult": "Approve", "justification": "late"})
        assert answer.status == 409, answer.body
        assert answer.error["code"] == "approvalTimedOut"
        assert TOO_LATE in answer.error["message"]
        waiting = as_approver.get("accessPackageAssignmentApprovals/filterByCurrentUser(on='approver')")
        assert waiting.body["value"] == []
        assert everything() == before


def test_the_emailed_link_is_refused_too(approver: m.User, pending: m.AssignmentRequest) -> None:
    link = path_of(approval_link(approver, pending))
    token = link.rstrip("/").rsplit("/", 1)[1]
    with _after_due(pending):
        before = everything()
        response = signed_in(approver).post(link, {"decision": "Approve", "justification": "late"})
        assert response.status_code == 410
        assert "This link has expired" in content(response)
        with pytest.raises(approval_links.LinkExpired):
            approval_links.decide_by_link(token, pending.pk, approver, m.Decision.APPROVE, "late")
        assert everything() == before


def test_just_before_the_due_time_a_decision_still_counts(approver: m.User, pending: m.AssignmentRequest) -> None:
    assert pending.stage_due_at is not None
    with time_machine.travel(pending.stage_due_at - timedelta(minutes=1)):
        approvals.decide(approver, pending.pk, m.Decision.APPROVE, "in time")
    pending.refresh_from_db()
    assert pending.state != m.RequestState.PENDING_APPROVAL
