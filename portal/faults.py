"""What every caller gets while PostgreSQL or the broker is away: 503 and "try again".

A lost connection is not a bug: the API answers a Graph JSON 503 with ``Retry-After`` and
the portal a styled page (``templates/503.html``) instead of Django's HTML 500. Views raise
as usual; :class:`UnavailableMiddleware` turns an outage raised by a view into the answer,
and :func:`server_error` (``handler500``) does it for anything raised elsewhere (a
middleware, a session saved on the way out), and answers API callers in JSON for real bugs too.

Nothing is left half-written: every create is one transaction (the API's read-back
included), so an outage before the commit stored nothing.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from django.conf import settings
from django.db import InterfaceError
from django.db import OperationalError as DatabaseOperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string

log = logging.getLogger(__name__)

API_PREFIX = "/v1.0/"


def _outage_types() -> tuple[type[BaseException], ...]:
    found: list[type[BaseException]] = [DatabaseOperationalError, InterfaceError]
    try:
        from kombu.exceptions import OperationalError as BrokerOperationalError

        found.append(BrokerOperationalError)
    except ImportError:  # pragma: no cover - kombu comes with Celery
        pass
    try:
        import redis.exceptions

        found += [redis.exceptions.ConnectionError, redis.exceptions.TimeoutError]
    except ImportError:  # pragma: no cover
        pass
    return tuple(found)


OUTAGES = _outage_types()


def is_outage(exc: BaseException | None) -> bool:
    """Is this the database or the broker being unreachable (not a bug of ours)?"""
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, OUTAGES):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def retry_after() -> int:
    return int(getattr(settings, "UNAVAILABLE_RETRY_AFTER", 5))


def unavailable(request: HttpRequest) -> HttpResponse:
    """503 for this caller: Graph's error body for the API, the "try again" page otherwise."""
    wait = retry_after()
    response: HttpResponse
    if request.path.startswith(API_PREFIX):
        from governance.api.errors import error_body, with_request_id

        body = error_body(
            "serviceUnavailable",
            "The service is temporarily unavailable (database or queue unreachable); nothing was changed. "
            "Retry after the number of seconds in Retry-After, with the same client-request-id.",
            request=request,
        )
        response = with_request_id(JsonResponse(body, status=503), request)
    else:
        # No request context: the context processors would read the session from the database.
        html = render_to_string("503.html", {"retry_after": wait, "path": request.get_full_path()})
        response = HttpResponse(html, status=503)
    response["Retry-After"] = str(wait)
    response["Cache-Control"] = "no-store"
    return response


class UnavailableMiddleware:
    """Turns a database or broker outage raised by a view into :func:`unavailable`."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_outage(exception):
            return None
        log.warning("Answered 503 for %s %s: %s", request.method, request.path, type(exception).__name__)
        return unavailable(request)


def server_error(request: HttpRequest) -> HttpResponse:
    """``handler500``: an outage raised outside a view is a 503 too; a bug stays a 500, in
    Graph's JSON shape for the API."""
    if is_outage(sys.exc_info()[1]):
        return unavailable(request)
    if request.path.startswith(API_PREFIX):
        from governance.api.errors import error_body, with_request_id

        body = error_body("internalServerError", "Something went wrong on our side.", request=request)
        return with_request_id(JsonResponse(body, status=500), request)
    html = render_to_string("500.html", {"path": request.get_full_path()})
    return HttpResponse(html, status=500)
