"""Views of the installation itself (not of governance): `/healthz`."""

from __future__ import annotations

from typing import Any

from django.db import DatabaseError
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache

from governance.permissions import Action, can_globally
from governance.services.health import system_health
from portal.health import run_checks


def _shows_details(request: HttpRequest) -> bool:
    if "full" not in request.GET:
        return False
    try:
        return can_globally(request.user, Action.VIEW_SYSTEM)
    except DatabaseError:
        return False  # without the database nobody's session, so nobody's role, can be read


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """200 ``{"status": "ok"}`` or 503 ``{"status": "not ok"}`` for anyone (monitors, load
    balancers); with ``?full``, administrators also get each check and its error text."""
    checks = run_checks()
    ok = all(check.ok for check in checks)
    body: dict[str, Any] = {"status": "ok" if ok else "not ok"}
    if _shows_details(request):
        body["checks"] = {check.name: {"ok": check.ok, "detail": check.detail} for check in checks}
        try:
            # The System health page's figures (governance/services/health.py), the same source.
            body["system"] = system_health().as_dict()
        except DatabaseError as exc:
            body["system"] = {"status": "bad", "error": str(exc)}
    return JsonResponse(body, status=200 if ok else 503)
