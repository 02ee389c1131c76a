"""A real Celery worker process for end-to-end tests, on Redis, with a queue of its own."""

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

    @property
    def process(self) -> subprocess.Popen[bytes]:
        return self.processes[-1]

    def start(self, *extra: str) -> subprocess.Popen[bytes]:
        name = f"test-{uuid.uuid4().hex[:6]}"
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
                f"{name}@%h",
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
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()

    def log(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.log_dir.glob("worker-*.log")))


def wait_for(condition: Any, timeout: float = 30.0, interval: float = 0.2, message: str = "condition") -> Any:
    """Poll until ``condition()`` is truthy; fail the test with ``message`` otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {message}")


WorkerFactory = Callable[..., Worker]


@pytest.fixture
def make_worker(transactional_db: None, tmp_path: Path) -> Iterator[WorkerFactory]:
    """Workers on a broker of the test's choice (default: Redis at REDIS_URL), each with its
    own queue and the test database; this process publishes to the same broker and queue, so
    `transaction.on_commit` wake-ups reach them exactly as in production."""
    from tests.conftest import need

    made: list[tuple[Worker, tuple[str, str]]] = []

    def make(broker: str | None = None, start: bool = True, **env: str) -> Worker:
        broker = broker or redis_url()
        if broker == redis_url():
            need(redis_answers(), f"a real worker needs Redis at {redis_url()}")
        queue = f"portcullis-test-{uuid.uuid4().hex[:10]}"
        previous = switch_broker(broker, queue)
        handle = Worker(
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
            log_dir=tmp_path,
        )
        made.append((handle, previous))
        if start:
            handle.start()
        return handle

    yield make
    for handle, previous in reversed(made):
        handle.stop()
        # The broker may be one a test stopped.
        with contextlib.suppress(Exception), celery_app.connection_for_write() as conn:
            conn.default_channel.queue_delete(handle.queue)
        switch_broker(*previous)


@pytest.fixture
def worker(make_worker: WorkerFactory) -> Worker:
    """One real worker on Redis."""
    return make_worker()
