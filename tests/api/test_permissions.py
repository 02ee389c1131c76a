"""The API's permission matrix: the same roles as the portal, through tokens.

Visible but not allowed → 403; not visible (another catalog) → 404; a refusal writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from governance import models as m
from governance.services import assignments as assignment_services
from governance.services import requests as request_services
from tests import factories as f
from tests.api.conftest import Answer, Api, ApiMaker
from tests.conftest import PackageMaker, snapshot

pytestmark = pytest.mark.django_db


@dataclass
class World:
    package: m.AccessPackage
    direct_policy: m.AssignmentPolicy
    assignment: m.Assignment
    pending: m.AssignmentRequest
    newcomer: m.User
    catalog: m.Catalog


@pytest.fixture
def world(
    catalog: m.Catalog, other_catalog: m.Catalog, make_package: PackageMaker, admin: m.User, approver: m.User,
    requestor: m.User,
) -> World:  # fmt: skip
    package = make_package(approvers=[approver], name="Developer tools")
    direct = f.PolicyFactory(package=package, allowed_target_scope=m.TargetScope.NO_ONE, display_name="Direct")
    member = f.UserFactory(username="member")
    assigned = assignment_services.create_direct_assignments(
        admin, package.pk, policy_id=direct.pk, target_ids=[member.pk]
    )
    pending = request_services.submit_request(requestor, package.pk, policy_id=package.policies.first().pk)
    assert pending.state == m.RequestState.PENDING_APPROVAL
    assignment = m.Assignment.objects.get(pk=assigned[0].assignment_id)
    return World(package, direct, assignment, pending, f.UserFactory(username="newcomer"), catalog)


TOKENS: dict[str, dict[str, Any]] = {
    "global_admin": {"role": "global_admin"},
    "governance_admin": {"role": "governance_admin"},
    "owner": {"role": "catalog_owner", "catalog": "Engineering"},
    "pkgmanager": {"role": "package_manager", "catalog": "Engineering"},
    "assignmgr": {"role": "assignment_manager", "catalog": "Engineering"},
    "reader": {"role": "catalog_reader", "catalog": "Engineering"},
    "foreign_owner": {"role": "catalog_owner", "catalog": "Finance"},
}


def _token(api_as: ApiMaker, name: str) -> Api:
    spec = dict(TOKENS[name])
    catalog_name = spec.pop("catalog", None)
    catalog = m.Catalog.objects.get(display_name=catalog_name) if catalog_name else None
    return api_as(catalog=catalog, **spec)


Action = Callable[[Api, World], Answer]

ACTIONS: dict[str, Action] = {
    "get package": lambda api, w: api.get(f"accessPackages/{w.package.pk}"),
    "rename package": lambda api, w: api.patch(f"accessPackages/{w.package.pk}", {"displayName": "Renamed"}),
    "add policy": lambda api, w: api.post(
        "assignmentPolicies",
        {"displayName": "All", "allowedTargetScope": "allMemberUsers", "accessPackage": {"id": str(w.package.pk)}},
    ),
    "create catalog": lambda api, w: api.post("catalogs", {"displayName": "Sales"}),
    "delete catalog": lambda api, w: api.delete(f"catalogs/{w.catalog.pk}"),
    "assign directly": lambda api, w: api.post(
        "assignmentRequests",
        {
            "requestType": "adminAdd",
            "assignment": {
                "targetId": str(w.newcomer.pk),
                "assignmentPolicyId": str(w.direct_policy.pk),
                "accessPackageId": str(w.package.pk),
            },
        },
    ),
    "get request": lambda api, w: api.get(f"assignmentRequests/{w.pending.pk}"),
    "cancel request": lambda api, w: api.post(f"assignmentRequests/{w.pending.pk}/cancel"),
    "reprocess assignment": lambda api, w: api.post(f"assignments/{w.assignment.pk}/reprocess"),
    "remove assignment": lambda api, w: api.post(
        "assignmentRequests", {"requestType": "adminRemove", "assignment": {"id": str(w.assignment.pk)}}
    ),
}

# persona → action → status. 403: visible but not allowed; 404: outside the token's catalogs.
EXPECTED: dict[str, dict[str, int]] = {
    "global_admin": {
        "get package": 200, "rename package": 204, "add policy": 201, "create catalog": 201, "delete catalog": 409,
        "assign directly": 201, "get request": 200, "cancel request": 200, "reprocess assignment": 202,
        "remove assignment": 201,
    },
    "governance_admin": {
        "get package": 200, "rename package": 204, "add policy": 201, "create catalog": 201, "delete catalog": 409,
        "assign directly": 201, "get request": 200, "cancel request": 200, "reprocess assignment": 202,
        "remove assignment": 201,
    },
    "owner": {
        "get package": 200, "rename package": 204, "add policy": 201, "create catalog": 403, "delete catalog": 409,
        "assign directly": 201, "get request": 200, "cancel request": 200, "reprocess assignment": 202,
        "remove assignment": 201,
    },
    "pkgmanager": {
        "get package": 200, "rename package": 204, "add policy": 201, "create catalog": 403, "delete catalog": 403,
        "assign directly": 201, "get request": 200, "cancel request": 200, "reprocess assignment": 202,
        "remove assignment": 201,
    },
    "assignmgr": {
        "get package": 200, "rename package": 403, "add policy": 403, "create catalog": 403, "delete catalog": 403,
        "assign directly": 201, "get request": 200, "cancel request": 200, "reprocess assignment": 202,
        "remove assignment": 201,
    },
    "reader": {
        "get package": 200, "rename package": 403, "add policy": 403, "create catalog": 403, "delete catalog": 403,
        "assign directly": 403, "get request": 200, "cancel request": 403, "reprocess assignment": 403,
        "remove assignment": 403,
    },
    "foreign_owner": {
        "get package": 404, "rename package": 404, "add policy": 404, "create catalog": 403, "delete catalog": 404,
        "assign directly": 404, "get request": 404, "cancel request": 404, "reprocess assignment": 404,
        "remove assignment": 404,
    },
}  # fmt: skip

CASES = [(persona, action, status) for persona, row in EXPECTED.items() for action, status in row.items()]


@pytest.mark.parametrize(("persona", "action", "expected"), CASES, ids=[f"{p}-{a}" for p, a, _ in CASES])
def test_permission_matrix(api_as: ApiMaker, world: World, persona: str, action: str, expected: int) -> None:
    api = _token(api_as, persona)
    before = snapshot()
    answer = ACTIONS[action](api, world)
    assert answer.status == expected, answer.body
    if expected >= 400:
        assert set(answer.error) >= {"code", "message"}
        assert snapshot() == before, "a refused call wrote something"
    if expected == 404:
        assert answer.error["code"] == "notFound"


def test_out_of_catalog_token_lists_nothing_of_the_other_catalog(api_as: ApiMaker, world: World) -> None:
    foreign = _token(api_as, "foreign_owner")
    for collection in ("catalogs", "accessPackages", "assignmentPolicies", "assignmentRequests", "assignments"):
        answer = foreign.get(collection)
        assert answer.status == 200
        names = [row.get("displayName") for row in answer.body["value"]]
        assert "Engineering" not in names, collection
        assert "Developer tools" not in names, collection
        if collection not in {"catalogs"}:
            assert answer.body["value"] == [], collection
    reader = _token(api_as, "reader")
    assert [p["displayName"] for p in reader.get("accessPackages").body["value"]] == ["Developer tools"]


def test_writes_are_audited_with_the_clients_name(api_as: ApiMaker, world: World) -> None:
    api = _token(api_as, "pkgmanager")
    assert api.patch(f"accessPackages/{world.package.pk}", {"isHidden": True}).status == 204
    event = m.AuditEvent.objects.filter(action="package.updated", object_id=str(world.package.pk)).get()
    assert event.actor_label.startswith("api:client-")
    assert event.actor is None
    assert event.data["changes"] == {"is_hidden": [False, True]}
