"""Workers and beat say they are alive, and each beat job's run is recorded (System health).

A worker starts a small thread when it is ready that writes its heartbeat every
``HEARTBEAT_SECONDS``; beat does the same from ``beat_init``. A clean stop removes the row
at once; a killed process just stops writing. Each task that beat schedules records its
start, success (with what it returned) or failure in the worker that runs it.
Nothing here may fail a task: a database that is away only costs a heartbeat.
"""

from __future__ import annotations

import atexit
import logging
import threading
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

log = logging.getLogger(__name__)

# portal.celery connects these handlers before Django's apps are loaded: models and
# services are imported when a handler first runs, through this function.
WORKER, BEAT = "worker", "beat"  # ProcessKind's values


def _health() -> Any:
    from governance.services import health

    return health


class Heartbeat(threading.Thread):
    def __init__(self, kind: str, hostname: str, pid: int) -> None:
        super().__init__(name=f"portcullis-{kind}-heartbeat", daemon=True)
        self.kind, self.hostname, self.pid = kind, hostname, pid
        self.started_at = timezone.now()
        self.stopping = threading.Event()

    def run(self) -> None:
        while True:
            try:
                _health().record_heartbeat(self.kind, self.hostname, self.pid, self.started_at)
            except Exception as exc:  # noqa: BLE001 - the database may be away; try at the next beat
                log.warning("Heartbeat not written: %s", type(exc).__name__)
                connection.close()
            if self.stopping.wait(settings.HEARTBEAT_SECONDS):
                break
        connection.close()

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=5)
        try:
            _health().forget_process(self.kind, self.hostname)
        except Exception as exc:  # noqa: BLE001
            log.warning("Heartbeat row not removed: %s", type(exc).__name__)
        finally:
            close_old_connections()


_running: dict[str, Heartbeat] = {}


def _start(kind: str, hostname: str | None) -> None:
    if kind in _running:
        return
    default_host, pid = _health().this_process()
    beat = Heartbeat(kind, hostname or default_host, pid)
    _running[kind] = beat
    beat.start()
    log.info("%s heartbeat every %s s as %s", kind.capitalize(), settings.HEARTBEAT_SECONDS, beat.hostname)


def _stop(kind: str) -> None:
    beat = _running.pop(kind, None)
    if beat is not None:
        beat.stop()


def worker_ready(sender: Any = None, **_: Any) -> None:
    _start(WORKER, getattr(sender, "hostname", None))


def worker_shutdown(**_: Any) -> None:
    _stop(WORKER)


def beat_init(sender: Any = None, **_: Any) -> None:
    _start(BEAT, None)
    atexit.register(_stop, BEAT)


def _safely(record: Any, *args: Any) -> None:
    try:
        record(*args)
    except Exception as exc:  # noqa: BLE001 - bookkeeping must never fail the job itself
        log.warning("Periodic job run not recorded: %s", type(exc).__name__)


def task_prerun(task: Any = None, **_: Any) -> None:
    if task is not None and _health().job_name_of(task.name):
        _safely(_health().record_job_started, task.name)


def task_success(sender: Any = None, result: Any = None, **_: Any) -> None:
    if sender is not None and _health().job_name_of(sender.name):
        _safely(_health().record_job_succeeded, sender.name, result)


def task_failure(sender: Any = None, exception: BaseException | None = None, **_: Any) -> None:
    if sender is not None and _health().job_name_of(sender.name):
        _safely(_health().record_job_failed, sender.name, exception)


def connect_celery_signals() -> None:
    from celery import signals

    signals.worker_ready.connect(worker_ready, weak=False)
    signals.worker_shutdown.connect(worker_shutdown, weak=False)
    signals.beat_init.connect(beat_init, weak=False)
    signals.task_prerun.connect(task_prerun, weak=False)
    signals.task_success.connect(task_success, weak=False)
    signals.task_failure.connect(task_failure, weak=False)
