"""``manage.py check``: connector-secret keys, the outbound-call settings, connector plugins.

Only configuration is checked here; sign-in and directory sync have their own checks
(``governance/identity/checks.py``).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register

from governance.connectors import registry
from governance.encryption import KEYS_SETTING, configured_keys, key_problems

HINT = "See README, 'Connector secrets and outbound calls'."


@register(Tags.security, "portcullis")
def check_connector_secret_keys(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    return [Error(problem, hint=HINT, id="portcullis.E121") for problem in key_problems(configured_keys())]


@register(Tags.security, "portcullis", deploy=True)
def check_production_secrets_and_outbound(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    found: list[CheckMessage] = []
    if not settings.DEBUG and not configured_keys():
        found.append(
            Error(
                f"{KEYS_SETTING} is not set: connector passwords, tokens and secrets cannot be stored or used.",
                hint="Generate a key with `python manage.py generate_connector_secret_key` and set "
                f"{KEYS_SETTING} to it. " + HINT,
                id="portcullis.E120",
            )
        )
    if not settings.DEBUG and settings.OUTBOUND_ALLOW_LOOPBACK:
        found.append(
            Warning(
                "OUTBOUND_ALLOW_LOOPBACK is on: connectors and single sign-on may call services on this host.",
                hint="Turn it off unless a target system really runs on the Portcullis host. " + HINT,
                id="portcullis.W122",
            )
        )
    return found


@register("portcullis")
def check_connector_plugins(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """An installed connector plugin that was left out (it failed to import, or claims a kind
    already taken): its connectors fail until it is fixed."""
    return [
        Warning(
            f"Connector plugin left out: {problem}",
            hint="Fix or uninstall the package, then restart the web and worker processes. "
            "See README, 'Writing a connector plugin'.",
            id="portcullis.W130",
        )
        for problem in registry.current().problems.values()
    ]
