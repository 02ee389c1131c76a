"""Expiry and bulk reprocess are set-based: their query counts do not grow with the rows."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

import pytest
import time_machine
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from governance import models as m
from governance.permissions import role_set
from governance.services import assignments, requests
from governance.services.reprocess import reprocess_assignments, reprocess_requests
from tests import factories as f

T = TypeVar("T")

pytestmark = pytest.mark.django_db


def queries(call: Callable[[], T]) -> tuple[int, T]:
    """How many queries a call made, and what it returned."""
    with CaptureQueriesContext(connection) as captured:
        value = call()
    return len(captured), value


def delivered_assignments(make_package, deliver, count: int, **policy) -> tuple[m.AccessPackage, list[m.User]]:  # type: ignore[no-untyped-def]
    package = make_package(roles=2, **policy)
    people = [f.UserFactory() for _ in range(count)]
    for person in people:
        requests.submit_request(person, package.pk)
    deliver()
    return package, people


def failed_requests(make_package, deliver, count: int) -> list[m.AssignmentRequest]:  # type: ignore[no-untyped-def]
    package = make_package(roles=0)
    role = f.ResourceRoleFactory(resource__catalog=package.catalog, resource__origin_id=str(uuid.uuid4()))
    f.PackageResourceRoleFactory(package=package, resource_role=role)
    made = [requests.submit_request(f.UserFactory(), package.pk) for _ in range(count)]
    deliver()
    return made


class TestExpiry:
    def test_a_batch_expires_everything_due_with_its_audit_rows(self, make_package, deliver):
        package, people = delivered_assignments(make_package, deliver, 3, expiration_days=5)
        later = timezone.now() + timedelta(days=5, minutes=1)
        with time_machine.travel(later, tick=False):
            assert assignments.expire_due_assignments(batch_size=2) == 3
            deliver()
        assert set(package.assignments.values_list("state", flat=True)) == {m.AssignmentState.EXPIRED}
        assert not m.GroupMembership.objects.filter(user__in=people).exists()
        removals = m.AssignmentRequest.objects.filter(request_type=m.RequestType.SYSTEM_REMOVE)
        assert set(removals.values_list("state", flat=True)) == {m.RequestState.DELIVERED}
        for action, count in [
            ("assignment.expired", 3),
            ("request.submitted", 3 + 3),  # the original requests and the expiries
            ("request.start_delivery", 3 + 3),
            ("grant.revoking", 6),
            ("grant.revoked", 6),
        ]:
            assert m.AuditEvent.objects.filter(action=action).count() == count, action
        attempts = m.DeliveryAttempt.objects.filter(request__in=removals, operation=m.Operation.REVOKE)
        assert attempts.count() == 6
        # One "expired" email each (written in one insert per batch), with the way back.
        emails = m.OutboundEmail.objects.filter(kind="assignment_expired")
        assert sorted(e.recipient_id for e in emails) == sorted(p.pk for p in people)
        for email in emails:
            assert f"request it again: {settings.SITE_URL}/myaccess/packages/{package.pk}/" in email.body_text
            assert email.request is not None
            assert email.request.request_type == m.RequestType.SYSTEM_REMOVE
            assert email.assignment == package.assignments.get(target_id=email.recipient_id)

    def test_query_count_does_not_grow_with_the_batch(self, make_package, deliver):
        counts = []
        # Sizes below SQLite's 999-parameter split of bulk inserts, so the counts compare exactly.
        for size in (2, 12):
            delivered_assignments(make_package, deliver, size, expiration_days=5)
            with time_machine.travel(timezone.now() + timedelta(days=6), tick=False):
                count, expired = queries(assignments.expire_due_assignments)
            assert expired == size
            counts.append(count)
        assert counts[0] == counts[1] <= 16

    def test_a_package_without_roles_expires_at_once(self, make_package, requestor, deliver):
        request = requests.submit_request(requestor, make_package(roles=0, expiration_days=1).pk)
        deliver()
        with time_machine.travel(timezone.now() + timedelta(days=2), tick=False):
            assert assignments.expire_due_assignments() == 1
        removal = m.AssignmentRequest.objects.get(assignment_id=request.assignment_id, request_type="systemRemove")
        assert removal.state == m.RequestState.DELIVERED

    def test_expiring_while_still_delivering_supersedes_the_delivery(self, make_package, requestor):
        request = requests.submit_request(
            requestor, make_package(roles=1, expiration_hours=1, expiration_type=m.ExpirationType.AFTER_HOURS).pk
        )
        with time_machine.travel(timezone.now() + timedelta(hours=2), tick=False):
            assert assignments.expire_due_assignments() == 1
        request.refresh_from_db()
        assert request.state == m.RequestState.CANCELED
        assert "expired before delivery completed" in request.cancel_reason


class TestBulkReprocess:
    def test_requests_query_count_is_constant(self, make_package, admin, deliver):
        few = failed_requests(make_package, deliver, 2)
        many = failed_requests(make_package, deliver, 15)
        role_set(admin)
        small, done_few = queries(lambda: reprocess_requests(admin, [r.pk for r in few]))
        large, done_many = queries(lambda: reprocess_requests(admin, [r.pk for r in many]))
        assert (len(done_few.done), len(done_many.done)) == (2, len(many))
        assert small == large <= 16
        assert set(m.RoleGrant.objects.values_list("state", flat=True)) == {m.GrantState.PENDING}
        assert m.AuditEvent.objects.filter(action="request.reprocess").count() == 2 + 15

    def test_reprocessing_twice_is_a_no_op(self, make_package, admin, deliver):
        [request] = failed_requests(make_package, deliver, 1)
        reprocess_requests(admin, [request.pk])
        again = reprocess_requests(admin, [request.pk])
        assert again.done == [request.pk]
        assert m.AuditEvent.objects.filter(action="request.reprocess").count() == 1

    def test_assignments_report_what_was_already_there(self, make_package, admin, deliver):
        package, [person] = delivered_assignments(make_package, deliver, 1)
        first, second = m.ResourceRole.objects.filter(package_links__package=package)
        m.GroupMembership.objects.filter(user=person, group_id=first.resource.origin_id).delete()
        result = reprocess_assignments(admin, [m.Assignment.objects.get(target=person).pk])
        assert len(result.done) == 1
        deliver()
        latest = {
            a.grant.resource_role_id: a.message
            for a in m.DeliveryAttempt.objects.filter(grant__subject=person).order_by("started_at", "id")
        }
        assert latest[first.pk] == "Granted."
        assert latest[second.pk] == "Already a member in the target."
        assert m.Assignment.objects.get(target=person).state == m.AssignmentState.DELIVERED

    def test_assignments_query_count_is_constant(self, make_package, admin, deliver):
        _, few = delivered_assignments(make_package, deliver, 2)
        _, many = delivered_assignments(make_package, deliver, 12)
        few_ids = list(m.Assignment.objects.filter(target__in=few).values_list("pk", flat=True))
        many_ids = list(m.Assignment.objects.filter(target__in=many).values_list("pk", flat=True))
        role_set(admin)
        small, done_few = queries(lambda: reprocess_assignments(admin, few_ids))
        large, done_many = queries(lambda: reprocess_assignments(admin, many_ids))
        assert (len(done_few.done), len(done_many.done)) == (2, len(many))
        assert small == large <= 16
