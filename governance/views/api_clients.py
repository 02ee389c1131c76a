"""API clients in the admin portal: who holds a token, when it was last used, revoke it.

Tokens are made with ``manage.py create_api_client`` (the token is printed once there).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from governance.errors import DomainError
from governance.services import api_clients
from governance.views.listing import paginate
from governance.web import not_found_on_refusal, render_page, safe_next

STATUSES = {"active": "Active", "revoked": "Revoked"}


@login_required
def api_client_list(request: HttpRequest) -> HttpResponse:
    try:
        clients = api_clients.api_clients_for(request.user)
    except DomainError as error:
        not_found_on_refusal(error)
        raise
    # A NUL byte is no search, and PostgreSQL refuses to compare text holding one.
    query = request.GET.get("q", "").replace("\x00", "").strip()
    status = request.GET.get("status", "")
    if query:
        clients = clients.filter(Q(name__icontains=query) | Q(user__username__icontains=query))
    if status == "active":
        clients = clients.filter(revoked_at__isnull=True)
    elif status == "revoked":
        clients = clients.filter(revoked_at__isnull=False)
    page = paginate(request, clients.order_by("name"))
    return render_page(
        request,
        "governance/api_clients.html",
        {"page": page, "q": query, "status": status, "statuses": STATUSES},
        partial="governance/_api_clients_table.html",
    )


@login_required
@require_POST
def api_client_revoke(request: HttpRequest, pk: str) -> HttpResponse:
    try:
        client = api_clients.revoke_api_client(request.user, pk)
    except DomainError as error:
        not_found_on_refusal(error)
        raise
    messages.success(request, f"Revoked the token of {client.name}: it no longer works.")
    return redirect(safe_next(request, "/governance/api-clients/"))
