"""Editing a policy's approval stages while requests are pending never leaves a request
without approvers. We keep a snapshot (as Entra does: in-flight requests keep the policy
they were submitted under): a pending request is routed, decided, emailed and timed out by
the stages and approvers it was submitted with; new requests get the new ones."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from governance import models as m
from governance.errors import NotAllowed
from governance.permissions import approvable_requests
from governance.services import approval_links, approvals, policies, requests
from tests import factories as f
from tests.api.conftest import ApiMaker
from tests.clients import signed_in
from tests.concurrency.invariants import check_invariants
from tests.myaccess.conftest import approval_link, path_of

pytestmark = pytest.mark.django_db


def _save(actor: m.User, policy: m.AssignmentPolicy, **changes: Any) -> m.AssignmentPolicy:
    spec = policies.spec_of(policy)
    for name, value in changes.items():
        setattr(spec, name, value)
    return policies.save_policy(actor, policy.package_id, spec, policy_id=policy.pk)


def _user_stage(user: m.User, timeout_days: int = 14) -> policies.StageSpec:
    return policies.StageSpec(
        timeout_days=timeout_days, approvers=[policies.ApproverSpec(kind=m.ApproverKind.USER, user_id=user.pk)]
    )


def _staff() -> m.User:
    """Another engineer the seed 002 policy lets request Developer tools."""
    person = f.UserFactory()
    f.GroupMembershipFactory(group=m.DirectoryGroup.objects.get(display_name="Engineering staff"), user=person)
    return person


def test_turning_approval_off_keeps_a_pending_request_approvable(
    pkg_manager: m.User, approver: m.User, pending: m.AssignmentRequest
) -> None:
    policy = pending.policy
    _save(pkg_manager, policy, requires_approval=False, extension_requires_approval=False, stages=[])
    policy.refresh_from_db()
    assert not policy.current_stages().exists()

    # The pending request still waits for its approver, who still sees it and decides it.
    assert list(approvable_requests(approver)) == [pending]
    approvals.decide(approver, pending.pk, m.Decision.APPROVE, "ok")
    pending.refresh_from_db()
    assert pending.state == m.RequestState.DELIVERING
    # A request made now needs no approval.
    later = requests.submit_request(_staff(), policy.package_id, justification="now")
    assert later.state == m.RequestState.DELIVERING
    check_invariants()


def test_new_approvers_decide_new_requests_only(
    pkg_manager: m.User, approver: m.User, requestor: m.User, pending: m.AssignmentRequest
) -> None:
    newcomer = f.UserFactory(username="newcomer", display_name="New Approver")
    link = path_of(approval_link(approver, pending))
    _save(pkg_manager, pending.policy, stages=[_user_stage(newcomer)])

    # The request keeps its approver: the newcomer neither sees nor decides it...
    assert list(approvable_requests(newcomer)) == []
    with pytest.raises(NotAllowed, match="not an approver of stage 1"):
        approvals.decide(newcomer, pending.pk, m.Decision.APPROVE)
    # ...while the approver it was sent to still can, here through their emailed link.
    assert list(approvable_requests(approver)) == [pending]
    token = link.rstrip("/").rsplit("/", 1)[1]
    approval_links.decide_by_link(token, pending.pk, approver, m.Decision.APPROVE, "fine")
    pending.refresh_from_db()
    assert pending.state == m.RequestState.DELIVERING

    # Someone requesting now is routed to the newcomer.
    later = requests.submit_request(_staff(), pending.package_id, justification="later")
    assert list(approvable_requests(newcomer)) == [later]
    assert list(approvable_requests(approver)) == []
    check_invariants()


def test_fewer_stages_later_a_pending_request_still_goes_through_all_of_its_own(
    make_package: Any, pkg_manager: m.User, approver: m.User, requestor: m.User
) -> None:
    second = f.UserFactory(username="second", display_name="Second Stage")
    newcomer = f.UserFactory(username="newcomer")
    package = make_package(name="Payroll", approvers=[approver])
    policy = package.policies.get()
    _save(pkg_manager, policy, requires_approval=True, stages=[_user_stage(approver), _user_stage(second, 3)])
    pending = requests.submit_request(requestor, package.pk)
    policy.refresh_from_db()
    _save(pkg_manager, policy, stages=[_user_stage(newcomer)])

    approvals.decide(approver, pending.pk, m.Decision.APPROVE)
    pending.refresh_from_db()
    # Stage 2 of the stages it was submitted with: its approver, its time limit, its email.
    assert (pending.state, pending.current_stage) == (m.RequestState.PENDING_APPROVAL, 2)
    assert pending.stage_due_at is not None
    assert abs(pending.stage_due_at - (timezone.now() + timedelta(days=3))) < timedelta(minutes=1)
    assert m.OutboundEmail.objects.filter(kind="approval_needed", request=pending, recipient=second).exists()
    assert not m.OutboundEmail.objects.filter(recipient=newcomer).exists()
    assert list(approvable_requests(second)) == [pending]
    check_invariants()
    approvals.decide(second, pending.pk, m.Decision.APPROVE)
    pending.refresh_from_db()
    assert pending.state == m.RequestState.DELIVERING
    assert list(pending.decisions.values_list("stage_order", flat=True)) == [1, 2]
    check_invariants()


def test_its_stages_time_out_as_they_were(pkg_manager: m.User, pending: m.AssignmentRequest) -> None:
    due = pending.stage_due_at
    assert due is not None
    _save(pkg_manager, pending.policy, stages=[_user_stage(f.UserFactory(), timeout_days=10)])
    assert approvals.time_out_due_requests(now=due + timedelta(minutes=1)) == 1
    pending.refresh_from_db()
    assert pending.state == m.RequestState.CANCELED


def test_the_pages_and_the_api_show_the_stages_it_was_submitted_with(
    client: Client,
    api_as: ApiMaker,
    catalog_owner: m.User,
    pkg_manager: m.User,
    approver: m.User,
    pending: m.AssignmentRequest,
) -> None:
    [stage] = pending.approval_stages()
    third = f.UserFactory()
    _save(pkg_manager, pending.policy, stages=[_user_stage(f.UserFactory()), _user_stage(third)])
    shown = api_as(user=approver).get(f"accessPackageAssignmentApprovals/{pending.pk}").body
    assert [(s["id"], s["status"], s["assignedToMe"]) for s in shown["stages"]] == [(str(stage.pk), "InProgress", True)]
    page = signed_in(approver).get(f"/myaccess/approvals/{pending.pk}/")
    assert page.context["stage_count"] == 1
    client.force_login(catalog_owner)
    detail = client.get(f"/governance/requests/{pending.pk}/")
    assert (detail.context["stage"], detail.context["stage_count"]) == (stage, 1)
    assert list(detail.context["approvers"]) == [approver]
    # The policy itself shows its new stages.
    policy = api_as(role="global_admin").get(f"assignmentPolicies/{pending.policy_id}").body
    assert len(policy["requestApprovalSettings"]["stages"]) == 2
