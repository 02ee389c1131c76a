"""Approvals in My Access (rule 4): waiting for me, Approve / Deny, first decision wins."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.utils.html import escape

from governance import models as m
from governance.errors import AlreadyDecided, NotAllowed
from governance.permissions import approvable_requests
from governance.services import approvals, requests
from tests import factories as f
from tests.approval_setup import approval_stage
from tests.clients import signed_in
from tests.myaccess.conftest import content, everything

pytestmark = pytest.mark.django_db


class TestApprovalsList:
    def test_waiting_for_me_with_requestor_package_justification_stage(self, approver, requestor, pending):
        page = content(signed_in(approver).get("/myaccess/approvals/"))
        assert "<h1>Approvals</h1>" in page
        assert f'<td data-label="Requestor">{requestor}' in page
        assert '<td data-label="Access package">Developer tools</td>' in page
        assert "Release 4.2 needs CI access" in page
        assert '<td data-label="Stage">1 of 1</td>' in page
        assert f'href="/myaccess/approvals/{pending.pk}/"' in page

    def test_nothing_for_people_who_do_not_approve(self, outsider, requestor, pending):
        for person in (outsider, requestor):
            page = content(signed_in(person).get("/myaccess/approvals/"))
            assert "Nothing is waiting for your approval." in page
            assert f"/myaccess/approvals/{pending.pk}/" not in page

    def test_history_of_my_decisions(self, approver, pending):
        approvals.decide(approver, pending.pk, m.Decision.DENY, "Wrong team")
        client = signed_in(approver)
        assert f"/myaccess/approvals/{pending.pk}/" not in content(client.get("/myaccess/approvals/"))
        history = content(client.get("/myaccess/approvals/", {"view": "history"}))
        assert f'href="/myaccess/approvals/{pending.pk}/"' in history
        assert '<span class="badge badge-denied">Denied</span>' in history
        assert "Wrong team" in history


class TestDecide:
    def test_approve_moves_the_request_on(self, approver, requestor, pending):
        client = signed_in(approver)
        page = content(client.get(f"/myaccess/approvals/{pending.pk}/"))
        assert "Release 4.2 needs CI access" in page
        assert '<label for="id_justification">Justification</label>' in page
        assert 'value="Approve"' in page
        assert 'value="Deny"' in page
        response = client.post(
            f"/myaccess/approvals/{pending.pk}/",
            {"decision": "Approve", "stage": 1, "justification": "ok"},
            follow=True,
        )
        assert f"You approved {requestor}&#x27;s request for Developer tools." in content(response)
        pending.refresh_from_db()
        assert pending.state == m.RequestState.DELIVERING
        assert m.OutboundEmail.objects.filter(kind="request_approved", recipient=requestor).exists()

    def test_deny_ends_it_and_tells_the_requestor_why(self, approver, requestor, pending):
        signed_in(approver).post(
            f"/myaccess/approvals/{pending.pk}/", {"decision": "Deny", "stage": 1, "justification": "Not your team"}
        )
        pending.refresh_from_db()
        assert pending.state == m.RequestState.DENIED
        email = m.OutboundEmail.objects.get(kind="request_denied", recipient=requestor)
        assert "Reason: Not your team" in email.body_text
        assert "Not your team" in email.body_html

    def test_approver_justification_required(self, approver, pending):
        pending.policy.approver_justification_required = True
        pending.policy.save()
        before = everything()
        response = signed_in(approver).post(f"/myaccess/approvals/{pending.pk}/", {"decision": "Approve", "stage": 1})
        assert response.status_code == 200
        page = content(response)
        assert '<label for="id_justification">Justification (required)</label>' in page
        assert 'id="id_justification_error">A justification is required for this decision.' in page
        assert everything() == before

    def test_no_decision_chosen_is_a_form_error(self, approver, pending):
        before = everything()
        response = signed_in(approver).post(f"/myaccess/approvals/{pending.pk}/", {"decision": "Maybe"})
        assert response.status_code == 200
        assert "Select a valid choice." in content(response)
        assert everything() == before

    def test_second_approver_sees_already_decided_by(self, approver, second_approver, pending):
        approvals.decide(approver, pending.pk, m.Decision.APPROVE)
        client = signed_in(second_approver)
        page = content(client.get(f"/myaccess/approvals/{pending.pk}/"))
        assert f"Already decided by {escape(approver)} on" in page
        assert ": approved." in page
        assert 'value="Approve"' not in page
        before = everything()
        response = client.post(f"/myaccess/approvals/{pending.pk}/", {"decision": "Deny", "stage": 1})
        assert response.status_code == 200
        assert f"Already decided by {escape(approver)} on" in content(response)
        assert everything() == before

    def test_a_form_opened_before_the_other_decided_does_not_decide_the_next_stage(
        self, approver, second_approver, pending
    ):
        """Stage 1 was decided while the form was open: the post names stage 1, so it is refused."""
        stage2 = f.ApprovalStageFactory(policy=pending.policy, order=2)
        f.StageApproverFactory(stage=stage2, kind=m.ApproverKind.USER, user=second_approver)
        approvals.decide(approver, pending.pk, m.Decision.APPROVE)
        pending.refresh_from_db()
        assert pending.current_stage == 2
        before = everything()
        response = signed_in(second_approver).post(
            f"/myaccess/approvals/{pending.pk}/", {"decision": "Approve", "stage": 1}
        )
        assert "Already decided by" in content(response)
        assert everything() == before

    def test_approving_ones_own_request_is_refused(self, requestor, approver, make_package):
        package = make_package(name="Self service", approvers=[requestor, approver])
        own = requests.submit_request(requestor, package.pk)
        before = everything()
        client = signed_in(requestor)
        assert client.get(f"/myaccess/approvals/{own.pk}/").status_code == 404
        assert client.post(f"/myaccess/approvals/{own.pk}/", {"decision": "Approve", "stage": 1}).status_code == 404
        with pytest.raises(NotAllowed):
            approvals.decide(requestor, own.pk, m.Decision.APPROVE)
        assert everything() == before
        assert own not in approvable_requests(requestor)
        # Nor was the requestor sent an approval email for it.
        assert not m.OutboundEmail.objects.filter(kind="approval_needed", recipient=requestor).exists()

    def test_outsider_gets_404_and_nothing_changes(self, outsider, pending):
        before = everything()
        client = signed_in(outsider)
        assert client.get(f"/myaccess/approvals/{pending.pk}/").status_code == 404
        assert client.post(f"/myaccess/approvals/{pending.pk}/", {"decision": "Approve"}).status_code == 404
        assert everything() == before

    def test_multi_stage(self, requestor, approver, second_approver, pending):
        stage1 = pending.policy.stages.get(order=1)
        stage1.approvers.filter(user=second_approver).delete()
        stage2 = f.ApprovalStageFactory(policy=pending.policy, order=2)
        f.StageApproverFactory(stage=stage2, kind=m.ApproverKind.USER, user=second_approver)
        signed_in(approver).post(f"/myaccess/approvals/{pending.pk}/", {"decision": "Approve", "stage": 1})
        pending.refresh_from_db()
        assert (pending.state, pending.current_stage) == (m.RequestState.PENDING_APPROVAL, 2)
        page = content(signed_in(second_approver).get(f"/myaccess/approvals/{pending.pk}/"))
        assert "2 of 2" in page
        assert f"Stage 1: <strong>Approved</strong> by {approver}" in page
        signed_in(second_approver).post(f"/myaccess/approvals/{pending.pk}/", {"decision": "Approve", "stage": 2})
        pending.refresh_from_db()
        assert pending.state == m.RequestState.DELIVERING


class TestWhoApproves:
    """awaiting_decision_by settles the same approvers as stage_approver_ids, in constant queries."""

    def test_group_manager_sponsor_and_fallback(self, requestor, approver, partner, make_package):
        group = f.DirectoryGroupFactory(display_name="Approvers")
        member = f.UserFactory(username="groupie")
        f.GroupMembershipFactory(group=group, user=member)
        fallback = f.UserFactory(username="fallback")
        package = make_package(name="Kinds", allowed_target_scope=m.TargetScope.ALL_USERS)
        stage = approval_stage(package)
        f.StageApproverFactory(stage=stage, kind=m.ApproverKind.GROUP, user=None, group=group)
        f.StageApproverFactory(stage=stage, kind=m.ApproverKind.MANAGER, user=None)
        f.StageApproverFactory(stage=stage, kind=m.ApproverKind.SPONSOR, user=None)
        f.StageApproverFactory(stage=stage, kind=m.ApproverKind.USER, user=fallback, is_fallback=True)
        by_requestor = requests.submit_request(requestor, package.pk)  # manager: approver
        by_partner = requests.submit_request(partner, package.pk)  # sponsor: approver
        lonely = f.UserFactory(username="lonely")
        by_lonely = requests.submit_request(lonely, package.pk)  # no manager: the group only
        everyone = (member, approver, fallback, requestor, partner, lonely)

        def agrees() -> None:
            for person in everyone:
                expected = {
                    r.pk for r in (by_requestor, by_partner, by_lonely) if person.pk in r.stage_approver_ids(stage)
                }
                assert set(approvable_requests(person).values_list("pk", flat=True)) == expected, person

        agrees()
        assert set(approvable_requests(member)) == {by_requestor, by_partner, by_lonely}
        assert set(approvable_requests(approver)) == {by_requestor, by_partner}
        assert set(approvable_requests(fallback)) == set()
        group.memberships.all().delete()  # now nobody primary is left for `lonely`
        agrees()
        assert set(approvable_requests(fallback)) == {by_lonely}
        assert set(approvable_requests(member)) == set()

    def test_inactive_primary_hands_over_to_fallback(self, requestor, approver, make_package):
        fallback = f.UserFactory(username="fallback")
        package = make_package(name="Fallback", approvers=[approver])
        stage = package.policies.get().stages.get()
        f.StageApproverFactory(stage=stage, kind=m.ApproverKind.USER, user=fallback, is_fallback=True)
        request = requests.submit_request(requestor, package.pk)
        assert set(approvable_requests(fallback)) == set()
        approver.is_active = False
        approver.save()
        assert set(approvable_requests(fallback)) == {request}
        assert set(approvable_requests(approver)) == set()

    def test_constant_queries_whatever_the_number_waiting(self, approver, make_package, django_assert_max_num_queries):
        package = make_package(name="Busy", approvers=[approver])
        policy = package.policies.get()
        f.RequestFactory(package=package, policy=policy, current_stage=1)
        with django_assert_max_num_queries(6):
            assert len(approvable_requests(approver)) == 1
        for _ in range(40):
            f.RequestFactory(package=package, policy=policy, current_stage=1)
        with django_assert_max_num_queries(6):
            assert len(approvable_requests(approver)) == 41


def test_already_decided_names_the_first_approver(approver, second_approver, pending):
    approvals.decide(approver, pending.pk, m.Decision.APPROVE)
    with pytest.raises(AlreadyDecided) as refused:
        approvals.decide(second_approver, pending.pk, m.Decision.DENY)
    assert refused.value.details["decided_by"] == str(approver)  # display name, never username


def test_stage_field_is_bounded(approver, pending):
    from myaccess.forms import DecisionForm

    form = DecisionForm({"decision": "Approve", "stage": 9})
    assert not form.is_valid()
    with pytest.raises(ValidationError):
        form.fields["stage"].clean(0)
