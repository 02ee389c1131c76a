"""The delivery engine with the built-in connector: attempts, backoff, give-up, drift."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from governance import models as m
from governance.connectors import BaseConnector, RoleTarget, Subject, TransientError, registry
from governance.connectors.base import BatchResult
from governance.services import delivery, requests
from tests import factories as f
from tests.conftest import members_of

pytestmark = pytest.mark.django_db


class FlakyConnector(BaseConnector):
    """Stands in for a target that is down: every call is a transient failure."""

    kind = "flaky"

    def grant_many(self, role: RoleTarget, subjects: Sequence[Subject], keys: object = None) -> BatchResult:
        return {s.id: TransientError("Connection refused by flaky.example:389", code="unavailable") for s in subjects}

    revoke_many = grant_many


@pytest.fixture
def flaky(monkeypatch: pytest.MonkeyPatch) -> m.Connector:
    monkeypatch.setitem(registry.current().classes, "flaky", FlakyConnector)
    return f.ConnectorFactory(kind="flaky", display_name="Flaky")


def test_each_try_is_one_attempt_row(make_package, requestor, deliver):
    package = make_package(roles=2)
    request = requests.submit_request(requestor, package.pk)
    deliver()
    attempts = m.DeliveryAttempt.objects.filter(request=request)
    assert attempts.count() == 2
    assert set(attempts.values_list("outcome", "operation")) == {(m.Outcome.SUCCESS, m.Operation.GRANT)}
    assert m.AuditEvent.objects.filter(action="grant.granted").count() == 2


def test_transient_errors_back_off_then_give_up(make_package, requestor, flaky, settings):
    settings.DELIVERY_MAX_ATTEMPTS = 3
    settings.DELIVERY_RETRY_BASE_SECONDS = 10
    package = make_package(roles=0)
    role = f.ResourceRoleFactory(resource__catalog=package.catalog, resource__connector=flaky)
    f.PackageResourceRoleFactory(package=package, resource_role=role)
    request = requests.submit_request(requestor, package.pk)
    start = timezone.now()

    report = delivery.deliver_batch(now=start)
    grant = m.RoleGrant.objects.get()
    assert (report.handled, report.retry_in) == (1, 10.0)
    assert grant.state == m.GrantState.PENDING
    assert grant.next_attempt_at == start + timedelta(seconds=10)
    assert "retrying" in grant.last_error
    # Not due yet: nothing happens.
    assert delivery.deliver_batch(now=start + timedelta(seconds=5)).handled == 0
    assert delivery.deliver_batch(now=start + timedelta(seconds=11)).retry_in == 20.0
    with time_machine.travel(start + timedelta(seconds=40), tick=False):
        delivery.deliver_batch()
    grant.refresh_from_db()
    request.refresh_from_db()
    assert grant.state == m.GrantState.FAILED
    assert "gave up after 3 attempts" in grant.last_error
    assert request.state == m.RequestState.DELIVERY_FAILED
    assert list(request.delivery_attempts.values_list("outcome", flat=True)) == [m.Outcome.TRANSIENT] * 3


def test_disabled_connector_waits_instead_of_failing(make_package, requestor):
    package = make_package(roles=1)
    connector = f.builtin_connector()
    connector.enabled = False
    connector.save()
    requests.submit_request(requestor, package.pk)
    delivery.deliver_batch()
    grant = m.RoleGrant.objects.get()
    assert grant.state == m.GrantState.PENDING
    assert "disabled" in grant.last_error


def test_drift_is_reported_or_healed(make_package, requestor, deliver):
    package = make_package(roles=1)
    request = requests.submit_request(requestor, package.pk)
    deliver()
    role = m.ResourceRole.objects.get(package_links__package=package)
    m.GroupMembership.objects.filter(user=requestor).delete()

    report = delivery.check_drift()
    assert (report.drifted, report.healed) == (1, 0)
    assignment = m.Assignment.objects.get(pk=request.assignment_id)
    assert assignment.state == m.AssignmentState.DELIVERY_FAILED
    assert assignment.grants.get().state == m.GrantState.DRIFTED

    connector = f.builtin_connector()
    connector.drift_mode = m.DriftMode.HEAL
    connector.save()
    assignment.grants.update(state=m.GrantState.GRANTED)
    report = delivery.check_drift()
    assert report.healed == 1
    deliver()
    assignment.refresh_from_db()
    assert assignment.state == m.AssignmentState.DELIVERED
    assert members_of(role) == {"requestor"}


def test_a_group_that_does_not_exist_fails_at_once_with_its_name(make_package, requestor, deliver):
    package = make_package(roles=0)
    role = f.ResourceRoleFactory(resource__catalog=package.catalog, resource__origin_id=str(uuid.uuid4()))
    f.PackageResourceRoleFactory(package=package, resource_role=role)
    request = requests.submit_request(requestor, package.pk)
    deliver()
    attempt = request.delivery_attempts.get()
    assert attempt.outcome == m.Outcome.PERMANENT
    assert attempt.error_code == "groupNotFound"
    assert str(role) in attempt.message
