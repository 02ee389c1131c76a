"""Faults: a worker killed mid-batch, the broker down while people submit requests."""

from __future__ import annotations

from collections import Counter

import pytest

from governance import models as m
from governance import tasks
from governance.services import requests
from tests import factories as f
from tests.delivery.conftest import ldap_package
from tests.targets import Receiver, RedisServer
from tests.workers import WorkerFactory, wait_for

pytestmark = [pytest.mark.worker]


@pytest.fixture
def slow_target(webhook_receiver: Receiver, webhook_connector: m.Connector, catalog: m.Catalog) -> m.ResourceRole:
    webhook_receiver.delay = 0.03  # slow enough that a kill lands in the middle of a batch
    resource = f.ResourceFactory(catalog=catalog, connector=webhook_connector, origin_id="vpn", display_name="VPN")
    return f.ResourceRoleFactory(resource=resource)


def test_worker_killed_mid_batch_every_grant_ends_granted_once(
    make_worker: WorkerFactory, slow_target, webhook_receiver: Receiver, make_package
):
    package = ldap_package(make_package, slow_target)
    people = [f.UserFactory() for _ in range(90)]
    first = make_worker(start=False, DELIVERY_BATCH_SIZE="15")
    for person in people:
        requests.submit_request(person, package.pk)
    first.start()
    wait_for(lambda: len(webhook_receiver.events) >= 25, message="the first batches to reach the target")
    first.kill()  # SIGKILL, in the middle of a batch of 15
    granted_before = m.RoleGrant.objects.filter(state=m.GrantState.GRANTED).count()
    assert 0 < granted_before < len(people)

    second = make_worker(start=True, DELIVERY_BATCH_SIZE="15")
    tasks.sweep_deliveries()  # what beat does every minute: wake workers for work left behind
    wait_for(
        lambda: not m.AssignmentRequest.objects.filter(state=m.RequestState.DELIVERING).exists(),
        timeout=60,
        message=f"every request to settle\\n{second.log()[-2000:]}",
    )
    grants = list(m.RoleGrant.objects.all())
    assert {g.state for g in grants} == {m.GrantState.GRANTED}
    successes = Counter(m.DeliveryAttempt.objects.filter(outcome=m.Outcome.SUCCESS).values_list("grant_id", flat=True))
    assert set(successes.values()) == {1}, "each grant is recorded granted exactly once"
    assert len(successes) == len(grants)
    assert set(m.AssignmentRequest.objects.values_list("state", flat=True)) == {m.RequestState.DELIVERED}
    # The target saw every change; a batch cut short was sent again with the same keys.
    keys = Counter(webhook_receiver.keys())
    assert set(keys) == {f"{g.pk}:{g.generation}:grant" for g in grants}


def test_broker_down_while_submitting_then_the_sweeper_delivers(
    make_worker: WorkerFactory, private_redis: RedisServer, make_package, requestor
):
    worker = make_worker(broker=private_redis.url)
    package = make_package(roles=1)
    private_redis.stop()

    request = requests.submit_request(requestor, package.pk)  # the broker is down: nothing may fail
    request.refresh_from_db()
    assert request.state == m.RequestState.DELIVERING
    assert m.RoleGrant.objects.get().state == m.GrantState.PENDING

    private_redis.start()
    tasks.sweep_deliveries()

    def delivered() -> bool:
        request.refresh_from_db()
        return request.state == m.RequestState.DELIVERED

    wait_for(delivered, timeout=60, message=f"delivery after the broker came back\\n{worker.log()[-2000:]}")
