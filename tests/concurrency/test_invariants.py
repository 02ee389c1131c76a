"""The checker itself: clean after honest service calls, and each corruption is named."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from governance import models as m
from governance.services import approvals, requests
from tests import factories as f
from tests.concurrency.invariants import check_invariants, violations
from tests.concurrency.racing import settle

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(make_package, approver, requestor) -> dict[str, object]:
    """A delivered request, a denied one and a pending one."""
    package = make_package(roles=2, approvers=[approver])
    delivered = requests.submit_request(requestor, package.pk)
    approvals.decide(approver, delivered.pk, m.Decision.APPROVE)
    denied = requests.submit_request(f.UserFactory(), package.pk)
    approvals.decide(approver, denied.pk, m.Decision.DENY)
    pending = requests.submit_request(f.UserFactory(), package.pk)
    settle()
    delivered.refresh_from_db()
    assert delivered.state == m.RequestState.DELIVERED
    return {"delivered": delivered, "denied": denied, "pending": pending, "package": package}


def test_honest_service_calls_pass(world):
    check_invariants()


def _second_decision(w):
    m.ApprovalDecision.objects.filter(request=w["delivered"]).update(stage_order=2)
    f.ApprovalDecisionFactory(request=w["delivered"], stage_order=1, approver_label="x", decision=m.Decision.DENY)


CORRUPTIONS: dict[str, tuple[Callable[[dict[str, object]], object], str]] = {
    "state changed without audit": (
        lambda w: m.AssignmentRequest.objects.filter(pk=w["pending"].pk).update(state=m.RequestState.CANCELED),
        "its last audit row says",
    ),
    "grant left pending with no next attempt": (
        lambda w: m.RoleGrant.objects.filter(assignment__requests=w["delivered"]).update(
            state=m.GrantState.PENDING, next_attempt_at=None
        ),
        "with no next attempt",
    ),
    "delivered assignment with a failed grant": (
        lambda w: m.RoleGrant.objects.filter(assignment__requests=w["delivered"]).update(state=m.GrantState.FAILED),
        "its grants say deliveryFailed",
    ),
    "denied without a decision": (
        lambda w: m.ApprovalDecision.objects.filter(request=w["denied"]).delete(),
        "denied without a Deny decision",
    ),
    "decision contradicts the state": (_second_decision, "a stage was decided after a denial"),
    "ended assignment still wants access": (
        lambda w: m.Assignment.objects.filter(requests=w["delivered"]).update(state=m.AssignmentState.EXPIRED),
        "still wants grants",
    ),
    "pending request whose stage lost its approvers": (
        lambda w: m.StageApprover.objects.filter(stage__policy__package=w["package"]).delete(),
        "which has no approvers",
    ),
    "delivering request with nothing to deliver": (
        lambda w: m.AssignmentRequest.objects.filter(pk=w["delivered"].pk).update(state=m.RequestState.DELIVERING),
        "delivering with no grant left",
    ),
}


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_each_corruption_is_found(world, name):
    corrupt, expected = CORRUPTIONS[name]
    corrupt(world)
    found = violations()
    assert any(expected in problem for problem in found), found
    with pytest.raises(AssertionError, match="invariants violated"):
        check_invariants()
