"""`make run` against PostgreSQL: the development server (one thread per request) must not
leave a database connection behind per request. Started exactly as the Procfile starts it,
on a database of its own, and counted in ``pg_stat_activity``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg
import pytest
from django.db import connection

from tests.conftest import need
from tests.ldap_server import free_port

ROOT = Path(__file__).resolve().parent.parent.parent
BURST = 20
HANDFUL = 5
ROUNDS = 3

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def _server_url(database: str) -> str:
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{database}"


def _admin_connection() -> psycopg.Connection:
    s = connection.settings_dict
    return psycopg.connect(
        host=s["HOST"] or "127.0.0.1",
        port=s["PORT"] or 5432,
        user=s["USER"],
        password=s.get("PASSWORD") or None,
        dbname="postgres",
        autocommit=True,
    )


@pytest.fixture
def server_database() -> Iterator[str]:
    """A migrated database of the server's own: /healthz reads the beat jobs' runs (issue 21)."""
    need(connection.vendor == "postgresql", "counting connections needs PostgreSQL (set DATABASE_URL)")
    name = f"{connection.settings_dict['NAME']}_devserver"
    with _admin_connection() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": _server_url(name)},
        check=True,
    )
    yield name
    with _admin_connection() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _web_command() -> str:
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith("web:"):
            return line.partition(":")[2].strip()
    raise AssertionError("The Procfile has no web process.")


def _connections_to(database: str) -> int:
    with _admin_connection() as admin:
        row = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [database]
        ).fetchone()
    assert row is not None
    return int(row[0])


def _burst_then_count(url: str, database: str) -> int:
    with ThreadPoolExecutor(BURST) as pool:
        statuses = list(pool.map(lambda _: httpx.get(url, timeout=30).status_code, range(BURST)))
    assert statuses == [200] * BURST
    # A closed connection leaves pg_stat_activity a moment later.
    deadline = time.monotonic() + 1
    while (count := _connections_to(database)) > HANDFUL and time.monotonic() < deadline:
        time.sleep(0.1)
    return count


def test_a_burst_of_requests_leaves_only_a_handful_of_connections(server_database: str) -> None:
    port = free_port()
    env = {
        **os.environ,
        "DEBUG": "1",
        "PORT": str(port),
        "DATABASE_URL": _server_url(server_database),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    server = subprocess.Popen(
        ["bash", "-c", _web_command()],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # the autoreloader's child too, stopped together below
    )
    url = f"http://127.0.0.1:{port}/healthz"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url, timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
            assert time.monotonic() < deadline, "the development server did not start"
            time.sleep(0.2)

        # Three bursts: a dead thread's connection closes only when Python's garbage collector
        # happens to free it, which one burst alone may hide.
        counts = [_burst_then_count(url, server_database) for _ in range(ROUNDS)]
        assert max(counts) <= HANDFUL, f"connections left open after each burst of {BURST} requests: {counts}"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
