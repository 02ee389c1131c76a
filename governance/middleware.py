"""Show times in the viewer's own time zone.

The browser reports its zone in a cookie (``static/js/timezone.js``, loaded by base.html);
without it, or without JavaScript, times are shown in the server's TIME_ZONE.
"""

from __future__ import annotations

import contextlib
import zoneinfo
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils import timezone, translation

COOKIE = "tz"


class ViewerTimeZoneMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        name = request.COOKIES.get(COOKIE, "")
        try:
            zone = zoneinfo.ZoneInfo(name) if name else None
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            zone = None
        if zone is not None:
            timezone.activate(zone)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()


class PersonPreferencesMiddleware:
    """A signed-in person's own language and time zone (My Access > Settings) win over the
    browser's Accept-Language and time zone cookie."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            activate_preferences(request, user)
        return self.get_response(request)


def activate_preferences(request: HttpRequest, person: object) -> None:
    """The rest of this request in ``person``'s language and time zone, where they set them:
    the signed-in person's (above), or an emailed link's owner when nobody is signed in."""
    language = getattr(person, "preferred_language", "")
    if language:
        translation.activate(language)
        request.LANGUAGE_CODE = translation.get_language()
    zone = getattr(person, "time_zone", "")
    if zone:
        with contextlib.suppress(zoneinfo.ZoneInfoNotFoundError, ValueError):
            timezone.activate(zoneinfo.ZoneInfo(zone))
