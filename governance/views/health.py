"""System health (global and governance administrators): is the installation doing its work."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache

from governance.permissions import Action, can_globally
from governance.services.health import system_health
from governance.web import render_page


@never_cache
@login_required
def system_health_page(request: HttpRequest) -> HttpResponse:
    """Every item green, amber or red, with what to do; htmx refreshes the panel every few
    seconds (the page works without it: reload)."""
    if not can_globally(request.user, Action.VIEW_SYSTEM):
        raise Http404("Page not found.")
    report = system_health()
    return render_page(
        request,
        "governance/system_health.html",
        {"report": report},
        partial="governance/_system_health.html",
    )
