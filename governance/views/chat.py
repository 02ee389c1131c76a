"""A catalog's chat channels: approvers are also told there (Slack, Teams, a webhook)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from governance.forms import ChatChannelForm
from governance.models import Catalog, ChatChannel
from governance.permissions import Action, can
from governance.services import chat
from governance.views.access import admin_portal
from governance.views.catalogs import find_catalog
from governance.views.outcomes import refusals_as_messages
from governance.web import refusals_on


def _context(request: HttpRequest, catalog: Catalog, form: ChatChannelForm | None) -> dict[str, Any]:
    return {
        "catalog": catalog,
        "can_manage": can(request.user, Action.MANAGE_CATALOG, catalog),
        "channels": ChatChannel.objects.filter(catalog=catalog).order_by("display_name"),
        "form": form,
    }


@admin_portal
def channel_list(request: HttpRequest, pk: UUID) -> HttpResponse:
    catalog = find_catalog(request, pk)
    form = ChatChannelForm() if can(request.user, Action.MANAGE_CATALOG, catalog) else None
    return render(request, "governance/catalogs/chat.html", _context(request, catalog, form))


@admin_portal
@require_POST
def channel_create(request: HttpRequest, pk: UUID) -> HttpResponse:
    catalog = find_catalog(request, pk, Action.MANAGE_CATALOG)
    form = ChatChannelForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        with refusals_on(form):
            channel = chat.save_channel(
                request.user, catalog.pk, display_name=data["display_name"], kind=data["kind"], url=data["url"]
            )
            messages.success(request, f"Chat channel {channel} added: approvers of this catalog are told there too.")
            return redirect("governance:chat_channel_list", pk=catalog.pk)
    return render(request, "governance/catalogs/chat.html", _context(request, catalog, form))


@admin_portal
@require_POST
def channel_delete(request: HttpRequest, pk: UUID, channel_pk: UUID) -> HttpResponse:
    catalog = find_catalog(request, pk, Action.MANAGE_CATALOG)
    with refusals_as_messages(request):
        chat.delete_channel(request.user, catalog.pk, channel_pk)
        messages.success(request, "Chat channel deleted.")
    return redirect("governance:chat_channel_list", pk=catalog.pk)
