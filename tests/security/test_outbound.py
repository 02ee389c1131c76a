"""Outbound calls (issue 13, "outbound calls echo what they reach"; DESIGN §11).

Every call goes through governance.outbound: link-local and cloud-metadata addresses are
refused always, loopback unless allowed (the test suite allows it; these tests turn it
off), names are checked after resolution and the connection pinned to the checked address,
redirects are not followed, answers are capped, and what the portal shows or keeps of a
failure is a status and a short reason, never the remote body.

Name resolution is replaced in a few tests (there is no DNS server to point a name at
169.254.169.254 here): that is the edge the module guards, so the fake is at the edge.
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.test import Client

from governance import models as m
from governance.identity.oidc import ProviderUnavailable, discovery, forget_discovery, oidc_config
from governance.services import connectors as service
from governance.services import requests
from tests import factories as f
from tests.delivery.conftest import ldap_package
from tests.ldap_server import ADMIN_DN, ADMIN_PASSWORD, GROUPS, PEOPLE, Slapd
from tests.targets import Listener

pytestmark = pytest.mark.django_db

TOKEN = "the-stored-scim-token"
REMOTE_SECRET = "internal-only secret page: db_password=hunter2"
SCIM_ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


def scim_at(url: str) -> m.Connector:
    return f.ConnectorFactory(
        kind="scim",
        display_name="Target",
        config={"base_url": url, "timeout": 3},
        secrets={"token": TOKEN},
    )


def webhook_at(url: str) -> m.Connector:
    return f.ConnectorFactory(
        kind="webhook", display_name="Hook", config={"url": url, "timeout": 3}, secrets={"secret": "s"}
    )


def shown_by_test_connection(admin: m.User, connector: m.Connector) -> str:
    """What the portal shows after Test connection."""
    client = Client()
    client.force_login(admin)
    return client.post(f"/governance/connectors/{connector.pk}/test/", follow=True).content.decode()


@dataclass
class Resolver:
    answers: dict[str, list[str]] = field(default_factory=dict)
    lookups: list[str] = field(default_factory=list)

    def __setitem__(self, name: str, addresses: list[str]) -> None:
        self.answers[name] = addresses


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> Resolver:
    """Names of our choosing resolve to addresses of our choosing (the next one of the list
    at each lookup, the last one for ever); every other name resolves for real."""
    fake = Resolver()
    answers = fake.answers
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host in answers:
            fake.lookups.append(host)
            address = answers[host].pop(0) if len(answers[host]) > 1 else answers[host][0]
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            return [(family, socket.SOCK_STREAM, 6, "", (address, int(port or 0)))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return fake


# --- Nothing of the remote body is shown or kept ------------------------------------------------


def test_test_connection_shows_the_status_never_the_body_and_sends_only_the_stored_token(admin, listener: Listener):
    listener.status, listener.body = 500, REMOTE_SECRET.encode()
    page = shown_by_test_connection(admin, scim_at(listener.url))
    assert "db_password" not in page
    assert "hunter2" not in page
    assert "HTTP 500 Internal Server Error" in page
    assert [seen.headers["Authorization"] for seen in listener.seen] == [f"Bearer {TOKEN}"]


def test_a_successful_answer_is_not_echoed_either(admin, listener: Listener):
    listener.body = b'{"totalResults": "' + REMOTE_SECRET.encode() + b'"}'
    page = shown_by_test_connection(admin, scim_at(listener.url))
    assert "Connected to" in page
    assert "db_password" not in page


def test_a_scim_error_detail_is_kept_short_on_one_line(admin, listener: Listener):
    detail = "Token expired\r\nX-Injected: yes\x1b[31m " + "z" * 400
    listener.status = 401
    listener.body = json.dumps({"schemas": [SCIM_ERROR], "status": "401", "detail": detail}).encode()
    page = shown_by_test_connection(admin, scim_at(listener.url))
    assert "HTTP 401 Unauthorized: Token expired X-Injected: yes [31m z" in page
    assert "z" * 200 not in page
    assert "\x1b" not in page


def test_a_body_that_is_not_a_scim_error_is_never_shown(admin, listener: Listener):
    listener.status, listener.body = 404, ('{"detail": "' + REMOTE_SECRET + '"}').encode()
    page = shown_by_test_connection(admin, scim_at(listener.url))
    assert "db_password" not in page
    assert "HTTP 404 Not Found" in page


def test_delivery_attempts_keep_no_remote_body(listener: Listener, catalog, make_package, requestor, deliver):
    listener.status, listener.body = 422, REMOTE_SECRET.encode()
    resource = f.ResourceFactory(catalog=catalog, connector=webhook_at(listener.url), origin_id="door")
    request = requests.submit_request(
        requestor, ldap_package(make_package, f.ResourceRoleFactory(resource=resource)).pk
    )
    deliver()
    attempt = request.delivery_attempts.get()
    assert attempt.message == "The webhook refused the change (HTTP 422 Unprocessable Entity)."
    assert listener.seen  # it was called, and what it said stays out


# --- Addresses ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data/", "cloud metadata (169.254.169.254)"),
        ("http://169.254.10.1/", "link-local (169.254.10.1)"),
        ("http://[fe80::1]/", "link-local (fe80::1)"),
        ("http://[::ffff:169.254.169.254]/", "cloud metadata"),
        ("http://metadata.google.internal/computeMetadata/v1/", "cloud metadata (metadata.google.internal)"),
        ("http://0.0.0.0:8080/", "unspecified"),
    ],
)
def test_link_local_and_metadata_are_refused_in_the_form_and_at_call_time(admin, url, reason):
    client = Client()
    client.force_login(admin)
    form = {
        "kind": "webhook",
        "display_name": "Hook",
        "drift_mode": "report",
        "url": url,
        "secret": "s",
        "timeout": "3",
    }
    page = client.post("/governance/connectors/new/?kind=webhook", form).content.decode()
    assert f"address not allowed: {reason}" in page
    assert not m.Connector.objects.filter(display_name="Hook").exists()

    # A connector saved some other way is refused when it calls.
    assert f"address not allowed: {reason}" in shown_by_test_connection(admin, webhook_at(url))


def test_a_name_resolving_to_metadata_is_refused(admin, resolver):
    resolver["hooks.attacker.example"] = ["169.254.169.254"]
    page = shown_by_test_connection(admin, webhook_at("http://hooks.attacker.example/x"))
    assert "address not allowed: cloud metadata (hooks.attacker.example is 169.254.169.254)" in page


def test_a_name_resolving_to_loopback_is_refused_unless_allowed(admin, listener: Listener, settings, resolver):
    resolver["internal.attacker.example"] = ["127.0.0.1"]
    listener.body = b'{"totalResults": 1}'
    connector = scim_at(f"http://internal.attacker.example:{listener.port}")
    settings.OUTBOUND_ALLOW_LOOPBACK = False
    page = shown_by_test_connection(admin, connector)
    assert "address not allowed: loopback (internal.attacker.example is 127.0.0.1)" in page
    assert listener.seen == []

    settings.OUTBOUND_ALLOW_LOOPBACK = True
    assert "Connected to http://internal.attacker.example" in shown_by_test_connection(admin, connector)
    assert listener.seen


def test_private_ranges_follow_their_setting(settings):
    from governance import outbound

    assert outbound.refusal(outbound.ipaddress.ip_address("10.1.2.3")) is None
    settings.OUTBOUND_ALLOW_PRIVATE = False
    assert outbound.refusal(outbound.ipaddress.ip_address("10.1.2.3")) == "private network"
    assert outbound.refusal(outbound.ipaddress.ip_address("fd12::1")) == "private network"
    assert outbound.refusal(outbound.ipaddress.ip_address("93.184.215.14")) is None


def test_the_connection_goes_to_the_address_that_was_checked(admin, listener: Listener, resolver):
    """DNS rebinding: the name answers the listener's address first and the metadata address
    on every later lookup. A call looks the name up once and connects to the address it
    checked; the next call looks again, and refuses what the name now says."""
    resolver["rebind.attacker.example"] = ["127.0.0.1", "169.254.169.254"]
    hook = webhook_at(f"http://rebind.attacker.example:{listener.port}/hook")
    assert "accepted a signed ping" in shown_by_test_connection(admin, hook)
    assert resolver.lookups == ["rebind.attacker.example"]
    assert listener.seen[-1].headers["Host"] == f"rebind.attacker.example:{listener.port}"

    page = shown_by_test_connection(admin, hook)
    assert "address not allowed: cloud metadata (rebind.attacker.example is 169.254.169.254)" in page
    assert len(listener.seen) == 1


def test_a_redirect_to_link_local_is_not_followed(admin, listener: Listener):
    listener.status, listener.headers = 302, {"Location": "http://169.254.169.254/latest/meta-data/iam/"}
    page = shown_by_test_connection(admin, webhook_at(listener.url))
    assert "HTTP 302 Found (redirects are not followed)" in page
    assert len(listener.seen) == 1


@pytest.mark.parametrize("declare_length", [True, False])
def test_an_oversized_answer_is_cut(admin, listener: Listener, settings, declare_length):
    settings.OUTBOUND_MAX_RESPONSE_BYTES = 64 * 1024
    listener.body_size, listener.declare_length = 8 * 1024 * 1024, declare_length
    page = shown_by_test_connection(admin, scim_at(listener.url))
    assert f"answer too large (more than {64 * 1024} bytes)" in page


# --- LDAP and single sign-on go through the same checks -----------------------------------------


def test_the_ldap_connector_refuses_loopback_unless_allowed(admin, slapd: Slapd, settings):
    connector = f.ConnectorFactory(
        kind="ldap",
        display_name="Corporate LDAP",
        config={"url": slapd.url, "bind_dn": ADMIN_DN, "user_base": PEOPLE, "group_base": GROUPS, "timeout": 3},
        secrets={"password": ADMIN_PASSWORD},
    )
    settings.OUTBOUND_ALLOW_LOOPBACK = False
    worked, message = service.test_connection(admin, connector.pk)
    assert not worked
    assert message == f"The LDAP server {slapd.url} cannot be used: address not allowed: loopback (127.0.0.1)."
    settings.OUTBOUND_ALLOW_LOOPBACK = True
    worked, message = service.test_connection(admin, connector.pk)
    assert worked, message


def test_single_sign_on_discovery_refuses_metadata(settings):
    settings.OIDC_ISSUER = "http://169.254.169.254/realms/x"
    settings.OIDC_RP_CLIENT_ID, settings.OIDC_RP_CLIENT_SECRET = "portcullis", "secret"
    config = oidc_config()
    assert config is not None
    forget_discovery(config)
    with pytest.raises(ProviderUnavailable, match=r"address not allowed: cloud metadata \(169\.254\.169\.254\)"):
        discovery(config)
    forget_discovery(config)


NETWORK_MODULES = {"httpx", "httpcore", "requests", "urllib3", "urllib.request", "http.client", "socket", "aiohttp"}


def test_only_the_outbound_module_opens_connections():
    """Connectors (plugins too: the example is checked), single sign-on and the directory sync
    reach other systems through governance.outbound only; no other module imports a client."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    found = {}
    for folder in ("governance", "portal", "myaccess", "examples"):
        for path in (root / folder).rglob("*.py"):
            if "migrations" in path.parts or path == root / "governance" / "outbound.py":
                continue
            tree = ast.parse(path.read_text(), str(path))
            for node in ast.walk(tree):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
                if isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                if bad := {n for n in names if n in NETWORK_MODULES or n.split(".")[0] in NETWORK_MODULES}:
                    found[str(path.relative_to(root))] = sorted(bad)
    assert found == {}
