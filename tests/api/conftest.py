"""API tests: tokens for the personas, and a JSON client that sends them."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client

from governance import models as m
from governance.services.api_clients import create_api_client

EM = "/v1.0/identityGovernance/entitlementManagement"


@dataclass
class Answer:
    status: int
    body: Any
    headers: Any

    @property
    def error(self) -> dict[str, Any]:
        assert isinstance(self.body, dict), self.body
        assert "error" in self.body, self.body
        return self.body["error"]


@dataclass
class Api:
    """Calls the API with one bearer token, as a script would."""

    token: str
    client: Client

    def call(self, method: str, path: str, body: Any = None, **params: Any) -> Answer:
        url = path if path.startswith("/") else f"{EM}/{path}"
        kwargs: dict[str, Any] = {"HTTP_AUTHORIZATION": f"Bearer {self.token}"}
        if params:
            kwargs["QUERY_STRING"] = "&".join(f"{k}={v}" for k, v in params.items())
        if body is not None:
            kwargs.update(data=json.dumps(body), content_type="application/json")
        response = getattr(self.client, method.lower())(url, **kwargs)
        content = response.content
        return Answer(response.status_code, json.loads(content) if content else None, response.headers)

    def get(self, path: str, **params: Any) -> Answer:
        return self.call("GET", path, **params)

    def post(self, path: str, body: Any = None) -> Answer:
        return self.call("POST", path, body if body is not None else {})

    def patch(self, path: str, body: Any) -> Answer:
        return self.call("PATCH", path, body)

    def put(self, path: str, body: Any) -> Answer:
        return self.call("PUT", path, body)

    def delete(self, path: str) -> Answer:
        return self.call("DELETE", path)


ApiMaker = Callable[..., Api]


@pytest.fixture
def api_as(db: None) -> ApiMaker:
    """``api_as(role="global_admin")``, ``api_as(role="catalog_reader", catalog=c)``,
    ``api_as(user=requestor)``: an API client with a fresh token."""
    counter = iter(range(1_000_000))

    def make(*, role: str = "", catalog: m.Catalog | None = None, user: m.User | None = None) -> Api:
        issued = create_api_client(
            None,
            f"client-{next(counter)}-{role or 'personal'}",
            role=role,
            catalog_name=catalog.display_name if catalog is not None else None,
            username=user.username if user is not None else None,
        )
        return Api(issued.token, Client())

    return make


@pytest.fixture
def admin_api(api_as: ApiMaker) -> Api:
    return api_as(role="global_admin")
