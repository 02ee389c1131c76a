"""Issue 21, faults: a create is knowable (client-request-id), an outage is a 503 with
Retry-After (Graph JSON for the API, a styled page for the portal), never Django's 500.

Here the outage is injected at the database driver's edge (every new cursor fails as a
dropped connection does); tests/delivery/test_outage_burst.py drops real PostgreSQL
connections and stops a real broker during a burst.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from django.db import OperationalError
from django.db.backends.base.base import BaseDatabaseWrapper
from django.test import Client

from governance import models as m
from governance.api.serializers import RequestOut
from tests import factories as f
from tests.api.conftest import EM, Api, ApiMaker


@pytest.fixture
def direct(make_package: Any) -> tuple[m.AccessPackage, m.AssignmentPolicy]:
    package = make_package(allowed_target_scope=m.TargetScope.NO_ONE)
    return package, package.policies.get()


def _assign(api: Api, package: m.AccessPackage, policy: m.AssignmentPolicy, target: m.User, key: str | None = None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {api.token}"}
    if key is not None:
        headers["HTTP_CLIENT_REQUEST_ID"] = key
    body = {
        "requestType": "adminAdd",
        "assignment": {
            "targetId": str(target.pk),
            "assignmentPolicyId": str(policy.pk),
            "accessPackageId": str(package.pk),
        },
    }
    return api.client.post(
        f"{EM}/assignmentRequests", data=json.dumps(body), content_type="application/json", **headers
    )


def _drop_database(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every new cursor fails as a connection PostgreSQL has just dropped does."""

    def refused(self: BaseDatabaseWrapper, *args: Any, **kwargs: Any) -> Any:
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(BaseDatabaseWrapper, "cursor", refused)


def test_a_retry_with_the_same_client_request_id_answers_the_stored_request(direct, admin_api: Api) -> None:
    package, policy = direct
    person = f.UserFactory()
    key = str(uuid.uuid4())
    first = _assign(admin_api, package, policy, person, key)
    again = _assign(admin_api, package, policy, person, key)
    assert first.status_code == again.status_code == 201, again.content
    assert first.json()["id"] == again.json()["id"]
    assert again["client-request-id"] == key
    assert m.AssignmentRequest.objects.filter(target=person).count() == 1
    assert m.ClientRequestKey.objects.get().request_id == uuid.UUID(first.json()["id"])


def test_client_request_ids_belong_to_their_client(direct, api_as: ApiMaker) -> None:
    package, policy = direct
    key = str(uuid.uuid4())
    one, other = api_as(role="global_admin"), api_as(role="global_admin")
    a = _assign(one, package, policy, f.UserFactory(), key)
    b = _assign(other, package, policy, f.UserFactory(), key)
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] != b.json()["id"]


def test_a_refused_create_keeps_no_key_so_the_retry_is_judged_again(direct, admin_api: Api) -> None:
    package, policy = direct
    person = f.UserFactory()
    key = str(uuid.uuid4())
    policy.enabled = False
    policy.save()
    assert _assign(admin_api, package, policy, person, key).status_code >= 400
    assert not m.ClientRequestKey.objects.exists()
    policy.enabled = True
    policy.save()
    assert _assign(admin_api, package, policy, person, key).status_code == 201


def test_database_away_the_api_answers_graph_json_503_with_retry_after(
    direct, admin_api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    package, policy = direct
    person = f.UserFactory()
    _drop_database(monkeypatch)
    answer = _assign(admin_api, package, policy, person, str(uuid.uuid4()))
    monkeypatch.undo()
    assert answer.status_code == 503
    assert answer["Content-Type"] == "application/json"
    assert int(answer["Retry-After"]) > 0
    assert answer.json()["error"]["code"] == "serviceUnavailable"
    assert answer["request-id"]
    assert not m.AssignmentRequest.objects.filter(target=person).exists()


def test_lost_between_create_and_answer_nothing_is_stored(
    direct, admin_api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The create's read-back is in its transaction: no 5xx may hide a stored request."""
    package, policy = direct
    person = f.UserFactory()

    def connection_lost(self: Any, instance: Any) -> Any:
        raise OperationalError("terminating connection due to administrator command")

    monkeypatch.setattr(RequestOut, "to_representation", connection_lost)
    answer = _assign(admin_api, package, policy, person, str(uuid.uuid4()))
    monkeypatch.undo()
    assert answer.status_code == 503
    assert not m.AssignmentRequest.objects.filter(target=person).exists()
    assert not m.ClientRequestKey.objects.exists()
    assert not m.AuditEvent.objects.filter(action__startswith="assignment").exists()


def test_database_away_the_portal_shows_a_styled_try_again_page(
    requestor: m.User, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = Client(raise_request_exception=False)
    client.force_login(requestor)
    _drop_database(monkeypatch)
    page = client.get("/myaccess/")
    sign_in = Client(raise_request_exception=False).post("/accounts/login/", {"username": "requestor", "password": "x"})
    monkeypatch.undo()
    for answer in (page, sign_in):
        assert answer.status_code == 503
        assert int(answer["Retry-After"]) > 0
        html = answer.content.decode()
        assert "Try again in a moment" in html
        assert "Server Error" not in html
        assert "Traceback" not in html
        assert "css/app.css" in html  # the portal's own style


def test_a_bug_in_the_api_is_a_graph_json_500(admin_api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    from governance.api.views import catalogs

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(catalogs.CatalogList, "get", broken)
    client = Client(raise_request_exception=False)
    answer = client.get(f"{EM}/catalogs", HTTP_AUTHORIZATION=f"Bearer {admin_api.token}")
    assert answer.status_code == 500
    assert answer.json()["error"]["code"] == "internalServerError"
    assert "a bug" not in answer.content.decode()
