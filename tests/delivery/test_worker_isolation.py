"""The session's worker is shared by the tests: what one test left scheduled on it (a retry
with a countdown) must not run during the next test, whose rows are committed too."""

from __future__ import annotations

import time

import pytest

from governance import models as m
from governance import tasks
from governance.services import requests
from portal.celery import app as celery_app
from tests.workers import Worker, wait_for

# In this order, in one process: the second test is the one after the first.
pytestmark = [pytest.mark.worker, pytest.mark.xdist_group("worker-isolation")]

COUNTDOWN = 3.0


def test_a_test_leaves_a_retry_scheduled_on_the_worker(worker: Worker) -> None:
    sent = tasks.deliver.apply_async(countdown=COUNTDOWN)  # what deliver() sends for a retry

    def scheduled() -> bool:
        found = celery_app.control.inspect(destination=[worker.hostnames[-1]], timeout=1.0).scheduled() or {}
        return any(entry["request"]["id"] == sent.id for entry in found.get(worker.hostnames[-1], []))

    wait_for(scheduled, timeout=10, message="the worker to hold the retry")


@pytest.mark.django_db(transaction=True)
def test_the_next_test_does_not_see_it_run(make_package, requestor) -> None:
    request = requests.submit_request(requestor, make_package(roles=1).pk)  # committed, not delivered
    time.sleep(COUNTDOWN + 1)  # the retry's time has come and gone
    request.refresh_from_db()
    assert request.state == m.RequestState.DELIVERING
    assert m.RoleGrant.objects.get().state == m.GrantState.PENDING
