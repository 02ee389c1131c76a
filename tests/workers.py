"""A real Celery worker process for end-to-end tests, on Redis, with a queue of its own.

``worker`` is one process per session (per xdist process), emptied after each test: nothing
a test queued or scheduled runs in the next. ``make_worker`` starts processes of the test's
own (another broker, other settings, or to kill them)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from portal.celery import app as celery_app

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"


def switch_broker(url: str, queue: str) -> tuple[str, str]:
    """Point this process's Celery app at another broker and queue; returns the old ones."""
    from kombu import pools

    previous = (celery_app.conf.broker_url, celery_app.conf.task_default_queue)
    celery_app.conf.broker_url = url
    celery_app.conf.task_default_queue = queue
    pools.reset()
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    return previous


def redis_url() -> str:
    return os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def redis_answers(url: str | None = None) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url or redis_url(), socket_connect_timeout=1).ping())
    except Exception:  # noqa: BLE001
        return False


def test_database_url() -> str:
    """The URL of the database the tests are using right now (the test database)."""
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@dataclass
class Worker:
    """One `celery -A portal worker` process; kill it, start another."""

    queue: str
    broker: str
    env: dict[str, str]
    log_dir: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    hostnames: list[str] = field(default_factory=list)
    revoked: set[str] = field(default_factory=set)

    @property
    def process(self) -> subprocess.Popen[bytes]:
        return self.processes[-1]

    @property
    def running(self) -> bool:
        return bool(self.processes) and self.process.poll() is None

    def start(self, *extra: str) -> subprocess.Popen[bytes]:
        name = f"test-{uuid.uuid4().hex[:6]}"
        self.hostnames.append(f"{name}@portcullis-tests")
        log_path = self.log_dir / f"worker-{name}.log"
        log = log_path.open("wb")
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "portal",
                "worker",
                "--pool",
                "solo",
                "-Q",
                self.queue,
                "-n",
                self.hostnames[-1],
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
                *extra,
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.processes.append(process)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{log_path.read_text()}")
            if b" ready." in log_path.read_bytes():
                return process
            time.sleep(0.1)
        raise RuntimeError(f"worker did not become ready:\n{log_path.read_text()}")

    def kill(self) -> None:
        """SIGKILL, as a crash or an OOM killer would."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        """Cold shutdown (SIGQUIT): the test is over, so nothing in flight matters any more and
        a warm shutdown's wait (2 s even when idle) buys nothing."""
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGQUIT)
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)

    def quiesce(self, timeout: float = 60.0) -> None:
        """Leave nothing of this test to the next one: wait until the worker is between tasks,
        drop what its queue holds, and revoke what it has reserved or scheduled (retries with a
        countdown), so that no task of this test touches the next test's rows."""
        if not self.running:
            return  # killed by the test: the next one starts it again
        hostname = self.hostnames[-1]
        control = celery_app.control
        deadline = time.monotonic() + timeout
        clean = 0  # rounds in a row that found nothing: two, as a task may end between the asks
        while clean < 2:
            if time.monotonic() > deadline:
                pytest.fail(f"the worker did not settle after the test\n{self.log()[-3000:]}")
            with celery_app.connection_for_write() as conn:
                purged = conn.default_channel.queue_purge(self.queue) or 0
            inspect = control.inspect(destination=[hostname], timeout=2.0, limit=1)
            # The solo pool answers between tasks only: an answer means nothing is running.
            scheduled = (inspect.scheduled() or {}).get(hostname)
            reserved = (inspect.reserved() or {}).get(hostname)
            if scheduled is None or reserved is None:
                clean = 0
                continue
            waiting = {entry["request"]["id"] for entry in scheduled} | {entry["id"] for entry in reserved}
            if waiting - self.revoked:
                control.revoke(sorted(waiting - self.revoked), destination=[hostname], reply=True, limit=1)
                self.revoked |= waiting
                clean = 0
            else:
                clean = clean + 1 if purged == 0 else 0

    def log(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.log_dir.glob("worker-*.log")))


def wait_for(condition: Any, timeout: float = 30.0, interval: float = 0.05, message: str = "condition") -> Any:
    """Poll until ``condition()`` is truthy; fail the test with ``message`` otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {message}")


WorkerFactory = Callable[..., Worker]


def new_worker(broker: str, log_dir: Path, **env: str) -> Worker:
    """A worker (not started yet) on ``broker`` with a queue of its own and the test database."""
    from tests.conftest import need

    if broker == redis_url():
        need(redis_answers(), f"a real worker needs Redis at {redis_url()}")
    queue = f"portcullis-test-{uuid.uuid4().hex[:10]}"
    return Worker(
        queue=queue,
        broker=broker,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "DATABASE_URL": test_database_url(),
            "CELERY_BROKER_URL": broker,
            "CELERY_TASK_DEFAULT_QUEUE": queue,
            "DELIVERY_RETRY_BASE_SECONDS": os.environ.get("DELIVERY_RETRY_BASE_SECONDS", "0.5"),
            **env,
        },
        log_dir=log_dir,
    )


def delete_queue(handle: Worker) -> None:
    # The broker may be one a test stopped.
    with contextlib.suppress(Exception), celery_app.connection_for_write() as conn:
        conn.default_channel.queue_delete(handle.queue)


@pytest.fixture
def make_worker(transactional_db: None, tmp_path: Path) -> Iterator[WorkerFactory]:
    """Workers on a broker of the test's choice (default: Redis at REDIS_URL), each with its
    own queue and the test database; this process publishes to the same broker and queue, so
    `transaction.on_commit` wake-ups reach them exactly as in production."""
    made: list[tuple[Worker, tuple[str, str]]] = []

    def make(broker: str | None = None, start: bool = True, **env: str) -> Worker:
        handle = new_worker(broker or redis_url(), tmp_path, **env)
        made.append((handle, switch_broker(handle.broker, handle.queue)))
        if start:
            handle.start()
        return handle

    yield make
    for handle, previous in reversed(made):
        handle.stop()
        delete_queue(handle)
        switch_broker(*previous)


# The session worker of this process, once its fixture was asked for (at most one).
SESSION_WORKERS: list[Worker] = []


@pytest.fixture(scope="session")
def session_worker(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    """The session's worker on Redis (per xdist process), started when a test first needs it.
    Connector secrets live encrypted in the test database, so it needs no environment of its own."""
    handle = new_worker(redis_url(), tmp_path_factory.mktemp("worker"))
    SESSION_WORKERS.append(handle)
    try:
        yield handle
    finally:
        SESSION_WORKERS.remove(handle)
        handle.stop()
        delete_queue(handle)


@pytest.fixture
def no_session_worker(transactional_db: None) -> None:
    """For a test that counts the workers alive: the session's worker, if an earlier test in this
    process started it, is stopped and its heartbeat forgotten (the `worker` fixture starts it
    again when a test next needs it)."""
    from governance.models import ProcessHeartbeat

    for handle in SESSION_WORKERS:
        if handle.running:
            handle.stop()
    ProcessHeartbeat.objects.filter(kind="worker").delete()


@pytest.fixture
def worker(transactional_db: None, session_worker: Worker) -> Iterator[Worker]:
    """One real worker on Redis: the session's, running again if a test killed it, and
    emptied after the test (`Worker.quiesce`)."""
    if not session_worker.running:
        session_worker.start()
    previous = switch_broker(session_worker.broker, session_worker.queue)
    try:
        yield session_worker
    finally:
        try:
            session_worker.quiesce()
        finally:
            switch_broker(*previous)
