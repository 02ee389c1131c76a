"""`/healthz`: anyone learns ok / not ok; only global and governance administrators learn
which check failed and why (`?full`). A monitor needs the status; an attacker learns
nothing from the database's or broker's error text."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import Client

from governance import models as m
from portal.celery import app as celery_app
from tests.ldap_server import free_port
from tests.workers import switch_broker

ROOT = Path(__file__).resolve().parent.parent.parent

pytestmark = pytest.mark.django_db


@pytest.fixture
def broker_down() -> Iterator[str]:
    """The broker points at a closed port; the port is what an error text would name."""
    port = free_port()
    previous = switch_broker(f"redis://127.0.0.1:{port}/0", celery_app.conf.task_default_queue)
    yield str(port)
    switch_broker(*previous)


def as_user(user: m.User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def test_anonymous_callers_learn_only_ok() -> None:
    for path in ("/healthz", "/healthz?full"):
        response = Client().get(path)
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}


def test_anonymous_callers_learn_only_not_ok(broker_down: str) -> None:
    for path in ("/healthz", "/healthz?full=1"):
        response = Client().get(path)
        assert response.status_code == 503
        assert response.json() == {"status": "not ok"}
        assert broker_down.encode() not in response.content
        assert b"rror" not in response.content


@pytest.mark.parametrize("persona", ["requestor", "catalog_owner", "user_admin"])
def test_other_signed_in_people_learn_only_not_ok(
    request: pytest.FixtureRequest, broker_down: str, persona: str
) -> None:
    response = as_user(request.getfixturevalue(persona)).get("/healthz?full")
    assert response.status_code == 503
    assert response.json() == {"status": "not ok"}


@pytest.mark.parametrize("persona", ["admin", "governance_admin"])
def test_administrators_see_which_check_failed_and_why(
    request: pytest.FixtureRequest, broker_down: str, persona: str
) -> None:
    client = as_user(request.getfixturevalue(persona))
    assert client.get("/healthz").json() == {"status": "not ok"}  # details only when asked for

    response = client.get("/healthz?full")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ok"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["broker"]["ok"] is False
    assert broker_down in body["checks"]["broker"]["detail"]


def test_administrators_see_what_answered(admin: m.User) -> None:
    body = as_user(admin).get("/healthz?full").json()
    assert body["status"] == "ok"
    assert {name: check["ok"] for name, check in body["checks"].items()} == {
        "database": True,
        "broker": True,
        "periodic_jobs": True,
    }
    assert body["checks"]["database"]["detail"]


PROBE = """
import django, json
django.setup()
from django.test import Client
for path in ("/healthz", "/healthz?full"):
    response = Client().get(path)
    print(json.dumps([response.status_code, response.content.decode()]))
"""


def test_a_database_that_does_not_answer_is_only_not_ok() -> None:
    """A real outage, in a process of its own: the database is a closed port."""
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:{port}/portcullis",
    }
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    for line in result.stdout.splitlines():
        status, body = json.loads(line)
        assert status == 503
        assert json.loads(body) == {"status": "not ok"}
        assert str(port) not in body
