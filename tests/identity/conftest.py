"""Fixtures for sign-in and identity sources: a real OpenID provider (oidc-provider-mock)
on a free port, and an LDAP directory (the shared ``slapd``) filled with people, managers
and groups, with the directory sync pointed at it."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import ldap3
import pytest
from django.core.cache import cache

from tests.ldap_server import ADMIN_DN, ADMIN_PASSWORD, GROUPS, PEOPLE, SUFFIX, Slapd

CLIENT_ID = "portcullis-test"
CLIENT_SECRET = "test-secret-0123456789"
# The attribute and value our tests use for "disabled in the directory" (inetOrgPerson
# has employeeType; a real deployment might use pwdAccountLockedTime or nsAccountLock).
DISABLED_FILTER = "(employeeType=disabled)"


# --- OpenID provider ----------------------------------------------------------------------


@dataclass
class Provider:
    issuer: str

    def set_user(self, sub: str, **claims: Any) -> None:
        """What the provider will say about ``sub`` (its claims)."""
        response = httpx.put(f"{self.issuer}/users/{sub}", json=claims, timeout=5)
        response.raise_for_status()

    def authorize(self, authorize_url: str, sub: str) -> str:
        """Submit the provider's sign-in form as ``sub``; the redirect back to Portcullis."""
        response = httpx.post(authorize_url, data={"sub": sub}, timeout=5)
        assert response.status_code in (302, 303), response.text[:500]
        return str(response.headers["location"])

    def deny(self, authorize_url: str) -> str:
        response = httpx.post(authorize_url, data={"action": "deny"}, timeout=5)
        assert response.status_code in (302, 303), response.text[:500]
        return str(response.headers["location"])


@pytest.fixture
def oidc_provider(settings: Any) -> Iterator[Provider]:
    """A real OpenID Connect provider in a thread, and Portcullis configured to use it."""
    from oidc_provider_mock import run_server_in_thread

    with run_server_in_thread() as server:
        issuer = f"http://localhost:{server.server_port}"
        settings.OIDC_ISSUER = issuer
        settings.OIDC_RP_CLIENT_ID = CLIENT_ID
        settings.OIDC_RP_CLIENT_SECRET = CLIENT_SECRET
        settings.OIDC_PROVIDER_NAME = "Portcullis ID"
        settings.OIDC_MEMBER_DOMAINS = ["portcullis.example"]
        settings.OIDC_GROUPS_CLAIM = "groups"
        settings.AUTHENTICATION_BACKENDS = [
            "django.contrib.auth.backends.ModelBackend",
            "governance.identity.oidc.OIDCBackend",
        ]
        cache.clear()
        yield Provider(issuer)
        cache.clear()


def callback_path(location: str) -> str:
    """The path and query of the provider's redirect back to us (for Django's test client)."""
    parts = urlsplit(location)
    assert parts.path == "/accounts/sso/callback/", location
    assert "code" in parse_qs(parts.query) or "error" in parse_qs(parts.query), location
    return f"{parts.path}?{parts.query}"


# --- LDAP directory -------------------------------------------------------------------------


def add_person(
    conn: ldap3.Connection,
    uid: str,
    *,
    name: str | None = None,
    manager: str | None = None,
    disabled: bool = False,
    mail: str | None = None,
) -> str:
    dn = f"uid={uid},{PEOPLE}"
    attributes: dict[str, Any] = {
        "cn": name or uid,
        "sn": (name or uid).split()[-1],
        "givenName": (name or uid).split()[0],
        "displayName": name or uid,
        "uid": uid,
        "mail": mail or f"{uid}@portcullis.example",
    }
    if manager:
        attributes["manager"] = f"uid={manager},{PEOPLE}"
    if disabled:
        attributes["employeeType"] = "disabled"
    assert conn.add(dn, ["inetOrgPerson"], attributes), conn.result
    return dn


def add_group(conn: ldap3.Connection, name: str, members: Iterable[str]) -> str:
    dn = f"cn={name},{GROUPS}"
    dns = [f"uid={m},{PEOPLE}" for m in members] or [f"cn=portcullis-placeholder,{SUFFIX}"]
    assert conn.add(dn, ["groupOfNames"], {"cn": name, "member": dns, "description": f"The {name} group"}), conn.result
    return dn


def set_disabled(slapd: Slapd, uid: str, disabled: bool) -> None:
    with slapd.admin() as conn:
        value = [(ldap3.MODIFY_REPLACE, ["disabled"] if disabled else [])]
        conn.modify(f"uid={uid},{PEOPLE}", {"employeeType": value})


def modify(slapd: Slapd, dn: str, **changes: list[str]) -> None:
    with slapd.admin() as conn:
        conn.modify(dn, {k: [(ldap3.MODIFY_REPLACE, v)] for k, v in changes.items()})


def add_member(slapd: Slapd, group: str, uid: str) -> None:
    with slapd.admin() as conn:
        conn.modify(f"cn={group},{GROUPS}", {"member": [(ldap3.MODIFY_ADD, [f"uid={uid},{PEOPLE}"])]})


def sync_settings(slapd: Slapd, **overrides: Any) -> dict[str, Any]:
    return {
        "source": "test-directory",
        "url": slapd.url,
        "bind_dn": ADMIN_DN,
        "bind_password": ADMIN_PASSWORD,
        "user_base": PEOPLE,
        "group_base": GROUPS,
        "disabled_filter": DISABLED_FILTER,
        "page_size": 100,
        **overrides,
    }


@dataclass
class Organization:
    """What the directory fixture put in: people, who manages whom, groups."""

    people: list[str]
    managers: dict[str, str]
    groups: dict[str, list[str]]


@pytest.fixture
def directory(slapd: Slapd, settings: Any) -> Organization:
    """300 people in teams of 10 (each team's first person manages the other 9, and team
    leads report to ``ceo``), and five groups; the sync configured to read them."""
    people = ["ceo"] + [f"person{n:03d}" for n in range(300)]
    managers: dict[str, str] = {}
    with slapd.admin() as conn:
        add_person(conn, "ceo", name="Chief Executive")
        for n in range(300):
            uid = f"person{n:03d}"
            lead = f"person{n - n % 10:03d}"
            manager = "ceo" if uid == lead else lead
            managers[uid] = manager
            add_person(conn, uid, name=f"Person {n:03d}", manager=manager)
        groups = {
            "engineering": [f"person{n:03d}" for n in range(0, 120)],
            "finance": [f"person{n:03d}" for n in range(120, 180)],
            "leads": [f"person{n:03d}" for n in range(0, 300, 10)],
            "approvers": ["ceo", "person000"],
            "empty": [],
        }
        for name, members in groups.items():
            add_group(conn, name, members)
    settings.LDAP_SYNC = sync_settings(slapd)
    return Organization(people=people, managers=managers, groups=groups)
