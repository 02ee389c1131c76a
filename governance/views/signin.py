"""Single sign-on pages: "Sign in with <provider>", the callback, and clear refusals.

Without ``OIDC_ISSUER`` these URLs answer 404 and the login page shows no button. Nothing
here can fail the login page: a provider that is down sends the person back to it with a
message, and local accounts keep working.
"""

from __future__ import annotations

import logging
from typing import Any

import jwt
from django.contrib import messages
from django.core.exceptions import SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from governance.identity.oidc import CodeRefused, ProviderUnavailable, oidc_config, oidc_setting
from governance.services.signin import SignInRefused

log = logging.getLogger(__name__)

REFUSED = "registration/sso_problem.html"


class _Start(OIDCAuthenticationRequestView):
    def get_settings(self, attr: str, *args: Any) -> Any:
        return oidc_setting(attr, *args)


class _Callback(OIDCAuthenticationCallbackView):
    def get_settings(self, attr: str, *args: Any) -> Any:
        return oidc_setting(attr, *args)

    @property
    def failure_url(self) -> str:
        return "/accounts/login/"

    def login_failure(self) -> HttpResponse:
        return _problem(
            self.request,
            "Sign-in did not complete",
            "This sign-in attempt has expired or was already used (or your browser did not keep its cookie). "
            "Start again from the sign-in page.",
            status=400,
        )


def _problem(request: HttpRequest, title: str, message: str, *, status: int) -> HttpResponse:
    config = oidc_config()
    return render(
        request,
        REFUSED,
        {"title": title, "message": message, "provider": config.provider_name if config else ""},
        status=status,
    )


def _unavailable(request: HttpRequest, reason: str) -> HttpResponse:
    config = oidc_config()
    name = config.provider_name if config else "single sign-on"
    log.warning("Single sign-on unavailable: %s", reason)
    messages.error(
        request, f"Sign-in with {name} is unavailable right now: {reason} Local accounts can still sign in below."
    )
    return redirect("login")


def _code_refused(request: HttpRequest, provider: str, refused: CodeRefused) -> HttpResponse:
    """The provider answered the code exchange with a 4xx: the code is stale or reused, or our
    client id / secret are not the ones it knows."""
    error = refused.error
    log.warning("Single sign-on: %s refused the code exchange: %s %s", provider, refused.status, error)
    return _problem(
        request,
        "Sign-in did not complete",
        f"{provider} refused to complete this sign-in ({refused.status}{' ' + error if error else ''}). "
        "Start again from the sign-in page; if it happens again, the single sign-on settings "
        "(client id or secret) do not match the provider: tell your administrator.",
        status=400,
    )


def oidc_start(request: HttpRequest) -> HttpResponse:
    """Send the browser to the provider's authorize endpoint."""
    if oidc_config() is None:
        raise Http404("Single sign-on is not configured.")
    try:
        view = _Start.as_view()
        return view(request)
    except ProviderUnavailable as exc:
        return _unavailable(request, exc.message)


def oidc_callback(request: HttpRequest) -> HttpResponse:
    """Where the provider sends the browser back: sign in, or say plainly why not."""
    config = oidc_config()
    if config is None:
        raise Http404("Single sign-on is not configured.")
    if request.GET.get("error"):
        detail = request.GET.get("error_description") or request.GET["error"]
        return _problem(
            request, "Sign-in canceled", f"{config.provider_name} did not sign you in: {detail[:300]}.", status=403
        )
    try:
        return _Callback.as_view()(request)
    except SignInRefused as exc:
        log.info("Single sign-on refused: %s", exc.message)
        return _problem(request, exc.title, exc.message, status=403)
    except ProviderUnavailable as exc:
        return _unavailable(request, exc.message)
    except CodeRefused as exc:
        return _code_refused(request, config.provider_name, exc)
    except (SuspiciousOperation, jwt.PyJWTError) as exc:
        log.warning("Single sign-on token refused: %s", exc)
        return _problem(
            request,
            "Sign-in could not be verified",
            f"The answer from {config.provider_name} could not be verified, so you were not signed in. "
            "Start again from the sign-in page.",
            status=400,
        )
    except Exception:
        log.exception("Single sign-on failed")
        return _problem(
            request,
            "Sign-in failed",
            f"{config.provider_name} answered in a way Portcullis did not understand, so you were not signed in. "
            "Try again later; local accounts can still sign in.",
            status=502,
        )
