"""Template tags both portals use: menu links, status badges, times."""

from __future__ import annotations

import html
import re
from datetime import datetime
from typing import Any

from django import template
from django.utils import formats, timezone, translation
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext, gettext_lazy, ngettext

register = template.Library()

SECTION_ROOTS = {"/governance/", "/myaccess/"}


@register.simple_tag(takes_context=True)
def nav_link(context: dict[str, Any], href: str, label: str) -> str:
    """A menu link, marked current when the page is under it."""
    path = getattr(context.get("request"), "path", "")
    current = path == href if href in SECTION_ROOTS else path.startswith(href)
    if current:
        return format_html('<a href="{}" aria-current="page">{}</a>', href, label)
    return format_html('<a href="{}">{}</a>', href, label)


# Seed 000 calls these states by other names too; the tooltip makes those words findable.
STATE_TOOLTIPS = {
    "deliveryFailed": gettext_lazy("Delivery failed (Undelivered): no resource could be set up"),
    "partiallyDelivered": gettext_lazy("Partially delivered (Partially fulfilled): some resources could not be set up"),
}


@register.simple_tag
def state_badge(obj: Any, field: str = "state") -> str:
    """A coloured badge with the state's label (DESIGN §3's words)."""
    value = getattr(obj, field, "")
    label = getattr(obj, f"get_{field}_display", lambda: value)()
    title = STATE_TOOLTIPS.get(value)
    if title:
        return format_html('<span class="badge badge-{}" title="{}">{}</span>', value, title, label)
    return format_html('<span class="badge badge-{}">{}</span>', value, label)


@register.filter
def when(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A time in the viewer's zone, machine-readable too; an em dash when there is none."""
    if value is None:
        return "—"
    local = timezone.localtime(value)
    # A list shows two a row: format_html's escaping took a third of this filter's time. The
    # ISO form has only digits and -:.+T; the shown text is escaped as format_html would.
    text = html.escape(_localized(local, fmt))
    return mark_safe(f'<time datetime="{value.isoformat()}">{text}</time>')  # nosec B308 B703 - escaped above


def _localized(local: datetime, fmt: str) -> str:
    """English keeps the ISO-like format; other languages their own short date and time."""
    if fmt != "%Y-%m-%d %H:%M" or (translation.get_language() or "en").startswith("en"):
        return local.strftime(fmt)
    return formats.date_format(local, "SHORT_DATETIME_FORMAT")


@register.filter
def when_text(value: datetime | None, empty: str = "—") -> str:
    """A time for an email's text: the reader's format, in their zone, naming the zone
    (``empty`` when there is none)."""
    if value is None:
        return empty
    local = timezone.localtime(value)
    return f"{_localized(local, '%Y-%m-%d %H:%M')} {local.tzname()}"


@register.filter
def when_or(value: datetime | None, empty: str) -> str:
    """:func:`when`, or ``empty`` (a translated "From approval", say) when there is no time."""
    return when(value) if value is not None else empty


# Reasons the services store in English with a number in them (an access review's
# recommendation, DESIGN §6): shown in the reader's language. Fixed texts are msgids.
_STORED_WITH_DAYS = {
    re.compile(r"^Has not signed in for (\d+) days\.$"): lambda n: ngettext(
        "Has not signed in for %(days)s day.", "Has not signed in for %(days)s days.", n
    ),
    re.compile(r"^Signed in within the last (\d+) days\.$"): lambda n: ngettext(
        "Signed in within the last %(days)s day.", "Signed in within the last %(days)s days.", n
    ),
}


@register.filter
def stored_reason(value: str) -> str:
    """A reason stored in English (a review's recommendation), in the active language."""
    for pattern, message in _STORED_WITH_DAYS.items():
        found = pattern.match(value or "")
        if found:
            days = int(found[1])
            return message(days) % {"days": days}
    return gettext(value) if value else ""
