"""Bearer tokens of API clients, and a rate limit per token (429 with Retry-After)."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.cache.backends.redis import RedisCache
from rest_framework import authentication, exceptions
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from governance.models import ApiClient
from governance.services.api_clients import authenticate_token

logger = logging.getLogger(__name__)


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer <token>``; the request's user is then the :class:`ApiClient`."""

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[ApiClient, str] | None:
        header = authentication.get_authorization_header(request).decode("latin-1", errors="replace")
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != self.keyword.lower() or not token.strip():
            raise exceptions.AuthenticationFailed("Send the token as 'Authorization: Bearer <token>'.")
        client = authenticate_token(token.strip())
        if client is None:
            raise exceptions.AuthenticationFailed("The access token is not valid or has been revoked.")
        return client, token

    def authenticate_header(self, request: Request) -> str:
        return f'{self.keyword} realm="portcullis"'


_throttle_cache: RedisCache | None = None


def throttle_cache() -> RedisCache:
    """The counters live in Redis, so every web process counts the same calls."""
    global _throttle_cache
    if _throttle_cache is None:
        _throttle_cache = RedisCache(
            settings.REDIS_URL,
            {"KEY_PREFIX": "portcullis-api", "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1}},
        )
    return _throttle_cache


class TokenRateThrottle(SimpleRateThrottle):
    """Calls per token per period, ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["api_token"]``."""

    scope = "api_token"

    def __init__(self) -> None:
        self.cache = throttle_cache()
        super().__init__()

    def get_rate(self) -> str | None:
        # Read at call time (not class creation) so a changed setting applies at once.
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)
        return str(rate) if rate is not None else None

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        client = request.user
        if not isinstance(client, ApiClient):
            return None
        return self.cache_format % {"scope": self.scope, "ident": client.pk}

    def allow_request(self, request: Request, view: Any) -> bool:
        try:
            return super().allow_request(request, view)
        except Exception:  # noqa: BLE001 - a rate limiter that is down must not take the API with it
            logger.warning("API rate limiting unavailable (Redis at %s); allowing the call.", settings.REDIS_URL)
            return True
