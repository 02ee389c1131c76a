"""Reprocess all matching with a real worker process: hundreds of failed requests, one click,
every one retried and delivered by the built-in connector; a worker killed mid-operation
and a new one finish the job without doing anything twice."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from governance import models as m
from governance import tasks
from tests.portal.conftest import repair
from tests.portal.test_reprocess_all import ALL_REQUESTS, failed_requests, states_of
from tests.workers import WorkerFactory, wait_for

pytestmark = [pytest.mark.worker]

# Enough requests for several pages of the list and several batches of the operation: what
# matters is more than one of each, not hundreds (each request is a delivery of the worker's).
MATCHING, BATCH = 120, 25
KILLED, KILLED_BATCH = 150, 5


def settled(requests: list[m.AssignmentRequest]) -> bool:
    return states_of(requests) == {m.RequestState.DELIVERED}


def test_reprocess_all_matching_is_delivered_by_the_worker(
    make_worker: WorkerFactory,
    catalog: m.Catalog,
    other_catalog: m.Catalog,
    admin: m.User,
    assignment_manager: m.User,
) -> None:
    _, role, matching = failed_requests(admin, catalog, MATCHING, prefix="bulk")
    _, _, other_people = failed_requests(admin, catalog, 5, prefix="else", name="Other people")
    _, finance_role, finance = failed_requests(admin, other_catalog, 5, prefix="bulkfin", name="Finance outage")
    old = matching[:4]
    m.AssignmentRequest.objects.filter(pk__in=[r.pk for r in old]).update(
        completed_at=timezone.now() - timedelta(days=20)
    )
    repair(role)
    repair(finance_role)
    worker = make_worker(BULK_REPROCESS_BATCH_SIZE=str(BATCH))

    client = Client()
    client.force_login(assignment_manager)  # a catalog-scoped assignment manager of Engineering
    # Three pages of 50 match the filter; the confirmation counts them all.
    assert client.get("/governance/requests/", {"q": "bulk", "page": "3"}).status_code == 200
    confirm = client.get(ALL_REQUESTS, {"q": "bulk"})
    assert f"Reprocess all {MATCHING - 4} matching" in confirm.content.decode()
    response = client.post(f"{ALL_REQUESTS}?q=bulk")
    assert response.status_code == 302

    wait_for(
        lambda: settled(matching[4:]),
        timeout=120,
        message=f"all {MATCHING - 4} requests delivered\n{worker.log()[-3000:]}",
    )
    operation = m.BulkReprocess.objects.get()
    assert (operation.state, operation.matched, operation.processed, operation.queued) == ("done", *[MATCHING - 4] * 3)
    assert m.GroupMembership.objects.filter(group_id=role.resource.origin_id).count() == MATCHING - 4
    for untouched in (old, other_people, finance):
        assert states_of(untouched) == {m.RequestState.DELIVERY_FAILED}
    assert not m.GroupMembership.objects.filter(group_id=finance_role.resource.origin_id).exists()


def test_a_worker_killed_mid_operation_and_a_new_one_finish_without_doubles(
    make_worker: WorkerFactory, catalog: m.Catalog, admin: m.User
) -> None:
    _, role, made = failed_requests(admin, catalog, KILLED, prefix="bulk")
    repair(role)
    first = make_worker(start=False, BULK_REPROCESS_BATCH_SIZE=str(KILLED_BATCH))
    client = Client()
    client.force_login(admin)
    client.post(ALL_REQUESTS)  # queued; no worker is running yet
    operation = m.BulkReprocess.objects.get()

    def progress() -> int:
        operation.refresh_from_db()
        return operation.processed

    first.start()
    wait_for(lambda: progress() >= 20, timeout=60, interval=0.02, message="the first batches to commit")
    first.kill()  # SIGKILL, in the middle of the operation (and probably of a batch)
    done_before = progress()
    assert operation.state == m.BulkReprocessState.RUNNING
    assert 20 <= done_before < KILLED

    second = make_worker(BULK_REPROCESS_BATCH_SIZE=str(KILLED_BATCH))
    # Beat's sweeper, a few minutes later: the operation has not moved, so it is queued again.
    with time_machine.travel(timezone.now() + timedelta(minutes=3), tick=True):
        assert tasks.sweep_deliveries()["bulk_reprocess_resumed"] == 1
    wait_for(lambda: settled(made), timeout=120, message=f"every request delivered\n{second.log()[-3000:]}")
    operation.refresh_from_db()
    assert (operation.state, operation.processed, operation.queued, operation.skipped) == ("done", KILLED, KILLED, 0)

    audits: Counter[Any] = Counter(
        m.AuditEvent.objects.filter(action="request.reprocess").values_list("object_id", flat=True)
    )
    assert set(audits) == {str(r.pk) for r in made}
    assert set(audits.values()) == {1}, "each request is reprocessed exactly once"
    successes = Counter(m.DeliveryAttempt.objects.filter(outcome=m.Outcome.SUCCESS).values_list("grant_id", flat=True))
    assert len(successes) == KILLED
    assert set(successes.values()) == {1}
    assert m.GroupMembership.objects.filter(group_id=role.resource.origin_id).count() == KILLED
