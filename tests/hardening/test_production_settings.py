"""Production settings (DEBUG=0) are locked down; development over http keeps working."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]
NAMES = [
    "DEBUG",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SESSION_COOKIE_HTTPONLY",
    "CSRF_COOKIE_HTTPONLY",
    "SESSION_COOKIE_SAMESITE",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_SSL_REDIRECT",
    "SECURE_PROXY_SSL_HEADER",
    "X_FRAME_OPTIONS",
    "SECURE_REFERRER_POLICY",
]
PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "CONNECTOR_SECRET_KEYS": Fernet.generate_key().decode(),
    "ALLOWED_HOSTS": "portcullis.example",
    "SITE_URL": "https://portcullis.example",
}


def settings_with(**environment: str) -> dict[str, object]:
    """The settings a fresh process reads from this environment."""
    env = {k: v for k, v in os.environ.items() if k not in {*NAMES, "SECURE_PROXY_SSL_HEADER", "SECRET_KEY"}}
    env.update(environment)
    code = (
        # Reading the settings imports portal/settings.py; the apps need not be loaded for that.
        "import json; from django.conf import settings as s; "
        f"print(json.dumps({{n: getattr(s, n) for n in {NAMES!r}}}))"
    )
    env["DJANGO_SETTINGS_MODULE"] = "portal.settings"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_production_is_https_only():
    values = settings_with(**PRODUCTION)
    assert values["DEBUG"] is False
    assert values["SESSION_COOKIE_SECURE"] is True
    assert values["CSRF_COOKIE_SECURE"] is True
    assert values["SESSION_COOKIE_HTTPONLY"] is True
    assert values["CSRF_COOKIE_HTTPONLY"] is True
    assert values["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert values["SECURE_HSTS_SECONDS"] == 31_536_000
    assert values["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert values["SECURE_HSTS_PRELOAD"] is True
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert values["X_FRAME_OPTIONS"] == "DENY"
    assert values["SECURE_REFERRER_POLICY"] == "same-origin"


def test_production_knobs_come_from_the_environment():
    values = settings_with(**PRODUCTION, SECURE_PROXY_SSL_HEADER="", SECURE_SSL_REDIRECT="0", SECURE_HSTS_PRELOAD="0")
    assert values["SECURE_PROXY_SSL_HEADER"] is None
    assert values["SECURE_SSL_REDIRECT"] is False
    assert values["SECURE_HSTS_PRELOAD"] is False
    values = settings_with(**PRODUCTION, SECURE_PROXY_SSL_HEADER="X-Scheme=https")
    assert values["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_SCHEME", "https"]


def test_production_passes_check_deploy():
    # The browser tests' DJANGO_ALLOW_ASYNC_UNSAFE and the suite's OUTBOUND_ALLOW_LOOPBACK
    # must not leak into a deployment check.
    leaks = {"DJANGO_ALLOW_ASYNC_UNSAFE", "OUTBOUND_ALLOW_LOOPBACK"}
    env = {k: v for k, v in os.environ.items() if k not in leaks} | PRODUCTION
    finished = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert "no issues" in finished.stdout


def test_development_works_over_http():
    values = settings_with(DEBUG="1")
    assert values["SESSION_COOKIE_SECURE"] is False
    assert values["CSRF_COOKIE_SECURE"] is False
    assert values["SECURE_SSL_REDIRECT"] is False
    assert values["SECURE_HSTS_SECONDS"] == 0
