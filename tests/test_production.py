"""Issue 21: the production configuration, started as README "Production" and `deploy/`
say (the systemd units' commands, the environment file's variables, DEBUG=0, PostgreSQL,
Redis, SMTP), with its state in a temporary directory, takes one request to delivered.

gunicorn, a worker and beat run as separate processes exactly as their units start them;
the test plays nginx (it sends the headers deploy/nginx/portcullis.conf sets) and an API
client. Its PostgreSQL database is one of its own beside the test database, dropped after.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import secrets
import shlex
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from aiosmtpd.controller import Controller
from cryptography.fernet import Fernet
from django.db import connection

from tests.api.conftest import EM
from tests.conftest import need
from tests.databases import copy_of_template
from tests.ldap_server import free_port
from tests.workers import redis_answers, redis_url, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.worker, pytest.mark.xdist_group("production")]

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
BIN = Path(sys.executable).parent
# What the units say, and what stands for it here.
INSTALLED = {"/opt/portcullis/.venv/bin/": f"{BIN}/", "/opt/portcullis/": f"{ROOT}/", "%%h": "%h"}


def unit_command(name: str) -> list[str]:
    """The ExecStart of deploy/systemd/<name>.service, with this checkout for /opt/portcullis."""
    text = (DEPLOY / "systemd" / f"{name}.service").read_text()
    line = next(line for line in text.splitlines() if line.startswith("ExecStart="))
    command = line.removeprefix("ExecStart=")
    for installed, here in INSTALLED.items():
        command = command.replace(installed, here)
    return shlex.split(command)


def environment_file() -> dict[str, str]:
    values = {}
    for line in (DEPLOY / "portcullis.env.example").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key] = value
    return values


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 Message accepted for delivery"


@pytest.fixture
def production_database(django_db_setup: None) -> Iterator[str]:
    """A database of its own, named after the test database (set up first: this test runs
    first in its xdist process), as a copy of the suite's migrated template."""
    need(connection.vendor == "postgresql", "the production configuration runs on PostgreSQL (set DATABASE_URL)")
    s = connection.settings_dict
    name = f"{s['NAME']}_production"[:63]
    host, port, user = s["HOST"] or "127.0.0.1", s["PORT"] or 5432, s["USER"]
    admin_dsn = f"host={host} port={port} user={user} dbname=postgres"

    def drop() -> None:
        with psycopg.connect(admin_dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    # A copy of the suite's migrated template (tests/databases.py), not a second migration of
    # the same files: `migrate --noinput` below still runs, as README "Installing it" says.
    copy_of_template(connection, name)
    auth = user + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    try:
        yield f"postgres://{auth}@{host}:{port}/{name}"
    finally:
        drop()


def test_the_documented_production_setup_delivers_a_request(production_database: str, tmp_path: Path) -> None:
    need(redis_answers(), f"the production configuration needs Redis at {redis_url()}")
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    port = free_port()
    state = tmp_path / "var-lib-portcullis"
    env = {
        # A clean environment, as systemd gives: only the environment file's variables.
        **{k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TMPDIR") if k in os.environ},
        **environment_file(),
        "SECRET_KEY": secrets.token_urlsafe(50),
        "CONNECTOR_SECRET_KEYS": Fernet.generate_key().decode(),
        "ALLOWED_HOSTS": "portcullis.test",
        "SITE_URL": "https://portcullis.test",
        "DATABASE_URL": production_database,
        "REDIS_URL": redis_url(),
        "CELERY_TASK_DEFAULT_QUEUE": f"portcullis-production-{uuid.uuid4().hex[:8]}",
        "EMAIL_URL": f"smtp://127.0.0.1:{smtp.port}",
        "DEFAULT_FROM_EMAIL": "Portcullis <portcullis@portcullis.example>",
        "TENANT_DOMAINS": "portcullis.example",
        "STATIC_ROOT": str(state / "static"),
        "CELERY_BEAT_SCHEDULE_FILENAME": str(state / "celerybeat-schedule"),
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "2",
        "HEARTBEAT_SECONDS": "2",
    }

    def manage(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, f"manage.py {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    manage("check", "--deploy", "--fail-level", "WARNING")
    manage("migrate", "--noinput")
    manage("collectstatic", "--noinput")
    manage("load_demo")
    token = manage("create_api_client", "production-test", "--role", "global_admin").strip().splitlines()[-1]

    processes: dict[str, subprocess.Popen[bytes]] = {}
    logs = {name: tmp_path / f"{name}.log" for name in ("portcullis-web", "portcullis-worker", "portcullis-beat")}
    try:
        for name, log in logs.items():
            processes[name] = subprocess.Popen(
                unit_command(name), cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT
            )
        # As nginx forwards it: the host, https, and a request id.
        proxy = {"Host": "portcullis.test", "X-Forwarded-Proto": "https"}
        base = f"http://127.0.0.1:{port}"

        def answers() -> bool:
            for name, process in processes.items():
                assert process.poll() is None, f"{name} exited:\n{logs[name].read_text()[-3000:]}"
            try:
                return httpx.get(f"{base}/healthz", headers=proxy, timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(answers, timeout=60, interval=0.3, message="gunicorn to answer /healthz")
        assert httpx.get(f"{base}/static/css/app.css", headers=proxy).status_code == 200  # whitenoise
        plain = httpx.get(f"{base}/myaccess/", headers={"Host": "portcullis.test"})
        assert plain.status_code == 301
        assert plain.headers["location"].startswith("https://")  # without the proxy's header: to https

        api = httpx.Client(base_url=base, headers={**proxy, "Authorization": f"Bearer {token}"}, timeout=30)
        packages = api.get(f"{EM}/accessPackages", params={"$filter": "displayName eq 'Production on-call'"})
        package = packages.json()["value"][0]
        policies = api.get(f"{EM}/assignmentPolicies", params={"$filter": f"accessPackage/id eq '{package['id']}'"})
        direct = next(p for p in policies.json()["value"] if p["allowedTargetScope"] == "notSpecified")
        person = api.get("/v1.0/users", params={"$filter": "userPrincipalName eq 'requestor@portcullis.example'"})
        target = person.json()["value"][0]["id"]
        request_id = f"production-{uuid.uuid4().hex[:12]}"
        made = api.post(
            f"{EM}/assignmentRequests",
            json={
                "requestType": "adminAdd",
                "assignment": {
                    "targetId": target,
                    "assignmentPolicyId": direct["id"],
                    "accessPackageId": package["id"],
                },
            },
            headers={"X-Request-ID": request_id, "client-request-id": str(uuid.uuid4())},
        )
        assert made.status_code == 201, made.text
        assert made.headers["request-id"] == request_id

        def delivered() -> bool:
            state_now = api.get(f"{EM}/assignmentRequests/{made.json()['id']}").json()["state"]
            return state_now == "delivered"

        wait_for(
            delivered, timeout=90, interval=0.5, message=f"delivery\n{logs['portcullis-worker'].read_text()[-3000:]}"
        )
        wait_for(lambda: inbox.messages, timeout=60, message="the email telling the person they were given access")
        assert any(msg["To"] == "requestor@portcullis.example" for msg in inbox.messages)

        # JSON logs, with the web request's id in the worker's lines about it.
        worker_lines = [
            json.loads(line) for line in logs["portcullis-worker"].read_text().splitlines() if line.startswith("{")
        ]
        assert any(line.get("request_id") == request_id for line in worker_lines)
        assert token not in "".join(log.read_text() for log in logs.values())
        assert f"request_id={request_id}" in logs["portcullis-web"].read_text()  # gunicorn's access log
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 30
        for process in processes.values():
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 1))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        smtp.stop()
