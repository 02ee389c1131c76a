"""``manage.py check``: a misconfigured single sign-on or directory sync says so at start-up.

Only the configuration is checked (no network): a provider or directory that is down is
an outage, shown on the login and "Sign-in and directory" pages, not a broken deployment.
"""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Error, Tags, Warning, register

from governance.identity.ldap_reader import config_problems as sync_problems
from governance.identity.ldap_reader import sync_config
from governance.identity.oidc import config_problems as oidc_problems
from governance.identity.oidc import oidc_config


@register(Tags.security, "portcullis")
def check_single_sign_on(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    config = oidc_config()
    if config is None:
        return []
    found: list[CheckMessage] = [
        Error(problem, hint="See README, 'Sign-in and directory'.", id="portcullis.E101")
        for problem in oidc_problems(config)
    ]
    if not config.claims.member_domains:
        found.append(
            Warning(
                "OIDC_MEMBER_DOMAINS is empty: every single sign-on user will be treated as external "
                "(and refused unless their domain belongs to a connected organization).",
                hint="Set OIDC_MEMBER_DOMAINS to your organization's email domains, comma-separated.",
                id="portcullis.W102",
            )
        )
    return found


@register("portcullis")
def check_directory_sync(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    config = sync_config()
    if config is None:
        return []
    return [
        Error(problem, hint="See README, 'Sign-in and directory'.", id="portcullis.E111")
        for problem in sync_problems(config)
    ]
