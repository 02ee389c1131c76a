"""Issue 21, faults: PostgreSQL drops every connection and the broker stops while eight API
clients submit direct assignments. Every answer is a 201 or a Graph JSON 503 with
Retry-After, and every answer tells the truth about the database: a 201 names a stored
request, a 503 stored nothing, and a retry with the same ``client-request-id`` never makes
a twin. Afterwards the worker delivers everything.

The outage touches only this test's database (``ALLOW_CONNECTIONS false`` and
``pg_terminate_backend`` on it) and a private redis-server: the shared servers stay up.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
import pytest
from django.db import connection

from governance import models as m
from governance import tasks
from governance.services.api_clients import create_api_client
from tests import factories as f
from tests.api.conftest import EM
from tests.conftest import need
from tests.targets import RedisServer
from tests.workers import WorkerFactory, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.worker, pytest.mark.xdist_group("races")]

CLIENTS = 8
logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per call would bury the report


@dataclass
class Outcome:
    answers: list[tuple[int, str, str, Any]] = field(default_factory=list)  # status, key, target, body
    created: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> (request id, target)
    abandoned: list[tuple[str, str]] = field(default_factory=list)  # (key, target) given up after a 503
    unexpected: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class DatabaseOutage:
    """Refuse new connections to the test database and drop the open ones; then allow again."""

    def __init__(self) -> None:
        s = connection.settings_dict
        self.name = s["NAME"]
        self.admin_dsn = f"host={s['HOST'] or '127.0.0.1'} port={s['PORT'] or 5432} user={s['USER']} dbname=postgres"

    def _run(self, *statements: str) -> None:
        with psycopg.connect(self.admin_dsn, autocommit=True) as admin:
            for statement in statements:
                admin.execute(statement)

    def begin(self) -> None:
        self._run(
            f'ALTER DATABASE "{self.name}" WITH ALLOW_CONNECTIONS false',
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{self.name}' AND pid <> pg_backend_pid()",
        )

    def end(self) -> None:
        self._run(f'ALTER DATABASE "{self.name}" WITH ALLOW_CONNECTIONS true')


def _client(base: str, token: str, package: m.AccessPackage, policy: m.AssignmentPolicy, targets: list[str],
            retries: bool, outcome: Outcome) -> None:  # fmt: skip
    with httpx.Client(base_url=base, timeout=30, headers={"Authorization": f"Bearer {token}"}) as http:
        for target in targets:
            key = str(uuid.uuid4())
            body = {
                "requestType": "adminAdd",
                "assignment": {
                    "targetId": target,
                    "assignmentPolicyId": str(policy.pk),
                    "accessPackageId": str(package.pk),
                },
            }
            for _attempt in range(60):
                answer = http.post(f"{EM}/assignmentRequests", json=body, headers={"client-request-id": key})
                parsed = answer.json() if answer.headers.get("content-type") == "application/json" else None
                with outcome.lock:
                    outcome.answers.append((answer.status_code, key, target, parsed))
                if answer.status_code == 201:
                    with outcome.lock:
                        outcome.created[key] = (parsed["id"], target)
                    break
                if answer.status_code != 503 or parsed is None or not answer.headers.get("Retry-After"):
                    with outcome.lock:
                        outcome.unexpected.append(f"{answer.status_code} {answer.text[:300]}")
                    break
                if not retries:
                    with outcome.lock:
                        outcome.abandoned.append((key, target))
                    break
                time.sleep(0.25)  # Retry-After says 1 s; a client in a hurry tries sooner


def test_postgres_and_broker_outages_during_a_burst_every_answer_is_true(
    live_server: Any, make_worker: WorkerFactory, private_redis: RedisServer, make_package: Any, settings: Any
) -> None:
    need(connection.vendor == "postgresql", "dropping PostgreSQL connections needs PostgreSQL (set DATABASE_URL)")
    settings.UNAVAILABLE_RETRY_AFTER = 1
    worker = make_worker(broker=private_redis.url)
    package = make_package(roles=1, allowed_target_scope=m.TargetScope.NO_ONE)
    policy = package.policies.get()
    token = create_api_client(None, "burst", role="global_admin").token
    people = [str(f.UserFactory().pk) for _ in range(CLIENTS * 30)]
    outcome = Outcome()
    threads = [
        threading.Thread(
            target=_client,
            args=(live_server.url, token, package, policy, people[i::CLIENTS], i % 2 == 0, outcome),
        )
        for i in range(CLIENTS)
    ]
    outage = DatabaseOutage()
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.7)
        outage.begin()
        time.sleep(2.0)
        outage.end()
        time.sleep(0.7)
        private_redis.stop()
        time.sleep(2.0)
        private_redis.start()
    finally:
        outage.end()
        for thread in threads:
            thread.join(timeout=180)
        connection.close()  # this thread's connection was dropped too

    statuses = [status for status, *_ in outcome.answers]
    assert not outcome.unexpected, outcome.unexpected[:5]
    assert set(statuses) <= {201, 503}
    assert statuses.count(503) > 0, "the outage was not felt: nothing was tested"
    for status, _key, _target, body in outcome.answers:
        if status == 503:
            assert body["error"]["code"] == "serviceUnavailable"

    # Every 201 names one stored request, for the person asked, once per key.
    stored = {str(r.pk): str(r.target_id) for r in m.AssignmentRequest.objects.all()}
    assert dict(outcome.created.values()) == stored
    keys = dict(m.ClientRequestKey.objects.values_list("key", "request_id"))
    assert {uuid.UUID(k): uuid.UUID(v[0]) for k, v in outcome.created.items()} == keys
    # A 503 that was not retried stored nothing.
    for key, target in outcome.abandoned:
        assert uuid.UUID(key) not in keys
        assert target not in stored.values()
    assert len(outcome.created) + len(outcome.abandoned) == len(people)

    tasks.sweep_deliveries()  # what beat does every minute: wake a worker for what the outage left

    def all_delivered() -> bool:
        return not m.AssignmentRequest.objects.exclude(state=m.RequestState.DELIVERED).exists()

    wait_for(all_delivered, timeout=120, message=f"every stored request delivered\n{worker.log()[-2000:]}")
    logging.getLogger(__name__).warning(
        "%d answers: %d were 201, %d were 503; %d stored and delivered, %d given up and not stored",
        len(outcome.answers), statuses.count(201), statuses.count(503), len(outcome.created), len(outcome.abandoned),
    )  # fmt: skip
