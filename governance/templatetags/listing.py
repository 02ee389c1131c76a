"""Template tags of the lists: pager links (both portals), sortable headers and audit links (the admin portal)."""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

from governance.views.listing import AFTER, BEFORE
from governance.web import url_of_id

register = template.Library()

# Where an audit event's object lives in the portal, by its model name.
AUDIT_OBJECT_URLS = {
    "accesspackage": "governance:package_overview",
    "assignment": "governance:assignment_detail",
    "assignmentrequest": "governance:request_detail",
    "bulkreprocess": "governance:bulk_reprocess_detail",
    "catalog": "governance:catalog_detail",
    "connectedorganization": "governance:organization_edit",
}


@register.simple_tag
def id_url(name: str, pk: Any) -> str:
    """``{% url name pk %}`` for a row's link, without resolving the URL pattern per row."""
    return url_of_id(name, pk)


def _swap_link(href: str, label: str) -> str:
    """A link that works alone and, with htmx, swaps only the results and keeps the URL. It
    replaces a filter request still in flight (synced on #main, as the filters form is): a click
    blurs the search box, whose change event sends the form, and whichever answer came last
    used to win."""
    return format_html(
        '<a href="{}" hx-get="{}" hx-target="#results" hx-swap="outerHTML" hx-push-url="true"'
        ' hx-sync="#main:replace">{}</a>',
        href,
        href,
        label,
    )


# The icon a sortable column shows: both ways while unsorted (it looks sortable before
# anyone tries), then the way it is sorted.
SORT_ICONS = {"none": "↕", "ascending": "▲", "descending": "▼"}


@register.simple_tag(takes_context=True)
def sort_header(context: dict[str, Any], key: str, label: str) -> str:
    """A column header that sorts by ``key``; clicking again reverses the order. A column
    the list's filter cannot sort by is a plain header."""
    sortable = {value for value, _ in context["filter"].form.fields["sort"].choices}
    if key not in sortable:
        return format_html('<th scope="col">{}</th>', label)
    params = context["request"].GET.copy()
    current = params.get("sort", "")
    if current == key:
        params["sort"], state = f"-{key}", "ascending"
    elif current == f"-{key}":
        params["sort"], state = key, "descending"
    else:
        params["sort"], state = key, "none"
    for key in ("page", AFTER, BEFORE):
        params.pop(key, None)
    link = _swap_link(
        f"?{params.urlencode()}",
        format_html('{}<span class="sort-icon" aria-hidden="true">{}</span>', label, SORT_ICONS[state]),
    )
    return format_html('<th scope="col" class="sortable" aria-sort="{}">{}</th>', state, link)


@register.simple_tag(takes_context=True)
def page_link(context: dict[str, Any], number: int, label: str, token: str = "", param: str = "") -> str:
    """A pager link to page ``number``; with a ``token``, the page ``param`` (after or
    before) that row's key (views/listing.py's paginate)."""
    params = context["request"].GET.copy()
    for key in (AFTER, BEFORE):
        params.pop(key, None)
    params["page"] = str(number)
    if token:
        params[param] = token
    return _swap_link(f"?{params.urlencode()}", label)


@register.simple_tag(takes_context=True)
def keyset_link(context: dict[str, Any], page: Any, token: str, label: str) -> str:
    """A pager link of a keyset-paged list (views/listing.py's KeysetPage): the same query
    string with the page's key replaced, or removed for the first page. A plain link, to
    the same place with the list's section in view."""
    params = context["request"].GET.copy()
    params.pop(page.param, None)
    if token:
        params[page.param] = token
    anchor = context.get("pager_anchor", "")
    return format_html('<a href="?{}{}">{}</a>', params.urlencode(), f"#{anchor}" if anchor else "", label)


@register.simple_tag
def audit_object_link(event: Any) -> str:
    """The event's object in words (``object_text`` where the list worked it out), linked
    when the portal has a page for it."""
    text = getattr(event, "object_text", None) or event.object_repr
    name = AUDIT_OBJECT_URLS.get(event.object_type)
    try:
        href = reverse(name, args=[event.object_id]) if name else ""
    except NoReverseMatch:
        href = ""
    if not href:
        return format_html("{}", text)
    return format_html('<a href="{}">{}</a>', href, text)


def _short(value: Any) -> str:
    if isinstance(value, dict):
        return "; ".join(f"{key}: {_short(item)}" for key, item in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_short(item) for item in value)
    return str(value)


def _change(pair: Any) -> str:
    if isinstance(pair, list | tuple) and len(pair) == 2:
        return f"{_short(pair[0])} → {_short(pair[1])}"
    return _short(pair)


@register.filter
def audit_details(data: Any) -> str:
    """An event's details as ``key: value`` pairs; ``changes`` as ``field: before → after``."""
    if not isinstance(data, dict):
        return _short(data) if data else ""
    parts = []
    for key, value in data.items():
        if key == "changes" and isinstance(value, dict):
            parts.append("; ".join(f"{field}: {_change(pair)}" for field, pair in value.items()))
        else:
            parts.append(f"{key}: {_short(value)}")
    return " · ".join(parts)
