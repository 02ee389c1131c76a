"""OpenID Connect single sign-on, on mozilla-django-oidc, configured only by environment.

mozilla-django-oidc wants every provider endpoint as a setting; we read them from the
provider's discovery document (``OIDC_ISSUER`` + ``/.well-known/openid-configuration``),
lazily, so a provider that is down never breaks start-up or the password login. Its
backend does not check the ID token's issuer and audience: :class:`OIDCBackend` does.

Every call to the provider (discovery, keys, token, userinfo) goes through
:mod:`governance.outbound` (checked addresses, no redirects, capped answers); none goes
through mozilla-django-oidc's own ``requests`` calls, which :class:`OIDCBackend` replaces.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import jwt
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.exceptions import SuspiciousOperation
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.utils import import_from_settings

from governance.outbound import OutboundError, Reply, http_request
from governance.services.signin import ClaimNames, user_from_claims

log = logging.getLogger(__name__)

DISCOVERY_TTL = 3600
FAILURE_TTL = 60
CALLBACK_URL_NAME = "oidc_callback"


class ProviderUnavailable(Exception):
    """The identity provider cannot be used right now; ``message`` says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class CodeRefused(Exception):
    """The provider answered the code exchange with a 4xx (``error`` is its OAuth error code)."""

    def __init__(self, status: int, error: str) -> None:
        super().__init__(f"HTTP {status} {error}".strip())
        self.status = status
        self.error = error


OAUTH_ERROR_CODE = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")


def _call(method: str, url: str, what: str, **kwargs: Any) -> Reply:
    """One call to the provider; a failure to get any answer is :class:`ProviderUnavailable`."""
    config = oidc_config()
    name = config.provider_name if config else "The identity provider"
    timeout = config.timeout if config else 5.0
    try:
        return http_request(method, url, timeout=timeout, **kwargs)
    except OutboundError as exc:
        raise ProviderUnavailable(f"{name} does not answer at {url} ({what}: {exc.reason}).") from exc


def _json_object(reply: Reply, url: str) -> dict[str, Any]:
    try:
        document = reply.json()
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise ProviderUnavailable(f"{url} did not return a JSON object.")
    return document


@dataclass(frozen=True)
class OidcConfig:
    issuer: str
    client_id: str
    client_secret: str
    provider_name: str
    scopes: str
    claims: ClaimNames
    timeout: float

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"


def oidc_config() -> OidcConfig | None:
    """The single sign-on configuration, or None when ``OIDC_ISSUER`` is not set."""
    issuer = str(getattr(settings, "OIDC_ISSUER", "") or "").rstrip("/")
    if not issuer:
        return None
    name = settings.OIDC_PROVIDER_NAME or urlsplit(issuer).hostname or issuer
    return OidcConfig(
        issuer=issuer,
        client_id=settings.OIDC_RP_CLIENT_ID,
        client_secret=settings.OIDC_RP_CLIENT_SECRET,
        provider_name=name,
        scopes=settings.OIDC_RP_SCOPES,
        claims=ClaimNames(
            username=settings.OIDC_USERNAME_CLAIM,
            email=settings.OIDC_EMAIL_CLAIM,
            groups=settings.OIDC_GROUPS_CLAIM,
            member_domains=tuple(d.strip().lower() for d in settings.OIDC_MEMBER_DOMAINS if d.strip()),
        ),
        timeout=float(settings.OIDC_TIMEOUT),
    )


def config_problems(config: OidcConfig) -> list[str]:
    """What is wrong with the configuration itself (no network), for checks and pages."""
    problems = []
    parts = urlsplit(config.issuer)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        problems.append(f"OIDC_ISSUER must be an http(s) URL (it is {config.issuer!r}).")
    elif parts.scheme == "http" and not settings.DEBUG and parts.hostname not in ("localhost", "127.0.0.1"):
        problems.append(f"OIDC_ISSUER {config.issuer} is not https: tokens would travel in the clear.")
    if not config.client_id:
        problems.append("OIDC_CLIENT_ID is not set.")
    if not config.client_secret:
        problems.append("OIDC_CLIENT_SECRET is not set.")
    if "openid" not in config.scopes.split():
        problems.append(f"OIDC_SCOPES must include 'openid' (it is {config.scopes!r}).")
    if not config.claims.email:
        problems.append("OIDC_EMAIL_CLAIM is empty: Portcullis needs the email to tell internal from external users.")
    return problems


def _cache_key(config: OidcConfig) -> str:
    return f"oidc-discovery:{config.issuer}"


def discovery(config: OidcConfig) -> Mapping[str, Any]:
    """The provider's discovery document (cached an hour; a failure is remembered a minute)."""
    key = _cache_key(config)
    cached = cache.get(key)
    if isinstance(cached, dict):
        if "error" in cached:
            raise ProviderUnavailable(cached["error"])
        return cached
    try:
        document = _fetch(config)
    except ProviderUnavailable as exc:
        cache.set(key, {"error": exc.message}, FAILURE_TTL)
        raise
    cache.set(key, document, DISCOVERY_TTL)
    return document


def _fetch(config: OidcConfig) -> dict[str, Any]:
    reply = _call("GET", config.discovery_url, "discovery")
    if not reply.ok:
        raise ProviderUnavailable(
            f"{config.provider_name} does not answer at {config.discovery_url} ({reply.summary})."
        )
    try:
        document = reply.json()
    except ValueError as exc:
        raise ProviderUnavailable(f"{config.discovery_url} did not return a JSON discovery document.") from exc
    if not isinstance(document, dict):
        raise ProviderUnavailable(f"{config.discovery_url} did not return a JSON discovery document.")
    missing = [k for k in ("authorization_endpoint", "token_endpoint", "jwks_uri") if not document.get(k)]
    if missing:
        raise ProviderUnavailable(f"The discovery document at {config.discovery_url} lacks {', '.join(missing)}.")
    if str(document.get("issuer", "")).rstrip("/") != config.issuer:
        raise ProviderUnavailable(
            f"The provider says its issuer is {document.get('issuer')!r}, not {config.issuer!r} (check OIDC_ISSUER)."
        )
    return document


def recent_failure(config: OidcConfig) -> str | None:
    """Why the provider failed in the last minute, without asking it again (the login page)."""
    cached = cache.get(_cache_key(config))
    if isinstance(cached, dict) and "error" in cached:
        return str(cached["error"])
    return None


def forget_discovery(config: OidcConfig) -> None:
    cache.delete(_cache_key(config))


def _signing_algorithm(document: Mapping[str, Any]) -> str:
    supported = document.get("id_token_signing_alg_values_supported") or ["RS256"]
    return "RS256" if "RS256" in supported else str(supported[0])


def oidc_setting(attr: str, *default: Any) -> Any:
    """mozilla-django-oidc's settings, answered from our configuration and the discovery
    document; everything else from Django settings."""
    config = oidc_config()
    if config is None:
        raise ProviderUnavailable("Single sign-on is not configured.")
    static: dict[str, Any] = {
        "OIDC_RP_CLIENT_ID": config.client_id,
        "OIDC_RP_CLIENT_SECRET": config.client_secret,
        "OIDC_RP_SCOPES": config.scopes,
        "OIDC_TIMEOUT": config.timeout,
        "OIDC_USE_PKCE": True,
        "OIDC_USE_NONCE": True,
        "OIDC_AUTHENTICATION_CALLBACK_URL": CALLBACK_URL_NAME,
        "OIDC_RP_IDP_SIGN_KEY": None,
        "OIDC_CREATE_USER": True,
    }
    if attr in static:
        return static[attr]
    endpoints = {
        "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
        "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
        "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
        "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
    }
    if attr in endpoints:
        return discovery(config).get(endpoints[attr])
    if attr == "OIDC_RP_SIGN_ALGO":
        return _signing_algorithm(discovery(config))
    return import_from_settings(attr, *default)


class OIDCBackend(OIDCAuthenticationBackend):
    """Authenticates the OIDC callback only; who the person is comes from
    :func:`governance.services.signin.user_from_claims`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Not the parent's __init__: it reads the provider's endpoints, and Django builds
        # every backend for every password login too. Those are looked up when used.
        self.UserModel = get_user_model()

    def get_settings(self, attr: str, *args: Any) -> Any:
        return oidc_setting(attr, *args)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("OIDC_"):
            return self.get_settings(name, None)
        raise AttributeError(name)

    def authenticate(self, request: Any, **kwargs: Any) -> Any:
        # Only the callback passes a nonce; a password login never reaches the provider.
        if request is None or "nonce" not in kwargs or oidc_config() is None:
            return None
        return super().authenticate(request, **kwargs)

    def verify_token(self, token: str, **kwargs: Any) -> Any:
        payload = super().verify_token(token, **kwargs)
        config = oidc_config()
        assert config is not None
        if str(payload.get("iss", "")).rstrip("/") != config.issuer:
            raise SuspiciousOperation("The ID token was issued by someone else.")
        audience = payload.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if config.client_id not in audiences:
            raise SuspiciousOperation("The ID token was issued to another client.")
        return payload

    def retrieve_matching_jwk(self, token: str) -> Any:
        header = jwt.get_unverified_header(token)
        url = str(self.OIDC_OP_JWKS_ENDPOINT)
        reply = _call("GET", url, "signing keys")
        if not reply.ok:
            raise ProviderUnavailable(f"The provider's signing keys at {url} are unavailable ({reply.summary}).")
        listed = _json_object(reply, url).get("keys")
        candidates = [
            key
            for key in (listed if isinstance(listed, list) else [])
            if isinstance(key, dict)
            and key.get("alg") in (None, header.get("alg"))
            and key.get("use", "sig") == "sig"
            and ("kid" not in header or key.get("kid") == header["kid"])
        ]
        # An ID token may omit "kid" when the provider has a single signing key (RFC 7517).
        if not candidates or ("kid" not in header and len(candidates) != 1):
            raise SuspiciousOperation("The ID token names no signing key the provider lists.")
        return jwt.PyJWK(candidates[-1])

    def get_token(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        url = str(self.OIDC_OP_TOKEN_ENDPOINT)
        reply = _call("POST", url, "code exchange", data=dict(payload))
        if reply.status >= 500 or (reply.status != 200 and reply.status < 400):
            raise ProviderUnavailable(f"The provider did not complete the sign-in ({reply.summary}).")
        if reply.status != 200:
            try:
                error = str(reply.json().get("error", ""))
            except (ValueError, AttributeError):
                error = ""
            raise CodeRefused(reply.status, error if OAUTH_ERROR_CODE.match(error) else "")
        return _json_object(reply, url)

    def get_userinfo(self, access_token: str, id_token: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        claims = dict(payload)
        url = self.get_settings("OIDC_OP_USER_ENDPOINT")
        if url:
            reply = _call("GET", str(url), "userinfo", headers={"Authorization": f"Bearer {access_token}"})
            if not reply.ok:
                raise ProviderUnavailable(f"The provider's userinfo endpoint did not answer ({reply.summary}).")
            if reply.headers.get("content-type", "").lower().startswith("application/jwt"):
                userinfo = self.verify_token(reply.content.decode())
            else:
                userinfo = _json_object(reply, str(url))
            if userinfo.get("sub") not in (None, payload.get("sub")):
                raise SuspiciousOperation("The userinfo endpoint described someone else.")
            claims.update(userinfo)
        return claims

    def get_or_create_user(self, access_token: str, id_token: str, payload: Mapping[str, Any]) -> Any:
        config = oidc_config()
        assert config is not None
        claims = self.get_userinfo(access_token, id_token, payload)
        return user_from_claims(config.issuer, claims, config.claims)

    def get_user(self, user_id: Any) -> Any:
        user = super().get_user(user_id)
        # A blocked or disabled account loses its open sessions too.
        return user if user is not None and user.is_active else None
