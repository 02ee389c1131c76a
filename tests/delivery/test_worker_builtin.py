"""End to end with a real worker process: the wake-up on commit reaches it, it delivers."""

from __future__ import annotations

import pytest

from governance import models as m
from governance.services import requests
from tests.conftest import members_of
from tests.workers import Worker, wait_for

pytestmark = [pytest.mark.worker]


def test_a_request_is_delivered_by_the_worker(make_package, requestor, worker: Worker):
    package = make_package(roles=2)
    request = requests.submit_request(requestor, package.pk)

    def delivered() -> bool:
        request.refresh_from_db()
        return request.state == m.RequestState.DELIVERED

    wait_for(delivered, message=f"the request to be delivered; worker log:\n{worker.log()}")
    assert all(members_of(role) == {"requestor"} for role in m.ResourceRole.objects.all())
    assert request.assignment.state == m.AssignmentState.DELIVERED
