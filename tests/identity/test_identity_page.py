"""The "Sign-in and directory" page: who may see it, what it says about a misconfigured or
failing sign-in and sync, and the per-organization lifecycle form."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from governance import models as m
from governance.services import directory_sync
from tests import factories as f
from tests.clients import signed_in
from tests.conftest import snapshot
from tests.identity.conftest import Organization, Provider
from tests.ldap_server import free_port

pytestmark = pytest.mark.django_db

PAGE = "/governance/identity/"


@pytest.mark.parametrize(
    ("persona", "status"),
    [("admin", 200), ("user_admin", 200), ("governance_admin", 200), ("catalog_owner", 404), ("requestor", 404)],
)
def test_who_may_see_the_page(client: Client, request: Any, persona: str, status: int) -> None:
    user = request.getfixturevalue(persona)
    assert signed_in(user, client).get(PAGE).status_code == status
    assert (b"Sign-in and directory" in client.get("/governance/").content) is (status == 200)


def test_not_configured(client: Client, admin: m.User, settings: Any) -> None:
    settings.OIDC_ISSUER = ""
    settings.LDAP_SYNC = {"url": ""}
    page = signed_in(admin, client).get(PAGE)
    assert b"people sign in with local accounts only" in page.content
    assert b"Set <code>LDAP_SYNC_URL</code>" in page.content
    assert client.post(f"{PAGE}sync/").status_code == 404
    assert not m.AuditEvent.objects.filter(action="directory.sync_requested").exists()
    assert client.post(f"{PAGE}test-sign-in/").status_code == 404


def test_misconfiguration_is_shown(client: Client, admin: m.User, settings: Any) -> None:
    settings.OIDC_ISSUER = "https://id.example"
    settings.OIDC_RP_CLIENT_ID = ""
    settings.LDAP_SYNC = {"url": "ldap://127.0.0.1:1", "user_base": ""}
    page = signed_in(admin, client).get(PAGE).content.decode()
    assert "Single sign-on is misconfigured" in page
    assert "OIDC_CLIENT_ID is not set." in page
    assert "The directory sync is misconfigured" in page
    assert "LDAP_SYNC_USER_BASE is not set" in page
    assert "Sync now" not in page


def test_a_failed_sync_is_explained(client: Client, admin: m.User, settings: Any) -> None:
    settings.LDAP_SYNC = {"url": f"ldap://127.0.0.1:{free_port()}", "user_base": "ou=people,dc=example"}
    with pytest.raises(directory_sync.DirectorySyncError):
        directory_sync.sync_directory()
    page = signed_in(admin, client).get(PAGE).content.decode()
    assert "Failed" in page
    assert "is unreachable" in page

    response = client.post(f"{PAGE}sync/", follow=True)
    assert "Directory sync queued" in response.content.decode()
    # Who asked for a sync, and when, is in the audit trail like every other change.
    requested = m.AuditEvent.objects.get(action="directory.sync_requested")
    assert (requested.actor, requested.data["source"]) == (admin, "ldap")


@pytest.mark.ldap
def test_a_successful_sync_is_summarized(client: Client, admin: m.User, directory: Organization) -> None:
    directory_sync.sync_directory()
    page = signed_in(admin, client).get(PAGE).content.decode()
    assert "Succeeded" in page
    assert "301 people read, 301 created" in page


def test_test_sign_in_configuration(client: Client, admin: m.User, oidc_provider: Provider, settings: Any) -> None:
    response = signed_in(admin, client).post(f"{PAGE}test-sign-in/", follow=True)
    assert f"Portcullis ID answered as {oidc_provider.issuer}" in response.content.decode()
    settings.OIDC_ISSUER = f"http://127.0.0.1:{free_port()}"
    response = client.post(f"{PAGE}test-sign-in/", follow=True)
    assert "does not answer at" in response.content.decode()


def test_lifecycle_form(client: Client, admin: m.User, contoso: m.ConnectedOrganization) -> None:
    url = f"{PAGE}organizations/{contoso.pk}/"
    form = signed_in(admin, client).get(url)
    assert form.status_code == 200
    for label in (
        "Block external user from signing in",
        "Remove external user",
        "Number of days before removing external user",
    ):
        assert f">{label}<".encode() in form.content or f" {label}</label>".encode() in form.content

    before = snapshot()
    bad = client.post(url, {"block_sign_in": "on", "remove_account": "on", "remove_after_days": "0"})
    assert bad.status_code == 200
    assert b"Between 1 and 3650 days." in bad.content
    assert not m.ExternalUserLifecycle.objects.exists()
    assert snapshot() == before
    assert client.post(url, {"remove_after_days": "many"}).status_code == 200

    saved = client.post(url, {"remove_account": "on", "remove_after_days": "14"}, follow=True)
    assert b"Saved what happens to Contoso" in saved.content
    rules = m.ExternalUserLifecycle.objects.get(organization=contoso)
    assert (rules.block_sign_in, rules.remove_account, rules.remove_after_days) == (False, True, 14)
    assert b"After 14 days" in saved.content


def test_only_directory_administrators_sync(client: Client, governance_admin: m.User, settings: Any) -> None:
    settings.LDAP_SYNC = {"url": "ldap://127.0.0.1:1", "user_base": "ou=people,dc=example"}
    page = signed_in(governance_admin, client).get(PAGE)
    assert b"Sync now" not in page.content
    assert client.post(f"{PAGE}sync/").status_code == 404
    assert not m.AuditEvent.objects.filter(action="directory.sync_requested").exists()


def test_lifecycle_form_refuses_others(client: Client, catalog_owner: m.User, contoso: m.ConnectedOrganization) -> None:
    url = f"{PAGE}organizations/{contoso.pk}/"
    assert signed_in(catalog_owner, client).get(url).status_code == 404
    assert client.post(url, {"remove_after_days": "5"}).status_code == 404
    assert client.get(f"{PAGE}organizations/00000000-0000-0000-0000-000000000000/").status_code == 404
    assert not m.ExternalUserLifecycle.objects.exists()


@pytest.mark.parametrize("rows", [1, 50])
def test_constant_queries(
    client: Client, admin: m.User, rows: int, django_assert_max_num_queries: Any, settings: Any
) -> None:
    settings.LDAP_SYNC = {"url": "ldap://127.0.0.1:1", "user_base": "ou=people,dc=example", "source": "page"}
    m.DirectorySyncState.objects.create(source="page", last_outcome=m.SyncOutcome.SUCCEEDED)
    for n in range(rows):
        organization = f.ConnectedOrganizationFactory()
        if n % 2:
            f.ExternalUserLifecycleFactory(organization=organization)
        f.ExternalUserOffboardingFactory(
            user=f.ExternalUserFactory(connected_organization=organization), remove_at=timezone.now()
        )
    signed_in(admin, client)
    with django_assert_max_num_queries(16):
        page = client.get(PAGE)
    assert page.content.count(b'aria-label="Edit ') == rows
