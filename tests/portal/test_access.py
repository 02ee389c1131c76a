"""Who sees which page and may take which action (DESIGN §1): a matrix of personas and pages.

Anything outside a person's catalogs, and any action they may not take, answers 404 and
writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from governance import models as m
from tests import factories as f
from tests.conftest import snapshot
from tests.portal.conftest import (
    ADMINS,
    ASSIGNERS,
    CATALOG_MANAGERS,
    GLOBALS,
    MANAGERS,
    NOBODIES,
    Scene,
    others,
)

pytestmark = pytest.mark.django_db

Url = Callable[[Scene], str]


def _pkg(suffix: str = "") -> Url:
    return lambda s: f"/governance/packages/{s.package.pk}/{suffix}"


def _catalog(suffix: str = "") -> Url:
    return lambda s: f"/governance/catalogs/{s.package.catalog_id}/{suffix}"


VIEW_PAGES: list[tuple[str, Url]] = [
    ("catalog", _catalog()),
    ("overview", _pkg()),
    ("roles", _pkg("roles/")),
    ("role progress", _pkg("roles/progress/")),
    ("policies", _pkg("policies/")),
    ("assignments", _pkg("assignments/")),
    ("assignments csv", _pkg("assignments/download/")),
    ("requests", _pkg("requests/")),
    ("assignment", lambda s: f"/governance/assignments/{s.partial.pk}/"),
    ("request", lambda s: f"/governance/requests/{s.failed_request.pk}/"),
    ("request errors", lambda s: f"/governance/requests/{s.failed_request.pk}/errors/"),
]

MANAGE_PAGES: list[tuple[str, Url]] = [
    ("edit", _pkg("edit/")),
    ("delete", _pkg("delete/")),
    ("add role", _pkg("roles/add/")),
    ("add policy", _pkg("policies/new/")),
    ("edit policy", lambda s: f"/governance/packages/{s.package.pk}/policies/{s.direct_policy.pk}/"),
    ("delete policy", lambda s: f"/governance/packages/{s.package.pk}/policies/{s.direct_policy.pk}/delete/"),
]

CATALOG_PAGES: list[tuple[str, Url]] = [
    ("edit catalog", _catalog("edit/")),
    ("delete catalog", _catalog("delete/")),
    ("add resource", _catalog("resources/add/")),
]

LISTS = [
    "/governance/catalogs/",
    "/governance/packages/",
    "/governance/requests/",
    "/governance/assignments/",
    "/governance/audit/",
    "/governance/assignments/download/",
    "/governance/audit/download/",
    "/governance/directory/search/?kind=user&name=users&users__q=a",
]


def _status(client: Any, url: str) -> int:
    return client.get(url).status_code


@pytest.mark.parametrize("persona", ADMINS + NOBODIES)
def test_object_pages_are_for_people_with_a_role_in_the_catalog(scene: Scene, as_persona: Any, persona: str) -> None:
    client = as_persona(persona)
    expected = 200 if persona in ADMINS else 404
    for name, url in VIEW_PAGES:
        assert _status(client, url(scene)) == expected, name


@pytest.mark.parametrize("persona", ADMINS + NOBODIES)
def test_manage_pages_only_for_those_who_manage_packages(scene: Scene, as_persona: Any, persona: str) -> None:
    client = as_persona(persona)
    expected = 200 if persona in MANAGERS else 404
    for name, url in MANAGE_PAGES:
        assert _status(client, url(scene)) == expected, name
    expected = 200 if persona in ASSIGNERS else 404
    assert _status(client, _pkg("assignments/new/")(scene)) == expected
    expected = 200 if persona in CATALOG_MANAGERS else 404
    for name, url in CATALOG_PAGES:
        assert _status(client, url(scene)) == expected, name


@pytest.mark.parametrize("persona", ADMINS + NOBODIES)
def test_lists_are_open_to_the_admin_portal_only(scene: Scene, as_persona: Any, persona: str) -> None:
    client = as_persona(persona)
    expected = 404 if persona in {"outsider", "requestor"} else 200
    for url in LISTS:
        assert _status(client, url) == expected, url


@pytest.mark.parametrize("persona", ADMINS + NOBODIES)
def test_creating_and_organizations_follow_global_roles(scene: Scene, as_persona: Any, persona: str) -> None:
    client = as_persona(persona)
    assert _status(client, "/governance/catalogs/new/") == (200 if persona in GLOBALS else 404)
    # Owners of another catalog may create packages there.
    assert _status(client, "/governance/packages/new/") == (200 if persona in [*MANAGERS, "finance_owner"] else 404)
    for url in ["/governance/organizations/", "/governance/organizations/new/"]:
        assert _status(client, url) == (200 if persona in GLOBALS else 404), url


def test_another_catalogs_objects_are_not_listed(scene: Scene, as_persona: Any) -> None:
    client = as_persona("finance_owner")
    for url in ["/governance/packages/", "/governance/assignments/", "/governance/requests/", "/governance/audit/"]:
        assert "Production on-call" not in client.get(url).content.decode(), url


def test_people_without_a_role_go_to_my_access(scene: Scene, as_persona: Any) -> None:
    response = as_persona("requestor").get("/governance/")
    assert response.status_code == 302
    assert response["Location"] == "/myaccess/"


def test_signed_out_people_are_asked_to_sign_in(scene: Scene, client: Any) -> None:
    for url in ["/governance/", "/governance/packages/", _pkg()(scene)]:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=")


def test_unknown_ids_answer_404(admin: m.User, client: Any) -> None:
    client.force_login(admin)
    missing = "00000000-0000-0000-0000-000000000000"
    for url in [
        f"/governance/packages/{missing}/",
        f"/governance/assignments/{missing}/",
        f"/governance/requests/{missing}/",
        f"/governance/catalogs/{missing}/",
        f"/governance/organizations/{missing}/",
    ]:
        assert client.get(url).status_code == 404, url


# --- Actions: refused ones answer 404 and write nothing -----------------------------------

Action = tuple[str, Url, Callable[[Scene], dict[str, Any]], list[str]]

ACTIONS: list[Action] = [
    ("edit package", _pkg("edit/"), lambda s: {"display_name": "X", "is_hidden": "on"}, MANAGERS),
    ("delete package", _pkg("delete/"), lambda s: {}, MANAGERS),
    ("share link", _pkg("share/"), lambda s: {"recipients": [s.delivered.target_id]}, ASSIGNERS),
    ("add role", _pkg("roles/add/"), lambda s: {"resource": s.bad_role.resource_id}, MANAGERS),
    (
        "remove role",
        lambda s: f"/governance/packages/{s.package.pk}/roles/{s.good_role.pk}/remove/",
        lambda s: {},
        MANAGERS,
    ),
    (
        "add policy",
        _pkg("policies/new/"),
        lambda s: {"display_name": "P", "allowed_target_scope": "notSpecified", "expiration_type": "never"},
        MANAGERS,
    ),
    (
        "disable policy",
        lambda s: f"/governance/packages/{s.package.pk}/policies/{s.direct_policy.pk}/enabled/",
        lambda s: {"enabled": "0"},
        MANAGERS,
    ),
    (
        "new assignment",
        _pkg("assignments/new/"),
        lambda s: {"users": [f.UserFactory(username="newbie").pk], "policy": s.direct_policy.pk},
        ASSIGNERS,
    ),
    ("remove assignment", lambda s: f"/governance/assignments/{s.delivered.pk}/remove/", lambda s: {}, ASSIGNERS),
    ("reprocess assignment", lambda s: f"/governance/assignments/{s.partial.pk}/reprocess/", lambda s: {}, ASSIGNERS),
    ("change end", lambda s: f"/governance/assignments/{s.delivered.pk}/end/", lambda s: {"end": ""}, ASSIGNERS),
    ("reprocess request", lambda s: f"/governance/requests/{s.failed_request.pk}/reprocess/", lambda s: {}, ASSIGNERS),
    ("cancel request", lambda s: f"/governance/requests/{s.failed_request.pk}/cancel/", lambda s: {}, ASSIGNERS),
    ("edit catalog", _catalog("edit/"), lambda s: {"display_name": "Renamed", "state": "published"}, CATALOG_MANAGERS),
    ("delete catalog", _catalog("delete/"), lambda s: {}, CATALOG_MANAGERS),
    (
        "add member",
        _catalog("roles/add/"),
        lambda s: {"users": [s.delivered.target_id], "role": "reader"},
        CATALOG_MANAGERS,
    ),
    (
        "remove resource",
        lambda s: f"/governance/catalogs/{s.package.catalog_id}/resources/{s.bad_role.resource_id}/remove/",
        lambda s: {},
        CATALOG_MANAGERS,
    ),
]


# The allowed cases are tested with each action itself.
REFUSALS = [
    pytest.param(persona, url, data, id=f"{name}-{persona}")
    for name, url, data, allowed in ACTIONS
    for persona in ["catalog_reader", "assignment_manager", "finance_owner", "outsider"]
    if persona not in allowed
]


@pytest.mark.parametrize(("persona", "url", "data"), REFUSALS)
def test_refused_actions_answer_404_and_change_nothing(
    scene: Scene, as_persona: Any, persona: str, url: Url, data: Any
) -> None:
    client = as_persona(persona)
    payload = data(scene)
    before = snapshot()
    response = client.post(url(scene), payload)
    assert response.status_code == 404
    assert snapshot() == before


def test_refused_organization_actions(scene: Scene, as_persona: Any, contoso: m.ConnectedOrganization) -> None:
    for persona in others(GLOBALS):
        client = as_persona(persona)
        for url, data in [
            ("/governance/organizations/new/", {"display_name": "X", "domains": "x.example", "state": "configured"}),
            (f"/governance/organizations/{contoso.pk}/", {"display_name": "X", "domains": "x.example"}),
            (f"/governance/organizations/{contoso.pk}/delete/", {}),
        ]:
            before = m.ConnectedOrganization.objects.count(), m.AuditEvent.objects.count()
            assert client.post(url, data).status_code == 404, (persona, url)
            assert (m.ConnectedOrganization.objects.count(), m.AuditEvent.objects.count()) == before


def test_gets_never_change_anything(scene: Scene, as_persona: Any) -> None:
    client = as_persona("admin")
    before = snapshot()
    for _, url in VIEW_PAGES + MANAGE_PAGES + CATALOG_PAGES:
        client.get(url(scene))
    assert snapshot() == before


GARBAGE = {
    "submission": "not-a-token",
    "display_name": "x" * 300,
    "users": ["nope", "00000000-0000-0000-0000-000000000000"],
    "users__q": "a",
    "recipients__q": "a",
    "recipients": "nope",
    "policy": "nope",
    "resource": "nope",
    "resource_role": "nope",
    "start": "tomorrow",
    "end": "2001-13-45T99:99",
    "ids": ["nope", "00000000-0000-0000-0000-000000000000"],
    "allowed_target_scope": "everyone",
    "expiration_type": "sometimes",
    "expiration_days": "-3",
    "stage1_timeout_days": "many",
    "role": "king",
    "domains": "!!!",
    "state": "liquid",
    "enabled": "maybe",
    "connector": "nope",
    "origin_id": "",
}


def test_garbage_never_breaks_a_page(scene: Scene, as_persona: Any, contoso: m.ConnectedOrganization) -> None:
    """Whatever is posted, the answer is a form error, a message or a 404: never a 500."""
    client = as_persona("admin")
    urls = [url(scene) for _, url, _, _ in ACTIONS] + [
        "/governance/packages/new/",
        "/governance/catalogs/new/",
        "/governance/organizations/new/",
        f"/governance/organizations/{contoso.pk}/",
        "/governance/assignments/reprocess/",
        "/governance/requests/reprocess/",
        f"/governance/catalogs/{scene.package.catalog_id}/resources/add/",
    ]
    for url in urls:
        response = client.post(url, GARBAGE)
        assert response.status_code in {200, 302, 404}, (url, response.status_code)
    search = {"kind": "group", "name": "x y", "x y": "nope", "users": "nope", "users__q": "a", "x y__q": "a"}
    assert client.get("/governance/directory/search/", search).status_code == 200
    for url in ["/governance/assignments/", "/governance/requests/", "/governance/audit/", "/governance/packages/"]:
        response = client.get(url, {"page": "-7", "sort": "password", "status": "x", "date_from": "x", "catalog": "x"})
        assert response.status_code == 200, url
