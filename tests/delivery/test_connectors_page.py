"""The connectors page: global administrators manage, secrets stored encrypted, Test connection.

Who may do what, and what is never shown back, is walked in tests/security/."""

from __future__ import annotations

import pytest

from governance import models as m
from tests import factories as f
from tests.clients import signed_in
from tests.conftest import snapshot
from tests.ldap_server import ADMIN_DN, ADMIN_PASSWORD, GROUPS, PEOPLE, Slapd

pytestmark = pytest.mark.django_db


def ldap_form(slapd_url: str, **changes: str) -> dict[str, str]:
    data = {
        "kind": "ldap",
        "display_name": "Corporate LDAP",
        "enabled": "on",
        "drift_mode": "report",
        "url": slapd_url,
        "bind_dn": ADMIN_DN,
        "password": ADMIN_PASSWORD,
        "user_base": PEOPLE,
        "user_attribute": "uid",
        "user_match": "username",
        "group_base": GROUPS,
        "placeholder_dn": "cn=portcullis-placeholder",
        "timeout": "5",
    }
    data.update(changes)
    return data


def test_only_global_administrators_manage_connectors(admin, catalog_owner, requestor):
    assert signed_in(admin).get("/governance/connectors/").status_code == 200
    assert signed_in(catalog_owner).get("/governance/connectors/").status_code == 200  # names and health
    assert signed_in(requestor).get("/governance/connectors/").status_code == 404
    for person in (catalog_owner, requestor):
        client = signed_in(person)
        builtin = f.builtin_connector()
        assert client.get(f"/governance/connectors/{builtin.pk}/").status_code == 404
        assert client.post(f"/governance/connectors/{builtin.pk}/test/").status_code == 404


def test_add_an_ldap_connector_and_test_it(admin, slapd: Slapd):
    client = signed_in(admin)
    page = client.get("/governance/connectors/new/?kind=ldap")
    assert b"Bind password" in page.content
    response = client.post("/governance/connectors/new/?kind=ldap", ldap_form(slapd.url))
    assert response.status_code == 302
    connector = m.Connector.objects.get(display_name="Corporate LDAP")
    assert connector.stored_secrets() == {"password": ADMIN_PASSWORD}
    assert ADMIN_PASSWORD not in str(connector.config)
    assert m.AuditEvent.objects.filter(action="connector.created", object_id=str(connector.pk)).exists()

    slapd.add_group("developers")
    tested = client.post(f"/governance/connectors/{connector.pk}/test/", follow=True)
    assert "Test connection: Connected to ldap://127.0.0.1" in tested.content.decode()

    slapd.stop()
    failed = client.post(f"/governance/connectors/{connector.pk}/test/", follow=True).content.decode()
    assert "Test connection: The LDAP server" in failed
    assert "unreachable" in failed


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("url", "http://ldap.example", "must be a ldap or ldaps URL"),
        ("password", "", "Bind password is required"),
        ("bind_dn", "", "This field is required"),
        ("timeout", "0", "between 1 and 30"),
    ],
)
def test_bad_input_is_shown_next_to_the_field(admin, field, value, message):
    before = snapshot()
    response = signed_in(admin).post(
        "/governance/connectors/new/?kind=ldap", ldap_form("ldap://x:389", **{field: value})
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    assert snapshot() == before
    assert not m.Connector.objects.filter(display_name="Corporate LDAP").exists()


def test_delete_refused_while_resources_use_it(admin, catalog):
    connector = f.ConnectorFactory(
        kind="webhook",
        display_name="Badges",
        config={"url": "http://x", "timeout": 5},
        secrets={"secret": "s3cret"},
    )
    f.ResourceFactory(catalog=catalog, connector=connector, display_name="Door 3")
    client = signed_in(admin)
    page = client.post(f"/governance/connectors/{connector.pk}/delete/", follow=True).content.decode()
    assert "Badges is used by resources: Door 3" in page
    m.Resource.objects.filter(connector=connector).delete()
    client.post(f"/governance/connectors/{connector.pk}/delete/")
    assert not m.Connector.objects.filter(pk=connector.pk).exists()
    builtin = f.builtin_connector()
    page = client.post(f"/governance/connectors/{builtin.pk}/delete/", follow=True).content.decode()
    assert "cannot be deleted" in page
