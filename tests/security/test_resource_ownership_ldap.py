"""Rule 17 with an LDAP directory (a real slapd): a group's ``owner`` attribute says who may
add it to a catalog. The LDAP connector reads it for groups the directory sync does not
cover; the sync copies it onto the groups it covers, like their members."""

from __future__ import annotations

from typing import Any

import ldap3
import pytest
from django.test import Client

from governance import models as m
from governance.connectors import for_connector
from governance.services import directory_sync
from tests import factories as f
from tests.identity.conftest import sync_settings
from tests.ldap_server import GROUPS, PEOPLE, Slapd
from tests.portal.conftest import text

pytestmark = [pytest.mark.django_db, pytest.mark.ldap]


def _group(slapd: Slapd, name: str, owner: str) -> str:
    dn = f"cn={name},{GROUPS}"
    person = f"uid={owner},{PEOPLE}"
    with slapd.admin() as conn:
        conn.add(dn, ["groupOfNames"], {"cn": name, "member": [person], "owner": person})
    return dn


def _set_owner(slapd: Slapd, dn: str, owner: str) -> None:
    with slapd.admin() as conn:
        conn.modify(dn, {"owner": [(ldap3.MODIFY_REPLACE, [f"uid={owner},{PEOPLE}"])]})


def _add(client: Client, catalog: m.Catalog, connector: m.Connector, dn: str, name: str) -> Any:
    data = {"connector": connector.pk, "origin_id": dn, "display_name": name, "resource_type": "group"}
    return client.post(f"/governance/catalogs/{catalog.pk}/resources/add/", data, follow=True)


@pytest.fixture
def people(slapd: Slapd, catalog_owner: m.User) -> m.User:
    """``owner`` (the catalog owner) and ``treasurer`` in the directory and in Portcullis."""
    slapd.add_people(["owner", "treasurer"])
    return f.UserFactory(username="treasurer", display_name="Tess Treasurer")


def test_the_ldap_connector_reads_owner_for_groups_the_sync_does_not_cover(
    client: Client, slapd: Slapd, ldap_connector: m.Connector, catalog: m.Catalog, catalog_owner: m.User, people: Any
) -> None:
    payroll = _group(slapd, "Payroll", "owner")
    treasury = _group(slapd, "Treasury", "treasurer")
    assert for_connector(ldap_connector).owners([payroll, treasury]) == {
        payroll: {catalog_owner.pk},
        treasury: {people.pk},
    }
    client.force_login(catalog_owner)
    found = client.get(f"/governance/catalogs/{catalog.pk}/resources/add/", {"connector": ldap_connector.pk, "q": "r"})
    assert [(c.display_name, c.owners) for c in found.context["results"]] == [("Payroll", [str(catalog_owner)])]

    refused = _add(client, catalog, ldap_connector, treasury, "Treasury")
    assert "You are not an owner of Treasury in Corporate LDAP." in text(refused)
    assert "Payroll added to Engineering." in text(_add(client, catalog, ldap_connector, payroll, "Payroll"))
    assert list(m.Resource.objects.filter(catalog=catalog).values_list("origin_id", flat=True)) == [payroll]


def test_the_sync_keeps_owners_like_members_and_connectors_use_its_copy(
    client: Client,
    slapd: Slapd,
    settings: Any,
    ldap_connector: m.Connector,
    catalog: m.Catalog,
    catalog_owner: m.User,
    people: Any,
) -> None:
    settings.LDAP_SYNC = sync_settings(slapd)
    payroll = _group(slapd, "Payroll", "owner")
    report = directory_sync.sync_directory(full=True)
    assert report.owners_added == 1
    synced = m.DirectoryGroup.objects.get(source=m.GroupSource.LDAP, external_id=payroll)
    assert list(synced.owners.all()) == [catalog_owner]
    assert m.AuditEvent.objects.filter(action="group.owners_synced", object_id=str(synced.pk)).exists()

    # The directory changes owner; until the next sync, Portcullis goes by its copy.
    _set_owner(slapd, payroll, "treasurer")
    assert for_connector(ldap_connector).owners([payroll]) == {payroll: {catalog_owner.pk}}
    directory_sync.sync_directory(full=True)
    assert list(synced.owners.all()) == [people]
    assert for_connector(ldap_connector).owners([payroll]) == {payroll: {people.pk}}

    client.force_login(catalog_owner)
    for connector, origin_id in ((ldap_connector, payroll), (f.builtin_connector(), str(synced.pk))):
        response = _add(client, catalog, connector, origin_id, "Payroll")
        assert "You are not an owner of Payroll" in text(response), connector
    assert not m.Resource.objects.filter(catalog=catalog).exists()
