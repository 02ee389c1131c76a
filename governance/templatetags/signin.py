"""The login page's "Sign in with <provider>" button, only when single sign-on is configured."""

from __future__ import annotations

from django import template

from governance.identity.oidc import config_problems, oidc_config, recent_failure

register = template.Library()


@register.simple_tag
def single_sign_on() -> dict[str, object] | None:
    """What the login page shows about single sign-on; None when it is not configured.

    Never asks the provider (the login page must answer when it is down): a failure seen in
    the last minute is shown as it was."""
    config = oidc_config()
    if config is None:
        return None
    problems = config_problems(config)
    return {
        "name": config.provider_name,
        "usable": not problems,
        "problem": " ".join(problems) if problems else recent_failure(config),
    }
