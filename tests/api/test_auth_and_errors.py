"""Tokens (hashed, revocable, rate-limited), the command that makes them, Graph-style errors."""

from __future__ import annotations

import hashlib
import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from governance import models as m
from governance.services.api_clients import create_api_client, revoke_api_client
from tests.api.conftest import EM, Api, ApiMaker
from tests.conftest import PackageMaker

pytestmark = pytest.mark.django_db


def test_command_prints_the_token_once_as_the_last_line(catalog: m.Catalog) -> None:
    out = io.StringIO()
    call_command(
        "create_api_client", "nightly-sync", "--role", "catalog_reader", "--catalog", "Engineering", stdout=out
    )
    token = out.getvalue().strip().splitlines()[-1]
    client = m.ApiClient.objects.get(name="nightly-sync")
    assert client.role == "catalog_reader"
    assert client.catalog == catalog
    assert client.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in json.dumps(list(m.ApiClient.objects.values()), default=str)
    answer = Client().get(f"{EM}/catalogs", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert [c["displayName"] for c in answer.json()["value"]] == ["Engineering"]
    assert m.AuditEvent.objects.filter(action="api_client.created", object_id=str(client.pk)).exists()


def test_command_makes_personal_tokens(requestor: m.User) -> None:
    out = io.StringIO()
    call_command("create_api_client", "laptop", "--user", "requestor", stdout=out)
    token = out.getvalue().strip().splitlines()[-1]
    me = Client().get("/v1.0/me", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert me.json()["id"] == str(requestor.pk)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["x", "--role", "catalog_owner"], "needs a catalog"),
        (["x", "--role", "catalog_owner", "--catalog", "Nope"], "No catalog named 'Nope'"),
        (["x", "--role", "global_admin", "--catalog", "Engineering"], "leave out --catalog"),
        (["x", "--user", "nobody"], "No enabled user named 'nobody'"),
    ],
)
def test_command_refuses_bad_options(catalog: m.Catalog, args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("create_api_client", *args, stdout=io.StringIO())
    assert not m.ApiClient.objects.exists()


def test_missing_bad_and_revoked_tokens_are_401(api_as: ApiMaker, admin: m.User) -> None:
    anonymous = Client().get(f"{EM}/catalogs")
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    assert anonymous.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert Client().get(f"{EM}/catalogs", HTTP_AUTHORIZATION="Bearer pcs_wrong").status_code == 401
    assert Client().get(f"{EM}/catalogs", HTTP_AUTHORIZATION="Basic abc").status_code == 401

    api = api_as(role="global_admin")
    assert api.get("catalogs").status == 200
    revoke_api_client(admin, m.ApiClient.objects.get().pk)
    answer = api.get("catalogs")
    assert answer.status == 401
    assert "revoked" in answer.error["message"]


def test_personal_token_of_a_disabled_user_stops_working(api_as: ApiMaker, requestor: m.User) -> None:
    api = api_as(user=requestor)
    assert api.get("/v1.0/me").status == 200
    requestor.is_active = False
    requestor.save()
    assert api.get("/v1.0/me").status == 401


def test_only_global_admins_manage_api_clients(governance_admin: m.User) -> None:
    from governance.errors import NotAllowed

    with pytest.raises(NotAllowed):
        create_api_client(governance_admin, "x", role="global_admin")


def test_rate_limit_answers_429_with_retry_after(api_as: ApiMaker, settings) -> None:
    from tests.conftest import need
    from tests.workers import redis_answers

    need(redis_answers(), "the rate limit counts calls in Redis")
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"api_token": "3/minute"}}
    api = api_as(role="global_admin")
    other = api_as(role="global_admin")
    assert [api.get("catalogs").status for _ in range(3)] == [200, 200, 200]
    limited = api.get("catalogs")
    assert limited.status == 429
    assert limited.error["code"] == "TooManyRequests"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert other.get("catalogs").status == 200, "the limit is per token"


def test_unknown_paths_and_bad_bodies_are_graph_errors(admin_api: Api, make_package: PackageMaker) -> None:
    unknown = admin_api.get(f"{EM}/accessReviews")
    assert unknown.status == 404
    assert unknown.error["code"] == "notFound"
    # A malformed id is Graph's 400 (an unknown but well-formed one stays 404).
    malformed = admin_api.get(f"{EM}/accessPackages/not-a-guid")
    assert malformed.status == 400
    assert malformed.error["code"] == "invalidRequest"

    raw = Client().post(
        f"{EM}/catalogs",
        data="{not json",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {admin_api.token}",
    )
    assert raw.status_code == 400
    assert raw.json()["error"]["code"] == "invalidRequest"
    assert admin_api.call("POST", "catalogs", ["a list"]).status == 400
    wrong_method = admin_api.call("PUT", "catalogs", {})
    assert wrong_method.status == 405
    assert wrong_method.error["code"] == "methodNotAllowed"

    unsupported = admin_api.post("catalogs", {"displayName": "X", "customWorkflowExtensions": []})
    assert unsupported.status == 400
    assert unsupported.error["message"] == "Property 'customWorkflowExtensions' is not supported."


def test_catalog_delete_only_when_empty(admin_api: Api, make_package: PackageMaker, catalog: m.Catalog) -> None:
    make_package()
    refused = admin_api.delete(f"catalogs/{catalog.pk}")
    assert refused.status == 409
    assert refused.error["code"] == "stillInUse"
    empty = admin_api.post("catalogs", {"displayName": "Empty", "state": "unpublished"}).body
    assert empty["state"] == "unpublished"
    assert admin_api.delete(f"catalogs/{empty['id']}").status == 204
    assert admin_api.get(f"catalogs/{empty['id']}").status == 404


def test_times_are_utc_with_z_and_ids_are_guids(admin_api: Api, make_package: PackageMaker) -> None:
    import re
    import uuid

    package = make_package()
    body = admin_api.get(f"accessPackages/{package.pk}").body
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["createdDateTime"])
    assert uuid.UUID(body["id"]) == package.pk
