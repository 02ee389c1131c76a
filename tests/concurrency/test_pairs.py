"""Races on PostgreSQL: row locks and unique constraints decide, never luck."""

from __future__ import annotations

import pytest
from django.db import connection

from governance import models as m
from governance.errors import AlreadyDecided, DuplicateRequest
from governance.services import approvals, policies, requests
from tests import factories as f
from tests.concurrency.invariants import check_invariants
from tests.concurrency.racing import race
from tests.conftest import need

# Twenty threads, each with its own connection: one race at a time (xdist --dist loadgroup).
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.xdist_group("races")]


@pytest.fixture(autouse=True)
def _postgres_only() -> None:
    need(connection.vendor == "postgresql", "row-lock races need PostgreSQL (set DATABASE_URL)")


def test_two_approvers_at_once_make_exactly_one_decision(make_package, requestor, approver):
    second = f.UserFactory(username="second")
    request = requests.submit_request(requestor, make_package(approvers=[approver, second]).pk)
    for _ in range(5):
        request_id = request.pk
        outcomes = race(
            lambda: approvals.decide(approver, request_id, m.Decision.APPROVE),  # noqa: B023 - joined before the loop moves on
            lambda: approvals.decide(second, request_id, m.Decision.DENY),  # noqa: B023
        )
        errors = [o for o in outcomes if isinstance(o, Exception)]
        decisions = [o for o in outcomes if isinstance(o, m.ApprovalDecision)]
        assert len(decisions) == 1
        assert len(errors) == 1
        assert isinstance(errors[0], AlreadyDecided)
        assert "Already decided by" in errors[0].message
        assert m.ApprovalDecision.objects.filter(request=request).count() == 1
        request.refresh_from_db()
        assert request.state in {m.RequestState.DELIVERING, m.RequestState.DENIED}
        # Start over with a fresh request for the next round.
        request = requests.submit_request(f.UserFactory(), request.package_id)
    check_invariants()


def test_two_submissions_at_once_make_one_request(make_package, requestor, approver):
    package = make_package(approvers=[approver])
    outcomes = race(*(lambda: requests.submit_request(requestor, package.pk) for _ in range(4)))
    made = [o for o in outcomes if isinstance(o, m.AssignmentRequest)]
    assert len(made) == 1
    assert all(isinstance(o, DuplicateRequest) for o in outcomes if o not in made)
    assert m.AssignmentRequest.objects.filter(target=requestor, package=package).count() == 1
    check_invariants()


def test_editing_the_stages_while_people_submit_leaves_nobody_without_approvers(make_package, approver, pkg_manager):
    """Stage snapshots: whichever commits first, each request routes by a whole generation of
    stages that stays as it was, so no pending request ends up without approvers."""
    package = make_package(approvers=[approver])
    policy = package.policies.get()
    newcomer = f.UserFactory(username="newcomer")
    people = [f.UserFactory() for _ in range(6)]
    swap = policies.spec_of(policy)
    swap.stages = [policies.StageSpec(approvers=[policies.ApproverSpec(kind="user", user_id=newcomer.pk)])]
    off = policies.spec_of(policy)
    off.requires_approval, off.stages = False, []
    outcomes = race(
        lambda: policies.save_policy(pkg_manager, package.pk, swap, policy_id=policy.pk),
        lambda: policies.save_policy(pkg_manager, package.pk, off, policy_id=policy.pk),
        *(lambda p=person: requests.submit_request(p, package.pk) for person in people),
    )
    assert not [o for o in outcomes if isinstance(o, BaseException)], outcomes
    for request in m.AssignmentRequest.objects.filter(state=m.RequestState.PENDING_APPROVAL):
        stage = request.current_approval_stage()
        assert stage is not None, request
        assert request.stage_approver_ids(stage), request
    check_invariants()
