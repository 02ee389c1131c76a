"""Fixtures for the delivery tests: connectors wired to real target systems."""

from __future__ import annotations

from typing import Any

import pytest

from governance import models as m
from tests import factories as f
from tests.ldap_server import ADMIN_PASSWORD, Slapd, connector_config
from tests.targets import SCIM_TOKEN, WEBHOOK_SECRET, Receiver, ScimServer


@pytest.fixture
def ldap_connector(slapd: Slapd, db: None) -> m.Connector:
    return f.ConnectorFactory(
        display_name="Corporate LDAP",
        kind="ldap",
        config=connector_config(slapd, timeout=3),
        secrets={"password": ADMIN_PASSWORD},
    )


@pytest.fixture
def ldap_group(slapd: Slapd, ldap_connector: m.Connector, catalog: m.Catalog) -> Any:
    """Make an LDAP group and the resource role for it in the catalog."""

    def make(name: str, members: tuple[str, ...] = (), object_class: str = "groupOfNames") -> m.ResourceRole:
        dn = slapd.add_group(name, members, object_class)
        resource = f.ResourceFactory(catalog=catalog, connector=ldap_connector, origin_id=dn, display_name=name)
        return f.ResourceRoleFactory(resource=resource)

    return make


def ldap_package(make_package: Any, *roles: m.ResourceRole, **policy: Any) -> m.AccessPackage:
    package = make_package(roles=0, **policy)
    for role in roles:
        f.PackageResourceRoleFactory(package=package, resource_role=role)
    return package


@pytest.fixture
def scim_connector(scim_server: ScimServer, db: None) -> m.Connector:
    return f.ConnectorFactory(
        display_name="Wiki (SCIM)",
        kind="scim",
        config={"base_url": scim_server.url, "timeout": 3},
        secrets={"token": SCIM_TOKEN},
    )


@pytest.fixture
def webhook_connector(webhook_receiver: Receiver, db: None) -> m.Connector:
    return f.ConnectorFactory(
        display_name="Badge system (webhook)",
        kind="webhook",
        config={"url": webhook_receiver.url, "timeout": 3},
        secrets={"secret": WEBHOOK_SECRET},
    )
