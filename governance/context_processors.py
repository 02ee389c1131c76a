from __future__ import annotations

from django.http import HttpRequest

from governance.permissions import Action, can_globally, has_admin_portal, may_see_identity_page


def navigation(request: HttpRequest) -> dict[str, object]:
    """What the navigation may show this person (only what they may use)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav": {}}
    return {
        "nav": {
            "governance": has_admin_portal(user),
            "connectors": can_globally(user, Action.VIEW_CONNECTORS),
            "organizations": can_globally(user, Action.MANAGE_ORGANIZATIONS),
            "api_clients": can_globally(user, Action.MANAGE_API_CLIENTS),
            "directory": may_see_identity_page(user),
        }
    }
