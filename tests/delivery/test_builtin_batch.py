"""The built-in connector's set-based batch: N grants in one batch are N memberships, N
attempts and exactly the audit rows one-at-a-time delivery wrote; a row that fails leaves
the others delivered; the queries of a batch do not grow with it.

Run on PostgreSQL (`DATABASE_URL=postgres://…`) they cover the engine's array statements;
on SQLite (the fast tier) the ORM path behind the same calls."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from governance import models as m
from governance.audit import build_event
from governance.connectors.base import PermanentError, Subject
from governance.connectors.builtin import ALREADY_MEMBER, BuiltinConnector, builtin_connector
from governance.services import delivery, requests
from governance.services.delivery import target_of
from tests import factories as f
from tests.conftest import members_of

pytestmark = pytest.mark.django_db
T = TypeVar("T")

AUDIT_COMPARED = ("actor_id", "actor_label", "action", "object_type", "object_id", "object_repr", "catalog_id")


def queries(call: Callable[[], T]) -> tuple[int, T]:
    with CaptureQueriesContext(connection) as captured:
        value = call()
    return len(captured), value


def requested(make_package: Any, count: int, roles: int = 1) -> tuple[m.AccessPackage, list[m.AssignmentRequest]]:
    """``count`` people request one auto-approved package: their grants wait for delivery."""
    package = make_package(roles=roles)
    made = [requests.submit_request(f.UserFactory(), package.pk) for _ in range(count)]
    return package, made


def same_row(event: m.AuditEvent, expected: m.AuditEvent) -> None:
    """An audit row written by the batch is the row build_event makes for the same change."""
    for name in AUDIT_COMPARED:
        assert getattr(event, name) == getattr(expected, name), name
    assert event.package_id == expected.package_id
    assert event.data == expected.data


class TestOneBatch:
    def test_n_grants_are_n_memberships_attempts_and_exact_audit_rows(self, make_package):
        package, made = requested(make_package, 6)
        role = package.resource_roles.get()
        before = set(m.AuditEvent.objects.values_list("pk", flat=True))

        report = delivery.deliver_batch()

        assert (report.handled, report.contended) == (6, 0)
        assert members_of(role) == {r.target.username for r in made}
        grants = {g.pk: g for g in m.RoleGrant.objects.select_related("assignment__package", "resource_role__resource")}
        assert {g.state for g in grants.values()} == {m.GrantState.GRANTED}
        assert all(g.granted_at is not None and g.next_attempt_at is None for g in grants.values())
        attempts = m.DeliveryAttempt.objects.all()
        assert sorted(a.grant_id for a in attempts) == sorted(grants)
        assert {(a.operation, a.outcome, a.message, a.error_code) for a in attempts} == {
            (m.Operation.GRANT, m.Outcome.SUCCESS, "Granted.", "")
        }
        assert {a.connector_id for a in attempts} == {builtin_connector().pk}
        assert {a.request_id for a in attempts} == {r.pk for r in made}

        new = m.AuditEvent.objects.exclude(pk__in=before)
        granted = {e.object_id: e for e in new.filter(action="grant.granted")}
        assert len(granted) == 6 == new.filter(action="grant.granted").count()
        for pk, grant in grants.items():
            expected = build_event(
                None,
                "grant.granted",
                grant,
                previous="pending",
                catalog_id=package.catalog_id,
                package_id=package.pk,
                message="Granted.",
            )
            same_row(granted[str(pk)], expected)
        delivered = {e.object_id: e for e in new.filter(action="assignment.delivered")}
        assert len(delivered) == 6 == new.filter(action="assignment.delivered").count()
        for assignment in m.Assignment.objects.select_related("package", "target"):
            assert assignment.state == m.AssignmentState.DELIVERED
            expected = build_event(
                None, "assignment.delivered", assignment, previous="delivering", catalog_id=package.catalog_id
            )
            same_row(delivered[str(assignment.pk)], expected)
        settled = {e.object_id: e for e in new.filter(action="request.delivered")}
        assert len(settled) == 6 == new.filter(action="request.delivered").count()
        assert new.count() == 6 * 3  # nothing else, nothing twice
        for request in made:
            request.refresh_from_db()
            assert request.state == m.RequestState.DELIVERED
            assert request.completed_at is not None
            # Settled from plain values: the row build_event makes of the instance.
            expected = build_event(
                None, "request.delivered", request, previous="delivering", catalog_id=package.catalog_id
            )
            same_row(settled[str(request.pk)], expected)

    def test_a_revoke_batch_removes_every_membership_in_one_go(self, make_package, deliver):
        package, _ = requested(make_package, 5)
        deliver()
        role = package.resource_roles.get()
        assert len(members_of(role)) == 5
        grants = m.RoleGrant.objects.filter(resource_role=role)
        grants.update(state=m.GrantState.REVOKING, next_attempt_at=None)

        assert delivery.deliver_batch().handled == 5

        assert members_of(role) == set()
        assert set(grants.values_list("state", flat=True)) == {m.GrantState.REVOKED}
        assert m.AuditEvent.objects.filter(action="grant.revoked").count() == 5
        revokes = m.DeliveryAttempt.objects.filter(operation=m.Operation.REVOKE)
        assert set(revokes.values_list("outcome", "message")) == {(m.Outcome.SUCCESS, "Revoked.")}
        assert revokes.count() == 5


class TestPartialFailure:
    def test_a_role_whose_group_is_gone_fails_and_the_others_are_delivered(self, make_package):
        package, made = requested(make_package, 3, roles=2)
        broken, fine = sorted(package.resource_roles.select_related("resource"), key=lambda r: r.pk)
        m.DirectoryGroup.objects.filter(pk=broken.resource.origin_id).delete()

        assert delivery.deliver_batch().handled == 6

        assert members_of(fine) == {r.target.username for r in made}
        failed = m.RoleGrant.objects.filter(resource_role=broken)
        assert set(failed.values_list("state", flat=True)) == {m.GrantState.FAILED}
        assert all("does not exist in the built-in directory" in g.last_error for g in failed)
        assert set(m.RoleGrant.objects.filter(resource_role=fine).values_list("state", flat=True)) == {
            m.GrantState.GRANTED
        }
        errors = m.DeliveryAttempt.objects.filter(outcome=m.Outcome.PERMANENT)
        assert set(errors.values_list("error_code", flat=True)) == {"groupNotFound"}
        assert errors.count() == 3
        assert m.AuditEvent.objects.filter(action="grant.failed").count() == 3
        for request in made:
            request.refresh_from_db()
            assert request.state == m.RequestState.PARTIALLY_DELIVERED
            [settled] = m.AuditEvent.objects.filter(object_id=str(request.pk), action="request.partiallyDelivered")
            expected = build_event(
                None,
                "request.partiallyDelivered",
                request,
                previous="delivering",
                catalog_id=package.catalog_id,
            )
            same_row(settled, expected)
        assert set(m.Assignment.objects.values_list("state", flat=True)) == {m.AssignmentState.PARTIALLY_DELIVERED}

    def test_one_person_gone_fails_alone_in_the_connectors_batch(self):
        group = f.DirectoryGroupFactory()
        role = f.ResourceRoleFactory(resource__group=group)
        here, member = f.UserFactory(), f.UserFactory()
        m.GroupMembership.objects.create(group=group, user=member)
        gone = Subject(id=uuid.uuid4(), username="gone", email="", user_principal_name="")
        people = [Subject(id=u.pk, username=u.username, email=u.email, user_principal_name="") for u in (here, member)]

        result = BuiltinConnector(builtin_connector()).grant_many(target_of(role), [*people, gone])

        assert result[here.pk] is None
        assert result[member.pk] == ALREADY_MEMBER
        error = result[gone.id]
        assert isinstance(error, PermanentError)
        assert error.code == "userNotFound"
        assert set(m.GroupMembership.objects.filter(group=group).values_list("user_id", flat=True)) == {
            here.pk,
            member.pk,
        }


class TestQueryCounts:
    """Time stands still in these tests: every request waits the same time for its access,
    so the time-to-access histogram (one UPDATE per bucket hit) counts in one bucket."""

    @pytest.fixture(autouse=True)
    def _still(self) -> Any:
        with time_machine.travel(timezone.now(), tick=False):
            yield

    def test_a_grant_batch_costs_the_same_queries_for_2_and_12_grants(self, make_package, deliver):
        requested(make_package, 1)
        deliver()  # the histogram's bucket row exists from now on
        counts = []
        for size in (2, 12):
            requested(make_package, size)
            count, report = queries(delivery.deliver_batch)
            assert report.handled == size
            counts.append(count)
        assert counts[0] == counts[1], counts

    def test_a_revoke_batch_costs_the_same_queries_for_2_and_12_grants(self, make_package, deliver):
        counts = []
        for size in (2, 12):
            package, _ = requested(make_package, size)
            deliver()
            m.RoleGrant.objects.filter(assignment__package=package).update(state=m.GrantState.REVOKING)
            count, report = queries(delivery.deliver_batch)
            assert report.handled == size
            counts.append(count)
        assert counts[0] == counts[1], counts


class TestSharing:
    def test_a_full_claim_wakes_another_worker_once_and_a_partial_one_does_not(self, make_package):
        requested(make_package, 3)
        woken: list[str] = []
        first = delivery.deliver_batch(limit=2, share=lambda: woken.append("deliver"))
        assert (first.handled, first.full, woken) == (2, True, ["deliver"])
        last = delivery.deliver_batch(limit=2, share=lambda: woken.append("deliver"))
        assert (last.handled, last.full, woken) == (1, False, ["deliver"])
