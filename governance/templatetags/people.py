"""A person's name, linked to their page (issue 22) wherever the admin portal names them."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.html import format_html

from governance.permissions import opens_person_page
from governance.web import url_of_id

register = template.Library()


@register.simple_tag(takes_context=True)
def person_link(context: dict[str, Any], person: Any, text: Any = None, *, target: bool = False) -> str:
    """``person`` (a user) as a link to their page, when the viewer may open it; else as text.

    ``target``: the person is the target of the row's own assignment or request, which the
    viewer sees. Decided from the viewer's roles (loaded once a request), never a query, so
    a list of any length costs what it did. ``text`` replaces the name (e.g. an email)."""
    label = person if text is None else text
    if person is None:
        return format_html("{}", label or "")
    request = context.get("request")
    viewer = getattr(request, "user", None)
    if not opens_person_page(viewer, target_of_visible_row=target):
        return format_html("{}", label)
    return format_html('<a href="{}">{}</a>', url_of_id("governance:person_detail", person.pk), label)
