"""Is the installation healthy: one function per dependency, each answering a :class:`Check`.

`/healthz` renders them (``portal.views``). A check's ``detail`` may hold an error's text
(host names, ports, user names), so only ``/healthz?full`` shows it, and only to those who
may view the system.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import connection

from portal.celery import app


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def check_database() -> Check:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # noqa: BLE001 - any failure is "down", reported as text
        return Check("database", False, str(exc))
    return Check("database", True, connection.vendor)


def check_broker() -> Check:
    try:
        with app.connection_for_write() as conn:
            wait = settings.HEALTH_BROKER_TIMEOUT_SECONDS
            conn.ensure_connection(max_retries=1, interval_start=wait, timeout=wait)
            transport = conn.transport_cls
    except Exception as exc:  # noqa: BLE001
        return Check("broker", False, str(exc))
    return Check("broker", True, str(transport))


def check_periodic_jobs() -> Check:
    """Fails when a beat job has not run in twice its interval (beat or every worker down)."""
    from governance.services.health import periodic_jobs

    try:
        item = periodic_jobs()
    except Exception as exc:  # noqa: BLE001 - the database check says why
        return Check("periodic_jobs", False, str(exc))
    return Check("periodic_jobs", item.status != "bad", item.summary)


CHECKS: tuple[Callable[[], Check], ...] = (check_database, check_broker, check_periodic_jobs)


def run_checks() -> list[Check]:
    return [check() for check in CHECKS]
