"""What the emailed single-use links (an approval, an access review) share: opening the link,
who may use it, and the page that says in words why it cannot be used."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.functional import Promise

from governance.errors import DomainError
from governance.middleware import activate_preferences
from governance.models import User
from governance.services.approval_links import LinkInvalid

Titles = Sequence[tuple[type[DomainError], str | Promise]]


def refusal_page(
    request: HttpRequest,
    error: DomainError,
    *,
    titles: Titles,
    fallback: str | Promise,
    template: str,
    link: object = None,
) -> HttpResponse:
    """The page of a link that cannot be used: its title from the kind of refusal."""
    title = next((text for kind, text in titles if isinstance(error, kind)), fallback)
    return render(
        request,
        template,
        {"title": title, "error": error, "link": link, "login_url": settings.LOGIN_URL},
        status=error.http_status,
    )


def open_link(
    request: HttpRequest,
    opening: Callable[[], Any],
    check: Callable[[Any, User | None], None],
    refused: Callable[[DomainError, Any], HttpResponse],
) -> tuple[Any, User | None] | HttpResponse:
    """The link and who uses it, or the answer to give instead: a refusal page, or the
    sign-in page where links require one (``APPROVAL_LINK_REQUIRES_LOGIN``)."""
    try:
        link = opening()
    except LinkInvalid as exc:
        return refused(exc, None)
    user: User | None = request.user if request.user.is_authenticated else None
    if user is None and settings.APPROVAL_LINK_REQUIRES_LOGIN:
        return redirect_to_login(request.get_full_path())
    if user is None:
        # Nobody signed in (links that need no sign-in): the page speaks the language of the
        # person the link was sent to, as their email did.
        activate_preferences(request, getattr(link, "approver", None) or getattr(link, "reviewer", None))
    try:
        check(link, user)
    except DomainError as exc:
        return refused(exc, link)
    return link, user
