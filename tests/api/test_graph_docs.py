"""Microsoft's own documentation is the judge (DESIGN §7, issue 16).

Each file in ``graph_docs/`` is one page of microsoftgraph/microsoft-graph-docs-contrib
(``api-reference/v1.0/api/<page>.md``): its documented "Request" blocks, and the query
scenarios its text documents, with the documentation's ids replaced by ``{placeholders}``
naming the objects of the world below. Each is sent as documented and must answer the
documented status with a body of the documented resource's shape (``_resources.json``):
only documented property names, values of the documented types and enums, and Graph's
``@odata.context`` and paging. An example that needs a feature another issue brings names
it in ``unsupported`` and must, until then, answer Graph's ``notSupported`` error; one that
names objects this world cannot hold says ``refused`` (the error code) and, in its note,
the test that replays it verbatim.

Adding a page is adding one file.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.test import Client
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from governance import models as m
from governance.services.api_clients import create_api_client
from governance.services.assignments import create_direct_assignments
from governance.services.requests import submit_request
from tests import factories as f

pytestmark = pytest.mark.django_db

DOCS = Path(__file__).parent / "graph_docs"
RESOURCES: dict[str, Any] = json.loads((DOCS / "_resources.json").read_text())
GRAPH = "https://graph.microsoft.com"


def _examples() -> list[Any]:
    found = []
    for path in sorted(DOCS.glob("*.json")):
        if path.name.startswith("_"):
            continue
        page = json.loads(path.read_text())
        for number, example in enumerate(page["examples"], start=1):
            found.append(pytest.param(page["page"], example, id=f"{path.stem}.{number}"))
    return found


EXAMPLES = _examples()


def test_at_least_sixty_documented_examples_from_their_pages() -> None:
    assert len(EXAMPLES) >= 60
    for param in EXAMPLES:
        page, example = param.values
        assert page.startswith("api-reference/v1.0/api/")
        assert page.endswith(".md")
        assert example["url"].startswith(f"{GRAPH}/v1.0/"), example["url"]


# --- The world the examples' ids point at -------------------------------------------------


@pytest.fixture
def world(db: None) -> dict[str, Any]:
    admin = f.UserFactory(username="docs-admin")
    f.DirectoryRoleFactory(user=admin, role=m.GlobalRole.GLOBAL_ADMIN)
    approver = f.UserFactory(username="approver", email="approver@portcullis.example")
    requestor = f.UserFactory(username="requestor", manager=approver, email="requestor@portcullis.example")
    member = f.UserFactory(username="member")
    newcomer = f.UserFactory(username="newcomer", email="newcomer@contoso.example")
    catalog = f.CatalogFactory(display_name="Staff catalog")
    empty_catalog = f.CatalogFactory(display_name="Empty")
    group = f.DirectoryGroupFactory(display_name="example group")
    new_group = f.DirectoryGroupFactory(display_name="Test group")
    resource = f.ResourceFactory(catalog=catalog, group=group)
    role = f.ResourceRoleFactory(resource=resource)
    app = f.ResourceFactory(
        catalog=catalog,
        resource_type=m.ResourceType.APPLICATION,
        origin_id="e81d7f57-0840-45e1-894b-f505c1bdcc1f",
        display_name="Faculty cafeteria ordering",
    )
    app_role = f.ResourceRoleFactory(
        resource=app, display_name="Standard User", origin_id="a29a7690-b3c4-4ed5-96c6-f640cde06fb8"
    )
    site = f.ResourceFactory(
        catalog=catalog,
        resource_type=m.ResourceType.SITE,
        origin_id="https://contoso.sharepoint.com/portals/Community",
        display_name="Community",
    )
    site_role = f.ResourceRoleFactory(resource=site, display_name="Contributors", origin_id="4")

    package = f.AccessPackageFactory(catalog=catalog, display_name="Team tools")
    link = f.PackageResourceRoleFactory(package=package, resource_role=role)
    direct = f.PolicyFactory(package=package, display_name="Direct", allowed_target_scope=m.TargetScope.NO_ONE)
    approval = f.PolicyFactory(
        package=package,
        display_name="Employee sales support",
        allowed_target_scope=m.TargetScope.ALL_MEMBERS,
        requires_approval=True,
    )
    stage = f.ApprovalStageFactory(policy=approval, order=1)
    f.StageApproverFactory(stage=stage, kind=m.ApproverKind.USER, user=approver)
    spare = f.AccessPackageFactory(catalog=catalog, display_name="Spare")
    spare_policy = f.PolicyFactory(package=spare, display_name="Spare policy")
    opened = f.AccessPackageFactory(catalog=catalog, display_name="New Hire")
    f.PolicyFactory(package=opened, display_name="Anyone", allowed_target_scope=m.TargetScope.ALL_MEMBERS)

    delivered = create_direct_assignments(admin, package.pk, policy_id=direct.pk, target_ids=[member.pk])[0]
    m.Assignment.objects.filter(pk=delivered.assignment_id).update(state=m.AssignmentState.DELIVERED)
    tools = f.AccessPackageFactory(catalog=catalog, display_name="Tools")
    f.AssignmentFactory(policy=f.PolicyFactory(package=tools), target=requestor)
    pending = submit_request(requestor, package.pk, policy_id=approval.pk, justification="Need it")
    # A request whose delivery failed an hour ago (within the reprocess window).
    failing = f.UserFactory(username="failing")
    failed = create_direct_assignments(admin, package.pk, policy_id=direct.pk, target_ids=[failing.pk])[0]
    m.RoleGrant.objects.filter(assignment_id=failed.assignment_id).update(state=m.GrantState.FAILED)
    m.Assignment.objects.filter(pk=failed.assignment_id).update(state=m.AssignmentState.DELIVERY_FAILED)
    m.AssignmentRequest.objects.filter(pk=failed.pk).update(
        state=m.RequestState.DELIVERY_FAILED, completed_at=timezone.now() - dt.timedelta(hours=1)
    )
    organization = f.ConnectedOrganizationFactory(display_name="Contoso")
    ids = {
        "adminId": admin.pk,
        "approverId": approver.pk,
        "requestorId": requestor.pk,
        "memberId": member.pk,
        "newcomerId": newcomer.pk,
        "newcomerEmail": newcomer.email,
        "catalogId": catalog.pk,
        "emptyCatalogId": empty_catalog.pk,
        "groupId": group.pk,
        "newGroupId": new_group.pk,
        "resourceId": resource.pk,
        "roleId": role.pk,
        "appResourceId": app.pk,
        "appRoleId": app_role.pk,
        "siteResourceId": site.pk,
        "siteRoleId": site_role.pk,
        "packageId": package.pk,
        "scopeId": f"{link.resource_role_id}_{resource.pk}",
        "directPolicyId": direct.pk,
        "requestPolicyId": approval.pk,
        "sparePackageId": spare.pk,
        "sparePolicyId": spare_policy.pk,
        "openPackageId": opened.pk,
        "assignmentId": delivered.assignment_id,
        "requestId": pending.pk,
        "stageId": stage.pk,
        "failedRequestId": failed.pk,
        "organizationId": organization.pk,
    }
    tokens = {
        "admin": create_api_client(None, "graph-docs", role="global_admin").token,
        "requestor": create_api_client(None, "requestor-laptop", username="requestor").token,
        "approver": create_api_client(None, "approver-laptop", username="approver").token,
    }
    return {"ids": {k: str(v) for k, v in ids.items()}, "tokens": tokens}


def _fill(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        for name, real in ids.items():
            value = value.replace("{" + name + "}", real)
        return value
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


# --- The documented shapes ------------------------------------------------------------------


def _check_value(value: Any, kind: Any, where: str) -> None:
    if value is None:
        return  # every Graph property is nullable
    if isinstance(kind, list):
        assert value in kind, f"{where}: {value!r} is not one of the enum's members {kind}"
    elif kind == "guid":
        assert isinstance(value, str), where
        uuid.UUID(value)
    elif kind == "string":
        assert isinstance(value, str), f"{where}: {value!r} is not a string"
    elif kind == "boolean":
        assert isinstance(value, bool), f"{where}: {value!r} is not a boolean"
    elif kind == "datetime":
        assert isinstance(value, str), f"{where}: {value!r} is not a date"
        assert parse_datetime(value) is not None, f"{where}: {value!r} is not a date"
    elif kind == "int":
        assert isinstance(value, int), where
        assert not isinstance(value, bool), where
    elif kind == "object":
        assert isinstance(value, dict), f"{where}: {value!r} is not an object"
    elif kind == "array":
        assert isinstance(value, list), f"{where}: {value!r} is not an array"
    else:  # pragma: no cover - a typo in _resources.json
        raise AssertionError(f"unknown type {kind} for {where}")


def check_shape(body: Any, resource: str, where: str = "") -> None:
    """Only the resource's documented properties, each of its documented type."""
    spec = RESOURCES[resource]
    assert isinstance(body, dict), f"{where or resource}: not an object"
    for key, value in body.items():
        here = f"{where}.{key}" if where else key
        if key.startswith("@odata."):
            continue
        if key in spec["properties"]:
            _check_value(value, spec["properties"][key], f"{resource}.{here}")
        elif key in spec["navigation"]:
            target = spec["navigation"][key]
            if value is None or target.startswith("object"):
                continue
            if target.endswith("[]"):
                assert isinstance(value, list), f"{here}: a collection"
                for index, item in enumerate(value):
                    check_shape(item, target[:-2], f"{here}[{index}]")
            else:
                check_shape(value, target, here)
        else:
            raise AssertionError(f"{resource}.{here} is not a documented property (see {spec['page']})")


def _dig(body: Any, path: str) -> Any:
    for part in path.split("."):
        body = body[int(part)] if isinstance(body, list) else body[part]
    return body


# --- The replay -----------------------------------------------------------------------------


@pytest.mark.parametrize(("page", "example"), EXAMPLES)
def test_documented_example(world: dict[str, Any], page: str, example: dict[str, Any]) -> None:
    ids = world["ids"]
    url = _fill(example["url"], ids).removeprefix(GRAPH)
    path, _, query = url.partition("?")
    # As an HTTP client sends it: spaces and quotes escaped, '+' and %27 kept as written.
    query = quote(query, safe="=&$(),'/+%:-")
    headers = {"HTTP_AUTHORIZATION": f"Bearer {world['tokens'][example['as']]}"}
    for name, value in example.get("headers", {}).items():
        headers["HTTP_" + name.upper().replace("-", "_")] = value
    kwargs: dict[str, Any] = {"QUERY_STRING": query, **headers}
    if "body" in example:
        kwargs.update(data=json.dumps(_fill(example["body"], ids)), content_type="application/json")
    response = Client().generic(example["method"], path, **kwargs)
    body = json.loads(response.content) if response.content else None
    assert response.status_code == example["status"], f"{page} {example['name']}: {body}"

    if example.get("refused"):
        # Sent as documented to a world that lacks what it names (its note says where it passes).
        assert body["error"]["code"] == example["refused"], body
        assert {"date", "request-id"} <= body["error"]["innerError"].keys()
    elif example.get("unsupported"):
        assert body["error"]["code"] == "notSupported", body
        assert "not supported" in body["error"]["message"]
        assert {"date", "request-id"} <= body["error"]["innerError"].keys()
    elif "resource" in example:
        context = body["@odata.context"]
        assert context.startswith("http://testserver/v1.0/$metadata#"), context
        if example.get("collection"):
            assert "$entity" not in context
            assert isinstance(body["value"], list)
            for index, item in enumerate(body["value"]):
                check_shape(item, example["resource"], f"value[{index}]")
            if "@odata.nextLink" in body:
                assert body["@odata.nextLink"].startswith("http://testserver/v1.0/")
        else:
            assert context.endswith("/$entity"), context
            check_shape(body, example["resource"])
    else:
        assert not body, body  # 202, 204, and cancel's 200: nothing in the body
    for path_, expected in example.get("expect", {}).items():
        if path_ == "count":
            assert len(body["value"]) == expected, body
        else:
            assert _dig(body, path_) == _fill(expected, ids), f"{path_}: {body}"
