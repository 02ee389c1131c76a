"""Sign-in lockout after repeated wrong passwords (django-axes), and the page that says so."""

from __future__ import annotations

import math
from typing import Any

from axes.backends import AxesStandaloneBackend
from axes.helpers import get_client_username, get_cool_off
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


class LockoutBackend(AxesStandaloneBackend):
    """Refuses a locked-out username+address before any password is checked.

    Without an HTTP request there is no client to lock out (``Client.login`` in tests, a
    management command); axes would raise there, so such calls pass through unchecked.
    """

    def authenticate(self, request: HttpRequest | None, *args: Any, **kwargs: Any) -> None:
        if request is None:
            return None
        return super().authenticate(request, *args, **kwargs)


def not_a_password_sign_in(request: HttpRequest, credentials: dict[str, Any] | None) -> bool:
    """Only username+password sign-ins count: a failed single sign-on callback has no username
    and must neither add to nor be refused by the lockout."""
    return not (credentials or {}).get("username")


def lockout_minutes(request: HttpRequest) -> int:
    cool_off = get_cool_off(request)
    return max(1, math.ceil(cool_off.total_seconds() / 60)) if cool_off else 0


def locked_out(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict[str, Any] | None = None
) -> HttpResponse:
    """The login form again, with the reason, answered 429 Too Many Requests."""
    username = get_client_username(request, credentials) or ""
    form = AuthenticationForm(request, initial={"username": username})
    form.fields["username"].initial = username
    return render(
        request,
        "registration/login.html",
        {
            "form": form,
            "next": request.POST.get("next", "") if request.method == "POST" else "",
            "locked_minutes": lockout_minutes(request),
            "failure_limit": settings.AXES_FAILURE_LIMIT,
        },
        status=429,  # Too Many Requests
    )
