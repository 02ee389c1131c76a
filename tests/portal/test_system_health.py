"""Issue 21, System health: what the page and /healthz?full say, from what the processes
report (heartbeats, beat job runs) and what the database holds (grants, outbox, attempts)."""

from __future__ import annotations

import time
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from governance import models as m
from governance.services import health
from portal import heartbeats
from tests import factories as f

pytestmark = pytest.mark.django_db


def _beat(kind: str, seconds_ago: float, started_minutes_ago: float = 60, hostname: str = "host-a") -> None:
    now = timezone.now()
    m.ProcessHeartbeat.objects.update_or_create(
        kind=kind,
        hostname=hostname,
        defaults={
            "pid": 1,
            "started_at": now - timedelta(minutes=started_minutes_ago),
            "last_seen_at": now - timedelta(seconds=seconds_ago),
        },
    )


def _all_jobs_ran(minutes_ago: float = 0) -> None:
    for name, entry in health.settings.CELERY_BEAT_SCHEDULE.items():
        m.PeriodicJobRun.objects.update_or_create(
            name=name,
            defaults={"task": entry["task"], "last_success_at": timezone.now() - timedelta(minutes=minutes_ago)},
        )


def _item(key: str) -> health.Item:
    return next(item for item in health.system_health().items if item.key == key)


@pytest.mark.parametrize(
    ("persona", "status"),
    [("admin", 200), ("governance_admin", 200), ("user_admin", 404), ("catalog_owner", 404), ("requestor", 404)],
)
def test_only_global_and_governance_administrators_open_the_page(
    request: pytest.FixtureRequest, persona: str, status: int
) -> None:
    client = Client()
    client.force_login(request.getfixturevalue(persona))
    page = client.get("/governance/system/")
    assert page.status_code == status
    menu = client.get("/governance/" if status == 200 else "/myaccess/").content.decode()
    assert ('href="/governance/system/"' in menu) is (status == 200)


def test_workers_alive_dead_and_never_seen(admin: m.User) -> None:
    assert _item("workers").status == health.BAD
    assert "No worker has answered since this installation started" in _item("workers").summary
    _beat("worker", seconds_ago=2)
    assert _item("workers").status == health.OK
    _beat("worker", seconds_ago=600)
    workers = _item("workers")
    assert workers.status == health.BAD
    assert "No worker has answered for 10 min" in workers.summary
    assert "celery -A portal worker" in workers.action


def test_a_beat_job_not_run_in_twice_its_interval_fails_healthz(admin: m.User) -> None:
    _beat("beat", seconds_ago=1, started_minutes_ago=1)
    _beat("worker", seconds_ago=1)
    assert _item("jobs").status == health.OK  # beat just started: nothing is late yet
    assert Client().get("/healthz").status_code == 200

    _all_jobs_ran(minutes_ago=0)
    m.PeriodicJobRun.objects.filter(name="sweep-deliveries").update(
        last_success_at=timezone.now() - timedelta(minutes=3)  # runs every minute
    )
    jobs = _item("jobs")
    assert jobs.status == health.BAD
    assert "sweep-deliveries" in jobs.summary
    row = next(row for row in jobs.rows if row["name"] == "sweep-deliveries")
    assert row["late"] == "2 min"
    answer = Client().get("/healthz")
    assert answer.status_code == 503
    assert answer.json() == {"status": "not ok"}

    admin_client = Client()
    admin_client.force_login(admin)
    full = admin_client.get("/healthz?full").json()
    assert full["checks"]["periodic_jobs"]["ok"] is False
    assert full["system"]["items"]["jobs"]["status"] == "bad"
    assert set(full["system"]["items"]) == {"workers", "beat", "jobs", "grants", "outbox", "connectors", "drift"}

    _all_jobs_ran(minutes_ago=0)
    assert Client().get("/healthz").status_code == 200


def test_the_worker_records_each_beat_job_run(admin: m.User) -> None:
    task = SimpleNamespace(name="governance.tasks.check_drift")
    heartbeats.task_prerun(task=task)
    heartbeats.task_success(sender=task, result={"roles": 4, "drifted": 1, "healed": 0})
    run = m.PeriodicJobRun.objects.get(name="check-drift")
    assert run.last_success_at is not None
    drift = _item("drift")
    assert drift.status == health.WARN
    assert "4 role(s) checked, 1 drifted" in drift.summary
    heartbeats.task_failure(sender=task, exception=RuntimeError("LDAP down\nsecret details"))
    run.refresh_from_db()
    assert run.last_error == "RuntimeError: LDAP down"
    heartbeats.task_success(sender=SimpleNamespace(name="governance.tasks.deliver"), result=3)  # not a beat job
    assert not m.PeriodicJobRun.objects.filter(task="governance.tasks.deliver").exists()


def test_grants_outbox_and_connectors(admin: m.User) -> None:
    assert _item("grants").status == health.OK
    grant = f.RoleGrantFactory(state=m.GrantState.PENDING)
    m.RoleGrant.objects.filter(pk=grant.pk).update(updated_at=timezone.now() - timedelta(minutes=40))
    grants = _item("grants")
    assert grants.status == health.BAD
    assert "1 waiting for delivery; the oldest due one for 40 min" in grants.summary
    assert "worker" in grants.action

    email = f.OutboundEmailFactory()
    assert _item("outbox").status == health.OK
    m.OutboundEmail.objects.filter(pk=email.pk).update(created_at=timezone.now() - timedelta(hours=2))
    assert _item("outbox").status == health.BAD

    connector = f.ConnectorFactory(display_name="Badge system")
    f.DeliveryAttemptFactory(
        grant=grant, connector=connector, outcome=m.Outcome.SUCCESS, started_at=timezone.now() - timedelta(hours=1)
    )
    assert _item("connectors").status == health.OK
    f.DeliveryAttemptFactory(grant=grant, connector=connector, outcome=m.Outcome.TRANSIENT, message="Timed out.")
    connectors = _item("connectors")
    assert connectors.status == health.WARN
    row = next(row for row in connectors.rows if row["name"] == "Badge system")
    assert row["last_success"] == "60 min ago"
    assert row["message"] == "Timed out."


def test_the_page_shows_red_items_with_what_to_do(admin: m.User) -> None:
    client = Client()
    client.force_login(admin)
    page = client.get("/governance/system/").content.decode()
    assert 'data-status="bad"' in page
    assert "No worker has answered" in page
    assert "What to do:" in page
    _beat("worker", seconds_ago=1)
    _beat("beat", seconds_ago=1)
    _all_jobs_ran()
    partial = client.get("/governance/system/", HTTP_HX_REQUEST="true").content.decode()
    assert partial.lstrip().startswith('<div id="system-health" class="health health-ok"')


def test_heartbeat_thread_writes_and_a_clean_stop_removes_the_row(settings: Any, transactional_db: None) -> None:
    settings.HEARTBEAT_SECONDS = 0.05
    beat = heartbeats.Heartbeat("worker", "thread-test", 42)
    beat.start()
    try:
        # Poll with a pause: a tight loop holds the GIL the heartbeat thread needs, and on a
        # loaded machine the thread then took longer than the deadline to write its row.
        deadline = timezone.now() + timedelta(seconds=30)
        while not m.ProcessHeartbeat.objects.filter(hostname="thread-test").exists():
            assert timezone.now() < deadline
            time.sleep(0.02)
    finally:
        beat.stop()
    assert not m.ProcessHeartbeat.objects.filter(hostname="thread-test").exists()
