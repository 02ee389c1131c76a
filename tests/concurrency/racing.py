"""Running service calls at the same moment, each in its own thread and database connection."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import time_machine
from django.db import connections
from django.utils import timezone

from governance import tasks
from governance.errors import DomainError
from governance.services import delivery

THREADS = 20


def race(*calls: Callable[[], Any], timeout: float = 60) -> list[Any]:
    """Start every call together (a barrier), return each one's result or exception."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int, call: Callable[[], Any]) -> None:
        try:
            barrier.wait()
            results[index] = call()
        except Exception as exc:  # noqa: BLE001 - the outcome is what the test asserts on
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, c), daemon=True) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    assert not any(t.is_alive() for t in threads), "a racing call never returned (a deadlock?)"
    return results


def leaked(outcomes: list[Any]) -> list[BaseException]:
    """Exceptions that are not domain errors: a database error, a TypeError... (each a 500)."""
    return [o for o in outcomes if isinstance(o, BaseException) and not isinstance(o, DomainError)]


def settle() -> None:
    """What the workers and the periodic sweeper do once the dust settles: deliver all that is
    due, then settle requests whose grants are done (the sweeper waits two minutes for that)."""
    delivery.deliver_until_idle(max_seconds=30)
    with time_machine.travel(timezone.now() + timedelta(minutes=5), tick=True):
        tasks.sweep_deliveries()
        delivery.deliver_until_idle(max_seconds=30)
