"""Connector secrets (issue 13, "any environment variable can be sent to any host").

A secret is typed into the portal, stored encrypted, never shown back (form, Django admin,
API, audit trail), and only ever sent to the server it was entered for. No connector reads
an arbitrary environment variable; old configurations keep working only through the
documented ``PORTCULLIS_CONNECTOR_*`` prefix until ``import_connector_secrets`` stores them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection
from django.test import Client

from governance import checks
from governance import models as m
from governance.services import connectors as service
from tests import factories as f
from tests.clients import signed_in
from tests.targets import Listener

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "s3cr3t-token-5f1c9e"


def scim_form(base_url: str, **changes: str) -> dict[str, str]:
    data = {
        "kind": "scim",
        "display_name": "Wiki (SCIM)",
        "enabled": "on",
        "drift_mode": "report",
        "base_url": base_url,
        "token": TOKEN,
        "user_attribute": "userName",
        "user_match": "username",
        "verify_tls": "on",
        "timeout": "5",
    }
    data.update(changes)
    return data


def raw_column(connector: m.Connector) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT encrypted_secrets, config FROM governance_connector WHERE id = %s", [connector.pk.hex])
        row = cursor.fetchone()
        if row is None:  # PostgreSQL keeps UUIDs as uuid, SQLite as 32 hex digits
            cursor.execute("SELECT encrypted_secrets, config FROM governance_connector WHERE id = %s", [connector.pk])
            row = cursor.fetchone()
    return f"{row[0]} {row[1]}"


# --- No environment variable is a secret source ----------------------------------------------


def test_a_token_variable_name_is_refused_by_the_form(admin, listener: Listener, monkeypatch):
    """Today: token_env=DATABASE_URL is saved and its value sent as the bearer token."""
    monkeypatch.setenv("DATABASE_URL", "postgres://portcullis:db-password@db/portcullis")
    data = scim_form(listener.url, token_env="DATABASE_URL")
    del data["token"]
    response = signed_in(admin).post("/governance/connectors/new/?kind=scim", data)
    assert response.status_code == 200
    assert "Bearer token is required" in response.content.decode()
    assert not m.Connector.objects.filter(display_name="Wiki (SCIM)").exists()


def test_an_old_config_naming_any_other_variable_is_refused_at_run_time(admin, listener: Listener, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://portcullis:db-password@db/portcullis")
    listener.body = b'{"totalResults": 0}'
    connector = f.ConnectorFactory(
        kind="scim", config={"base_url": listener.url, "token_env": "DATABASE_URL", "timeout": 3}
    )
    page = signed_in(admin).post(f"/governance/connectors/{connector.pk}/test/", follow=True).content.decode()
    assert "only PORTCULLIS_CONNECTOR_* variables may be" in page
    assert listener.seen == []  # nothing was sent anywhere


def test_a_prefixed_variable_works_until_imported(admin, listener: Listener, monkeypatch):
    listener.body = b'{"totalResults": 0}'
    monkeypatch.setenv("PORTCULLIS_CONNECTOR_WIKI_TOKEN", TOKEN)
    connector = f.ConnectorFactory(
        kind="scim",
        config={"base_url": listener.url, "token_env": "PORTCULLIS_CONNECTOR_WIKI_TOKEN", "timeout": 3},
    )
    worked, _ = service.test_connection(admin, connector.pk)
    assert worked
    assert listener.seen[-1].headers["Authorization"] == f"Bearer {TOKEN}"

    call_command("import_connector_secrets", stdout=open(os.devnull, "w"))  # noqa: SIM115
    connector.refresh_from_db()
    assert "token_env" not in connector.config
    assert connector.stored_secrets() == {"token": TOKEN}
    event = m.AuditEvent.objects.get(action="connector.secrets_imported", object_id=str(connector.pk))
    assert event.data["secrets"] == {"token": "imported from PORTCULLIS_CONNECTOR_WIKI_TOKEN"}
    assert TOKEN not in json.dumps(event.data)

    monkeypatch.delenv("PORTCULLIS_CONNECTOR_WIKI_TOKEN")
    worked, _ = service.test_connection(admin, connector.pk)
    assert worked
    assert listener.seen[-1].headers["Authorization"] == f"Bearer {TOKEN}"


def test_import_skips_other_variables_unless_named(monkeypatch):
    monkeypatch.setenv("PORTCULLIS_LDAP_PASSWORD", "old-default-variable")
    connector = f.ConnectorFactory(
        kind="ldap", config={"url": "ldap://ldap.example", "password_env": "PORTCULLIS_LDAP_PASSWORD"}
    )
    report = service.import_connector_secrets()
    assert report.imported == []
    assert "PORTCULLIS_LDAP_PASSWORD is not a PORTCULLIS_CONNECTOR_* variable" in report.skipped[0]
    connector.refresh_from_db()
    assert connector.encrypted_secrets == ""

    report = service.import_connector_secrets(also_variables=["PORTCULLIS_LDAP_PASSWORD"])
    assert report.imported == [connector.display_name]
    connector.refresh_from_db()
    assert connector.stored_secrets() == {"password": "old-default-variable"}
    assert "password_env" not in connector.config


# --- Stored encrypted, never shown back --------------------------------------------------------


def test_the_secret_is_stored_encrypted_and_never_shown_back(admin, listener: Listener):
    client = signed_in(admin)
    response = client.post("/governance/connectors/new/?kind=scim", scim_form(listener.url))
    assert response.status_code == 302
    connector = m.Connector.objects.get(display_name="Wiki (SCIM)")

    assert TOKEN not in raw_column(connector)
    assert connector.stored_secrets() == {"token": TOKEN}

    page = client.get(f"/governance/connectors/{connector.pk}/").content.decode()
    assert TOKEN not in page
    assert connector.encrypted_secrets not in page
    assert "Set</span>" in page
    assert "Replace bearer token" in page

    client.force_login(f.UserFactory(is_superuser=True, is_staff=True))
    answer = client.get(f"/django-admin/governance/connector/{connector.pk}/change/")
    assert answer.status_code == 200
    admin_page = answer.content.decode()
    assert "Wiki (SCIM)" in admin_page
    assert TOKEN not in admin_page
    assert connector.encrypted_secrets not in admin_page

    created = m.AuditEvent.objects.get(action="connector.created", object_id=str(connector.pk))
    assert created.data["secrets"] == {"token": "set"}
    assert TOKEN not in json.dumps(created.data)


def test_replacing_the_secret_is_audited_without_its_value(admin, listener: Listener):
    connector = f.ConnectorFactory(
        kind="scim",
        display_name="Wiki (SCIM)",
        config={"base_url": listener.url, "timeout": 5},
        secrets={"token": "first-token"},
    )
    client = signed_in(admin)
    kept = client.post(f"/governance/connectors/{connector.pk}/", scim_form(listener.url, token=""))
    assert kept.status_code == 302
    connector.refresh_from_db()
    assert connector.stored_secrets() == {"token": "first-token"}  # empty keeps it

    replaced = client.post(f"/governance/connectors/{connector.pk}/", scim_form(listener.url))
    assert replaced.status_code == 302
    connector.refresh_from_db()
    assert connector.stored_secrets() == {"token": TOKEN}
    event = m.AuditEvent.objects.filter(action="connector.updated", object_id=str(connector.pk)).first()
    assert event is not None
    assert event.data["secrets"] == {"token": "replaced"}
    assert TOKEN not in json.dumps(event.data)
    assert "first-token" not in json.dumps(event.data)


def test_a_refused_form_does_not_echo_the_typed_secret(admin):
    response = signed_in(admin).post("/governance/connectors/new/?kind=scim", scim_form("ftp://nowhere"))
    assert response.status_code == 200
    assert "must be a http or https URL" in response.content.decode()
    assert TOKEN not in response.content.decode()


def test_the_api_never_carries_connector_secrets(admin, catalog):
    from governance.services.api_clients import create_api_client

    connector = f.ConnectorFactory(
        kind="scim",
        config={"base_url": "https://wiki.example/scim", "timeout": 5},
        secrets={"token": TOKEN},
    )
    f.ResourceFactory(catalog=catalog, connector=connector, display_name="Wiki editors", origin_id="g1")
    token = create_api_client(None, "secrets-check", role="global_admin").token
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    base = "/v1.0/identityGovernance/entitlementManagement"
    for path in (f"{base}/resources", f"{base}/catalogs/{catalog.pk}/resources"):
        body = client.get(path).content.decode()
        assert "Wiki editors" in body, path
        assert TOKEN not in body
        assert connector.encrypted_secrets not in body


def test_a_new_url_needs_the_secret_again(admin, listener: Listener):
    """A stored token goes only to the server it was typed in for: pointing the connector
    elsewhere without typing it again is refused, and nothing is sent."""
    connector = f.ConnectorFactory(
        kind="scim",
        display_name="Wiki (SCIM)",
        config={"base_url": "https://wiki.example/scim", "timeout": 5},
        secrets={"token": TOKEN},
    )
    client = signed_in(admin)
    response = client.post(f"/governance/connectors/{connector.pk}/", scim_form(listener.url, token=""))
    assert response.status_code == 200
    assert "Enter the bearer token again: SCIM base URL changed" in response.content.decode()
    connector.refresh_from_db()
    assert connector.config["base_url"] == "https://wiki.example/scim"
    assert listener.seen == []


# --- Keys: rotation, production ----------------------------------------------------------------


def test_rotation_old_key_decrypts_and_the_command_moves_secrets_to_the_new_key(settings):
    from governance import encryption

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.CONNECTOR_SECRET_KEYS = [old]
    connector = f.ConnectorFactory(
        kind="webhook", config={"url": "https://hooks.example/x", "timeout": 5}, secrets={"secret": "s"}
    )
    before = connector.encrypted_secrets

    settings.CONNECTOR_SECRET_KEYS = [new, old]
    connector.refresh_from_db()
    assert connector.stored_secrets() == {"secret": "s"}  # the old key still decrypts
    assert not encryption.encrypted_with_first_key(connector.encrypted_secrets)

    call_command("reencrypt_connector_secrets", stdout=open(os.devnull, "w"))  # noqa: SIM115
    connector.refresh_from_db()
    assert connector.encrypted_secrets != before
    assert encryption.encrypted_with_first_key(connector.encrypted_secrets)
    assert m.AuditEvent.objects.filter(action="connector.secrets_reencrypted", object_id=str(connector.pk)).exists()

    settings.CONNECTOR_SECRET_KEYS = [new]  # the old key removed
    assert connector.stored_secrets() == {"secret": "s"}

    settings.CONNECTOR_SECRET_KEYS = [old]  # a key that never encrypted it
    with pytest.raises(encryption.SecretsUnavailable, match="cannot be decrypted"):
        connector.stored_secrets()


def test_an_unreadable_secret_is_a_clear_test_connection_failure(admin, settings):
    connector = f.ConnectorFactory(
        kind="webhook", config={"url": "https://hooks.example/x", "timeout": 5}, secrets={"secret": "s"}
    )
    settings.CONNECTOR_SECRET_KEYS = [Fernet.generate_key().decode()]
    worked, message = service.test_connection(admin, connector.pk)
    assert not worked
    assert "cannot be decrypted with the keys in CONNECTOR_SECRET_KEYS" in message


def _manage(*args: str, **environment: str) -> subprocess.CompletedProcess[str]:
    drop = {"DJANGO_ALLOW_ASYNC_UNSAFE", "CONNECTOR_SECRET_KEYS", "SECRET_KEY", "DEBUG", "OUTBOUND_ALLOW_LOOPBACK"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(environment)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "x" * 50,
    "ALLOWED_HOSTS": "portcullis.example",
    "SITE_URL": "https://portcullis.example",
}


def test_check_deploy_fails_without_the_key_in_production():
    refused = _manage("check", "--deploy", **PRODUCTION)
    assert refused.returncode != 0
    assert "portcullis.E120" in refused.stderr + refused.stdout
    assert "CONNECTOR_SECRET_KEYS is not set" in refused.stderr + refused.stdout

    # With a key, the same production settings pass `check --deploy`:
    # tests/hardening/test_production_settings.py::test_production_passes_check_deploy runs it.


def test_a_malformed_key_is_an_error_and_a_good_one_is_not(settings):
    """The key checks themselves, in this process (a subprocess per case cost ~3 s each)."""
    settings.DEBUG = False
    settings.CONNECTOR_SECRET_KEYS = ["not-a-fernet-key"]
    assert [e.id for e in checks.check_connector_secret_keys()] == ["portcullis.E121"]
    settings.CONNECTOR_SECRET_KEYS = [Fernet.generate_key().decode(), "not-a-fernet-key"]
    assert [e.id for e in checks.check_connector_secret_keys()] == ["portcullis.E121"]
    settings.CONNECTOR_SECRET_KEYS = [Fernet.generate_key().decode()]
    assert checks.check_connector_secret_keys() == []
    assert "portcullis.E120" not in [e.id for e in checks.check_production_secrets_and_outbound()]
    settings.CONNECTOR_SECRET_KEYS = []
    assert "portcullis.E120" in [e.id for e in checks.check_production_secrets_and_outbound()]


def test_development_needs_no_key():
    """`make run` (DEBUG on, nothing set) derives a development key from SECRET_KEY."""
    code = (
        "import django; django.setup(); from governance import encryption; "
        "print(encryption.decrypt(encryption.encrypt('ok')))"
    )
    env = {k: v for k, v in os.environ.items() if k not in {"CONNECTOR_SECRET_KEYS", "DEBUG"}}
    env["DJANGO_SETTINGS_MODULE"] = "portal.settings"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "ok"
