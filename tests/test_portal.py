"""The front door: settings from the environment, sign-in (health: tests/security/test_healthz.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from tests import factories as f

ROOT = Path(__file__).resolve().parent.parent


SHOW_DEBUG = "from django.conf import settings; print(settings.DEBUG)"  # imports portal/settings.py


def _settings_in_subprocess(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG"}}
    return subprocess.run(
        [sys.executable, "-c", SHOW_DEBUG],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "portal.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_refuses_to_start_without_a_secret_key() -> None:
    result = _settings_in_subprocess(DEBUG="0")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_starts_with_a_secret_key() -> None:
    result = _settings_in_subprocess(DEBUG="0", SECRET_KEY="x" * 50)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


@pytest.mark.django_db
def test_sign_in_with_the_standard_form(client: Client) -> None:
    f.UserFactory(username="someone")
    page = client.get("/accounts/login/")
    assert b'name="username"' in page.content
    assert b'<label for="id_password"' in page.content
    response = client.post("/accounts/login/", {"username": "someone", "password": "pw"})
    assert response.status_code == 302
    assert client.get("/").status_code == 302  # on to My Access
    assert client.get("/myaccess/").status_code == 200
