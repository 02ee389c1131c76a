"""The unmodified msgraph-sdk pointed at our live server (RECIPES: a static bearer token)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import httpx
from kiota_abstractions.authentication import (
    AccessTokenProvider,
    AllowedHostsValidator,
    BaseBearerTokenAuthenticationProvider,
)
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph_core import GraphClientFactory

T = TypeVar("T")


class StaticToken(AccessTokenProvider):
    def __init__(self, token: str) -> None:
        self.token = token

    async def get_authorization_token(self, uri: str, additional_authentication_context: Any = None) -> str:
        return self.token

    def get_allowed_hosts_validator(self) -> AllowedHostsValidator:
        return AllowedHostsValidator(["127.0.0.1", "localhost"])


def graph_call(base_url: str, token: str, call: Callable[[GraphServiceClient], Awaitable[T]]) -> T:
    """Run one SDK call in its own event loop, with a client built inside it."""

    async def run() -> T:
        # No keep-alive: each call ends its live-server thread, and with it that thread's
        # database connection (otherwise PostgreSQL cannot drop the test database).
        http = GraphClientFactory.create_with_default_middleware(
            client=httpx.AsyncClient(limits=httpx.Limits(max_keepalive_connections=0))
        )
        adapter = GraphRequestAdapter(BaseBearerTokenAuthenticationProvider(StaticToken(token)), client=http)
        adapter.base_url = base_url.rstrip("/") + "/v1.0"
        try:
            return await call(GraphServiceClient(request_adapter=adapter))
        finally:
            await http.aclose()

    # In a thread of its own: Playwright's sync API may already run a loop on this one.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, run()).result()
