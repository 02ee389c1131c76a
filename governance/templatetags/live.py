"""Pollers for status that updates itself (:mod:`governance.views.live`)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlencode

from django import template
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from governance.templatetags.portal import state_badge
from governance.views.live import KINDS, next_delay, poll_count

register = template.Library()


def _headers(poll: int) -> str:
    return json.dumps({"X-Poll": str(poll)})


@register.simple_tag(takes_context=True)
def live_region(context: dict[str, Any], region_id: str, in_flight: bool) -> SafeString:
    """Attributes of a page's live region: while ``in_flight``, re-read the page after a
    growing delay and swap this region for its new self (which stops when nothing is). Its
    hx-* attributes are not inherited: a form inside (Cancel's confirmation) swaps its own way."""
    request = context["request"]
    if not in_flight:
        return format_html('id="{}"', region_id)
    return format_html(
        'id="{}" data-live="polling" hx-get="{}" hx-trigger="load delay:{}s" hx-select="#{}" '
        'hx-swap="outerHTML" hx-headers=\'{}\' hx-disinherit="*"',
        region_id,
        request.get_full_path(),
        next_delay(request),
        region_id,
        _headers(poll_count(request) + 1),
    )


@register.simple_tag
def live_badge(obj: Any, kind: str) -> SafeString:
    """A list row's status badge, addressable by the list's poller."""
    return format_html('<span id="live-{}-{}">{}</span>', kind, obj.pk, state_badge(obj))


@register.simple_tag(takes_context=True)
def live_poller(context: dict[str, Any], rows: Iterable[Any], kind: str) -> SafeString:
    """After a list: a poller for the badges of its rows in flight; nothing when none is."""
    _, in_flight = KINDS[kind]
    now = timezone.now()
    ids = [str(row.pk) for row in rows if in_flight(row, now)]
    return poller(kind, ids, 2.0, 1)


def poller(kind: str, ids: list[str], delay: float, poll: int) -> SafeString:
    if not ids:
        return format_html('<div id="live-poller-{}" hidden></div>', kind)
    url = reverse("governance:live_states") + "?" + urlencode([("kind", kind), *(("id", pk) for pk in ids)])
    return format_html(
        '<div id="live-poller-{}" hidden data-live="polling" hx-get="{}" hx-trigger="load delay:{}s" '
        "hx-swap=\"outerHTML\" hx-headers='{}'></div>",
        kind,
        url,
        delay,
        _headers(poll),
    )


@register.simple_tag
def live_next_poller(kind: str, still: list[Any], delay: float, poll: int) -> SafeString:
    return poller(kind, [str(pk) for pk in still], delay, poll)
