"""Requests delivered into a real slapd by a real worker process (seeds 000, 001, 003, 004)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from governance import models as m
from governance.services import approvals, assignments, delivery, requests
from tests import factories as f
from tests.delivery.conftest import ldap_package
from tests.ldap_server import Slapd
from tests.workers import Worker, wait_for

pytestmark = [pytest.mark.ldap, pytest.mark.worker]


def settled(request: m.AssignmentRequest, worker: Worker, *states: str) -> m.AssignmentRequest:
    def done() -> bool:
        request.refresh_from_db()
        return request.state in states

    wait_for(done, message=f"request to reach {states}; it is {request.state}\n{worker.log()[-3000:]}")
    return request


@pytest.fixture
def rita(slapd: Slapd, approver: m.User) -> m.User:
    slapd.add_people(["rita", "sam"])
    return f.UserFactory(username="rita", manager=approver)


def test_approved_request_is_delivered_into_ldap(make_package, ldap_group, rita, approver, slapd, worker):
    role = ldap_group("developers")
    package = ldap_package(make_package, role, approvers=[approver])
    request = requests.submit_request(rita, package.pk)
    assert request.state == m.RequestState.PENDING_APPROVAL
    approvals.decide(approver, request.pk, m.Decision.APPROVE)

    settled(request, worker, m.RequestState.DELIVERED)
    assert slapd.members(role.resource.origin_id) == {"rita"}
    assert request.assignment.state == m.AssignmentState.DELIVERED


def test_partial_delivery_errors_and_reprocess(make_package, ldap_group, ldap_connector, rita, admin, slapd, worker):
    good = ldap_group("developers")
    missing_dn = "cn=release-managers,ou=groups,dc=portcullis,dc=example"
    bad = f.ResourceRoleFactory(
        resource=f.ResourceFactory(catalog=good.resource.catalog, connector=ldap_connector, origin_id=missing_dn)
    )
    package = ldap_package(make_package, good, bad)
    request = requests.submit_request(rita, package.pk)

    settled(request, worker, m.RequestState.PARTIALLY_DELIVERED)
    errors = list(request.delivery_attempts.exclude(outcome=m.Outcome.SUCCESS))
    assert [(e.outcome, e.message) for e in errors] == [
        (m.Outcome.PERMANENT, f"The group {missing_dn} does not exist in the LDAP directory.")
    ]
    assert slapd.members(good.resource.origin_id) == {"rita"}

    slapd.add_group("release-managers")  # the administrator fixes the cause
    requests.reprocess_request(admin, request.pk)
    settled(request, worker, m.RequestState.DELIVERED)
    assert slapd.members(missing_dn) == {"rita"}
    assert request.assignment.state == m.AssignmentState.DELIVERED


def test_drift_then_reprocess_assignment(make_package, ldap_group, rita, assignment_manager, slapd, worker):
    role = ldap_group("developers")
    request = requests.submit_request(rita, ldap_package(make_package, role).pk)
    settled(request, worker, m.RequestState.DELIVERED)

    slapd.remove_member(role.resource.origin_id, "rita")  # removed outside the portal
    report = delivery.check_drift()
    assert report.drifted == 1
    assignment = m.Assignment.objects.get(pk=request.assignment_id)
    assert assignment.grants.get().state == m.GrantState.DRIFTED
    assert assignment.state == m.AssignmentState.DELIVERY_FAILED

    assignments.reprocess_assignment(assignment_manager, assignment.pk)

    def back() -> bool:
        assignment.refresh_from_db()
        return assignment.state == m.AssignmentState.DELIVERED

    wait_for(back, message="the assignment to be delivered again")
    assert slapd.members(role.resource.origin_id) == {"rita"}


def test_expiring_one_of_two_packages_sharing_a_group_keeps_the_member(make_package, ldap_group, rita, slapd, worker):
    shared = ldap_group("shared")
    short = ldap_package(make_package, shared, expiration_days=3)
    long = ldap_package(make_package, shared, expiration_days=90)
    first = requests.submit_request(rita, short.pk)
    second = requests.submit_request(rita, long.pk)
    settled(first, worker, m.RequestState.DELIVERED)
    settled(second, worker, m.RequestState.DELIVERED)

    # The worker runs on the real clock: let the short assignment's end come, not the clock go.
    m.Assignment.objects.filter(package=short).update(end_at=timezone.now() - timedelta(minutes=1))
    assert assignments.expire_due_assignments() == 1
    expiry = m.AssignmentRequest.objects.get(request_type=m.RequestType.SYSTEM_REMOVE)
    settled(expiry, worker, m.RequestState.DELIVERED)
    assert slapd.members(shared.resource.origin_id) == {"rita"}
    kept = expiry.delivery_attempts.get()
    assert kept.message == f"Not removed from the target: still granted through {long}."


def test_ldap_down_means_retries_then_success(make_package, ldap_group, rita, slapd, worker):
    role = ldap_group("developers")
    slapd.stop()
    request = requests.submit_request(rita, ldap_package(make_package, role).pk)

    def retried() -> Any:
        return request.delivery_attempts.filter(outcome=m.Outcome.TRANSIENT).count() >= 2

    wait_for(retried, message="at least two transient attempts while slapd is down")
    request.refresh_from_db()
    assert request.state == m.RequestState.DELIVERING
    grant = m.RoleGrant.objects.get()
    assert grant.state == m.GrantState.PENDING
    assert "retrying" in grant.last_error

    slapd.start()
    settled(request, worker, m.RequestState.DELIVERED)
    assert slapd.members(role.resource.origin_id) == {"rita"}
