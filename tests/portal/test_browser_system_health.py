"""Issue 21, done when: the System health page turns red when the worker stops and green
when it starts again (a real worker process, its heartbeat, the page's own refresh)."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from governance import models as m
from governance.services import health
from tests import factories as f
from tests.browser import screenshot, sign_in
from tests.workers import WorkerFactory

pytestmark = [pytest.mark.browser, pytest.mark.worker]


def test_stop_the_worker_and_the_page_turns_red_start_it_and_green(
    page: Any, no_session_worker: None, make_worker: WorkerFactory, admin: m.User, settings: Any
) -> None:
    settings.HEARTBEAT_SECONDS = 0.5  # the page (this process) and the worker agree on it
    # Beat and its jobs are fine, so the workers are the only thing that can turn it red.
    now = timezone.now()
    m.ProcessHeartbeat.objects.create(kind="beat", hostname="beat-host", started_at=now, last_seen_at=now)
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        m.PeriodicJobRun.objects.create(name=name, task=entry["task"], last_success_at=now)
    admin.set_password("pw")
    admin.save()
    worker = make_worker(HEARTBEAT_SECONDS="0.5")
    f.UserFactory()  # some data, as any installation has

    def keep_beat_alive() -> None:
        m.ProcessHeartbeat.objects.filter(kind="beat").update(last_seen_at=timezone.now())
        m.PeriodicJobRun.objects.update(last_success_at=timezone.now())

    sign_in(page, admin.username)
    page.goto("/governance/system/")
    workers = page.locator("#health-workers")
    page.locator('#health-workers[data-status="ok"]').wait_for(timeout=20_000)
    assert "1 alive" in workers.inner_text()
    screenshot(page, "system-health-green")

    worker.stop()
    keep_beat_alive()
    # The panel refreshes itself (htmx, every 5 s): no reload; the page's CSP allows no eval.
    page.locator('#health-workers[data-status="bad"]').wait_for(timeout=20_000)
    text = workers.inner_text()
    assert "No worker has answered" in text
    assert "What to do:" in text
    assert "celery -A portal worker" in text
    assert page.locator("#system-health").get_attribute("data-status") == health.BAD
    screenshot(page, "system-health-red")

    worker.start()
    keep_beat_alive()
    page.locator('#health-workers[data-status="ok"]').wait_for(timeout=30_000)
    keep_beat_alive()
    page.reload()
    assert page.locator("#system-health").get_attribute("data-status") == health.OK
    screenshot(page, "system-health-green-again")
