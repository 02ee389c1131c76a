"""Connectors: how access reaches target systems, one class per kind, in one module each.

What a connector plugin imports comes from here: :class:`BaseConnector`, :class:`Field`,
the errors, :class:`Subject` and :class:`RoleTarget`. ``for_connector(model)`` gives the
object that talks to a connector's target; :mod:`governance.connectors.registry` knows the
kinds (those that come with Portcullis and those installed as plugins).
"""

from __future__ import annotations

from governance.connectors.base import (
    BaseConnector,
    BatchResult,
    ConnectorError,
    IdempotencyKeys,
    PermanentError,
    RoleTarget,
    Subject,
    TransientError,
)
from governance.connectors.fields import ConfigError, Field, timeout_field, user_match_field
from governance.connectors.registry import PluginNotInstalled, for_connector

__all__ = [
    "BaseConnector",
    "BatchResult",
    "ConfigError",
    "ConnectorError",
    "Field",
    "IdempotencyKeys",
    "PermanentError",
    "PluginNotInstalled",
    "RoleTarget",
    "Subject",
    "TransientError",
    "for_connector",
    "timeout_field",
    "user_match_field",
]
