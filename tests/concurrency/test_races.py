"""Races on PostgreSQL: 20 threads at once on the same rows; row locks and unique constraints
decide, never luck. After every scenario the whole database must pass check_invariants()."""

from __future__ import annotations

import os
import time
import uuid
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from governance import models as m
from governance.errors import AlreadyDecided, DuplicateRequest, InvalidTransition
from governance.services import approvals, assignments, delivery, packages, requests
from governance.services.reprocess import reprocess_requests
from tests import factories as f
from tests.concurrency.invariants import check_invariants
from tests.concurrency.racing import THREADS, leaked, race, settle
from tests.conftest import need

# Twenty threads, each with its own connection: one race at a time (xdist --dist loadgroup).
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.xdist_group("races")]

APPROVE, DENY = m.Decision.APPROVE, m.Decision.DENY
DELAY = float(os.environ.get("RACE_DELAY", "0.05"))


@pytest.fixture(autouse=True)
def _postgres_only() -> None:
    need(connection.vendor == "postgresql", "row-lock races need PostgreSQL (set DATABASE_URL)")


def broken_role(package: m.AccessPackage) -> m.ResourceRole:
    """A role whose group does not exist in the built-in directory: a permanent failure."""
    role = f.ResourceRoleFactory(resource__catalog=package.catalog, resource__origin_id=str(uuid.uuid4()))
    f.PackageResourceRoleFactory(package=package, resource_role=role)
    return role


def repair(role: m.ResourceRole) -> None:
    f.DirectoryGroupFactory(id=uuid.UUID(role.resource.origin_id), display_name="Repaired")


def audit_count(request: m.AssignmentRequest, *actions: str) -> int:
    return m.AuditEvent.objects.filter(object_id=str(request.pk), action__in=actions).count()


# --- Approvals --------------------------------------------------------------------------


def test_twenty_approvers_on_five_requests_make_one_decision_each(make_package):
    approvers = [f.UserFactory(username=f"approver{i}") for i in range(4)]
    package = make_package(approvers=approvers)
    pending = [requests.submit_request(f.UserFactory(), package.pk) for _ in range(5)]
    # Thread i: request i % 5 by approver i % 4, so each request meets four different approvers.
    outcomes = race(
        *(
            lambda i=i: approvals.decide(approvers[i % 4], pending[i % 5].pk, APPROVE if i % 2 else DENY)
            for i in range(THREADS)
        )
    )
    assert not leaked(outcomes)
    decided = [o for o in outcomes if isinstance(o, m.ApprovalDecision)]
    assert len(decided) == 5
    assert all(isinstance(o, AlreadyDecided) for o in outcomes if o not in decided)
    for request in pending:
        request.refresh_from_db()
        (decision,) = m.ApprovalDecision.objects.filter(request=request)
        assert request.state == (m.RequestState.DENIED if decision.decision == DENY else m.RequestState.DELIVERING)
    settle()
    check_invariants()


def test_approve_deny_cancel_and_time_out_at_once_leave_one_winner(make_package, admin):
    first, second = f.UserFactory(username="first"), f.UserFactory(username="second")
    package = make_package(approvers=[first, second])
    people = [f.UserFactory() for _ in range(4)]
    pending = [requests.submit_request(person, package.pk) for person in people]
    later = timezone.now() + timedelta(days=60)  # past every stage's timeout

    calls = []
    for person, request in zip(people, pending, strict=True):
        calls += [
            lambda r=request: approvals.decide(first, r.pk, APPROVE),
            lambda r=request: approvals.decide(second, r.pk, DENY),
            lambda r=request, p=person: requests.cancel_request_as_requestor(p, r.pk),
            lambda r=request: requests.cancel_request_as_admin(admin, r.pk, "racing"),
            lambda r=request: approvals.time_out_request(r.pk, now=later),
        ]
    outcomes = race(*calls)
    assert not leaked(outcomes)
    winners = (
        "request.stage_approved",
        "request.stage_denied",
        "request.cancel_by_requestor",
        "request.cancel_by_admin",
        "request.time_out",
    )
    for request in pending:
        assert audit_count(request, *winners) == 1, request.decisions.all()
        request.refresh_from_db()
        assert request.state != m.RequestState.PENDING_APPROVAL
    settle()
    check_invariants()


# --- Submissions and direct assignments ------------------------------------------------------


def test_requests_and_direct_assignments_of_one_person_at_once_make_one_assignment(make_package, admin, requestor):
    package = make_package(roles=2)
    direct = f.PolicyFactory(package=package, allowed_target_scope=m.TargetScope.NO_ONE, display_name="Direct")
    half = THREADS // 2
    outcomes = race(
        *(lambda: requests.submit_request(requestor, package.pk) for _ in range(half)),
        *(
            lambda: assignments.create_direct_assignments(
                admin, package.pk, policy_id=direct.pk, target_ids=[requestor.pk]
            )
            for _ in range(THREADS - half)
        ),
    )
    assert not leaked(outcomes)
    succeeded = [o for o in outcomes if not isinstance(o, Exception)]
    assert len(succeeded) == 1
    assert all(isinstance(o, DuplicateRequest) for o in outcomes if o not in succeeded)
    assert m.Assignment.objects.filter(target=requestor, package=package).count() == 1
    settle()
    assert m.Assignment.objects.get(target=requestor, package=package).state == m.AssignmentState.DELIVERED
    check_invariants()


def test_twenty_people_requesting_one_package_each_get_exactly_their_grants(make_package):
    package = make_package(roles=3)
    people = [f.UserFactory() for _ in range(THREADS)]
    outcomes = race(*(lambda p=p: requests.submit_request(p, package.pk) for p in people))
    assert not leaked(outcomes)
    assert all(isinstance(o, m.AssignmentRequest) for o in outcomes)
    settle()
    assert m.RoleGrant.objects.filter(state=m.GrantState.GRANTED).count() == 3 * THREADS
    check_invariants()


# --- Reprocess and cancel ---------------------------------------------------------------------


def test_reprocess_cancel_and_delivery_at_once_on_failed_requests(make_package, admin):
    package = make_package(roles=1)
    role = broken_role(package)
    people = [f.UserFactory() for _ in range(5)]
    failed = [requests.submit_request(p, package.pk) for p in people]
    settle()
    assert {r.state for r in m.AssignmentRequest.objects.all()} == {m.RequestState.PARTIALLY_DELIVERED}
    repair(role)
    ids = [r.pk for r in failed]

    calls: list[Any] = []
    for i in range(THREADS):
        request = failed[i % 5]
        match i % 4:
            case 0:
                calls.append(lambda r=request: requests.reprocess_request(admin, r.pk))
            case 1:
                calls.append(lambda: reprocess_requests(admin, ids))
            case 2:
                calls.append(lambda r=request: requests.cancel_request_as_admin(admin, r.pk))
            case _:
                calls.append(lambda: delivery.deliver_batch(limit=2))
    outcomes = race(*calls)
    assert not leaked(outcomes)
    assert all(isinstance(o, InvalidTransition) for o in outcomes if isinstance(o, Exception))
    settle()
    for request in failed:
        request.refresh_from_db()
        # Partially delivered requests cannot be canceled: each was reprocessed, then delivered.
        assert request.state == m.RequestState.DELIVERED
        assert audit_count(request, "request.reprocess") == 1
    grants = m.RoleGrant.objects.filter(resource_role=role)
    assert set(grants.values_list("state", flat=True)) == {m.GrantState.GRANTED}
    # Each repaired grant was delivered once: one failure, then one success.
    for grant in grants:
        assert Counter(grant.attempts_log.values_list("outcome", flat=True)) == {
            m.Outcome.PERMANENT: 1,
            m.Outcome.SUCCESS: 1,
        }
    check_invariants()


def test_cancel_and_reprocess_race_on_undelivered_requests(make_package, admin):
    package = make_package(roles=0)
    role = broken_role(package)
    failed = [requests.submit_request(f.UserFactory(), package.pk) for _ in range(5)]
    settle()
    assert {r.state for r in m.AssignmentRequest.objects.all()} == {m.RequestState.DELIVERY_FAILED}
    repair(role)
    calls: list[Any] = []
    for i in range(THREADS):
        request = failed[i % 5]
        if i % 2:
            calls.append(lambda r=request: requests.reprocess_request(admin, r.pk))
        else:
            calls.append(lambda r=request: requests.cancel_request_as_admin(admin, r.pk, "racing"))
    outcomes = race(*calls)
    assert not leaked(outcomes)
    settle()
    for request in failed:
        # One winner: canceled (and the assignment removed) or reprocessed (and delivered).
        assert audit_count(request, "request.reprocess", "request.cancel_by_admin") == 1
        request.refresh_from_db()
        assert request.state in {m.RequestState.CANCELED, m.RequestState.DELIVERED}
        assignment = request.assignment
        expected = (
            m.AssignmentState.REMOVED if request.state == m.RequestState.CANCELED else m.AssignmentState.DELIVERED
        )
        assert assignment.state == expected
    check_invariants()


# --- The delivery engine ---------------------------------------------------------------------


def test_twenty_workers_claim_each_grant_once(make_package):
    package = make_package(roles=4)
    people = [f.UserFactory() for _ in range(30)]
    for person in people:
        requests.submit_request(person, package.pk)
    assert m.RoleGrant.objects.filter(state=m.GrantState.PENDING).count() == 120

    def work() -> int:
        handled = 0
        while report := delivery.deliver_batch(limit=3):
            handled += report.handled
            if not report.handled and not report.contended:
                break
        return handled

    outcomes = race(*(work for _ in range(THREADS)))
    assert not leaked(outcomes)
    settle()
    assert sum(o for o in outcomes if isinstance(o, int)) == 120
    assert m.DeliveryAttempt.objects.count() == 120  # nobody delivered a grant twice
    assert set(m.RoleGrant.objects.values_list("state", flat=True)) == {m.GrantState.GRANTED}
    assert set(m.AssignmentRequest.objects.values_list("state", flat=True)) == {m.RequestState.DELIVERED}
    check_invariants()


# --- Resource roles (rule 8) while people are being assigned -------------------------------


def test_roles_added_and_removed_while_twenty_people_are_assigned(make_package, admin, catalog):
    package = make_package(roles=2)
    kept, dropped = list(m.ResourceRole.objects.filter(package_links__package=package))
    added = f.ResourceRoleFactory(resource__catalog=catalog)
    people = [f.UserFactory() for _ in range(THREADS - 2)]

    def add_role() -> Any:
        time.sleep(DELAY)  # land while the submissions are mid-transaction
        operation = packages.add_resource_role(admin, package.pk, added.pk)
        return packages.propagate_role_operation(operation.pk) if operation else None

    def remove_role() -> Any:
        time.sleep(DELAY)
        operation = packages.remove_resource_role(admin, package.pk, dropped.pk)
        return packages.propagate_role_operation(operation.pk) if operation else None

    outcomes = race(
        *(lambda p=p: requests.submit_request(p, package.pk) for p in people),
        add_role,
        remove_role,
    )
    assert not leaked(outcomes)
    settle()
    for person in people:
        assignment = m.Assignment.objects.get(target=person, package=package)
        wanted = set(assignment.grants.filter(state__in=m.GrantState.WANTED).values_list("resource_role", flat=True))
        assert wanted == {kept.pk, added.pk}, person
    check_invariants()


# --- Expiry, removal, extension and reprocess of the same assignments ------------------------


def test_expire_remove_extend_and_reprocess_the_same_assignments(make_package, admin):
    package = make_package(roles=2)
    for _ in range(5):
        requests.submit_request(f.UserFactory(), package.pk)
    settle()
    active = list(m.Assignment.objects.all())
    assert {a.state for a in active} == {m.AssignmentState.DELIVERED}
    ending = timezone.now() + timedelta(days=1)
    m.Assignment.objects.update(end_at=ending)
    after_end = ending + timedelta(minutes=1)
    new_end = timezone.now() + timedelta(days=30)

    calls: list[Any] = []
    for i in range(THREADS):
        assignment = active[i % 5]
        match i % 5:
            case 0:
                calls.append(lambda a=assignment: assignments.expire_assignment(a.pk, now=after_end))
            case 1:
                calls.append(lambda a=assignment: assignments.remove_assignment(admin, a.pk, "racing"))
            case 2:
                calls.append(lambda a=assignment: assignments.update_assignment_end(admin, a.pk, new_end))
            case 3:
                calls.append(lambda a=assignment: assignments.reprocess_assignment(admin, a.pk))
            case _:
                calls.append(lambda: assignments.expire_due_assignments(now=after_end, batch_size=2))
    outcomes = race(*calls)
    assert not leaked(outcomes)
    settle()
    for assignment in active:
        assignment.refresh_from_db()
        ended = m.AuditEvent.objects.filter(
            object_id=str(assignment.pk), action__in=["assignment.expired", "assignment.removed"]
        )
        assert ended.count() == (0 if assignment.state in m.AssignmentState.ACTIVE else 1)
    check_invariants()
