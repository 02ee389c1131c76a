"""Connectors by kind. ``for_connector(model)`` gives the object that talks to the target."""

from __future__ import annotations

from governance.connectors.base import (
    BaseConnector,
    ConnectorError,
    PermanentError,
    RoleTarget,
    Subject,
    TransientError,
)
from governance.connectors.builtin import BuiltinConnector
from governance.connectors.ldap import LdapConnector
from governance.connectors.scim import ScimConnector
from governance.connectors.webhook import WebhookConnector
from governance.models import Connector

REGISTRY: dict[str, type[BaseConnector]] = {
    BuiltinConnector.kind: BuiltinConnector,
    LdapConnector.kind: LdapConnector,
    ScimConnector.kind: ScimConnector,
    WebhookConnector.kind: WebhookConnector,
}


def for_connector(connector: Connector) -> BaseConnector:
    try:
        cls = REGISTRY[connector.kind]
    except KeyError as exc:
        raise PermanentError(f"No connector of kind {connector.kind!r} is available.", code="unknownConnector") from exc
    return cls(connector)


__all__ = [
    "REGISTRY",
    "BaseConnector",
    "ConnectorError",
    "PermanentError",
    "RoleTarget",
    "Subject",
    "TransientError",
    "for_connector",
]
