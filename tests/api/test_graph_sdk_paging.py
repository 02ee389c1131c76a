"""The unmodified msgraph-sdk loses nothing (issue 16): its PageIterator, at ``$top=1``, reaches
every item of every collection, and every enum it reads on every object is a value of the
SDK's enum, never None (what a value outside Graph's enum becomes)."""

from __future__ import annotations

import datetime as dt
import enum
import os
from typing import Any

import pytest
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph_core import PageIterator

from governance import models as m
from governance.services.api_clients import create_api_client
from governance.services.assignments import create_direct_assignments
from governance.services.requests import submit_request
from tests import factories as f
from tests.api.graph import graph_call

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

# Where each collection's objects keep an enum (dotted through nested objects and lists).
ENUMS = {
    "catalogs": ("catalog_type", "state"),
    "assignmentPolicies": ("allowed_target_scope", "expiration.type"),
    "assignmentRequests": ("request_type", "state", "schedule.expiration.type"),
    "assignments": ("state", "schedule.expiration.type"),
    "connectedOrganizations": ("state",),
    "requestsOfTarget": ("request_type", "state"),
    "assignmentsOfTarget": ("state",),
}
# Strings with a closed set of values in Graph (the SDK keeps them as str).
WORDS = {"approvals": ("stages.review_result", "stages.status"), "assignmentRequests": ("status",)}


def _top_one(builder: Any) -> RequestConfiguration:
    parameters = next(v for k, v in vars(type(builder)).items() if k.endswith("GetQueryParameters"))
    return RequestConfiguration(query_parameters=parameters(top=1))


async def _every_item(client: Any, builder: Any) -> list[Any]:
    first = await builder.get(_top_one(builder))
    items: list[Any] = []

    def keep(item: Any) -> bool:
        items.append(item)
        return True

    # The page's own type parses the next pages (msgraph-core refuses a constructor with a Parsable).
    iterator = PageIterator(first, client.request_adapter)
    await iterator.iterate(keep)
    return items


def _values(obj: Any, path: str) -> list[Any]:
    head, _, rest = path.partition(".")
    value = getattr(obj, head)
    if isinstance(value, list):
        return [v for item in value for v in (_values(item, rest) if rest else [item])]
    return _values(value, rest) if rest and value is not None else [value]


@pytest.fixture
def world(db: None) -> dict[str, Any]:
    admin = f.UserFactory(username="sdk-admin")
    f.DirectoryRoleFactory(user=admin, role=m.GlobalRole.GLOBAL_ADMIN)
    approver = f.UserFactory(username="approver")
    requestor = f.UserFactory(username="requestor", manager=approver)
    catalog = f.CatalogFactory(display_name="Engineering")
    f.CatalogFactory(display_name="Finance", state=m.CatalogState.UNPUBLISHED)
    package = f.AccessPackageFactory(catalog=catalog)
    for _ in range(2):
        f.PackageResourceRoleFactory(package=package, resource_role__resource__catalog=catalog)
    direct = f.PolicyFactory(package=package, allowed_target_scope=m.TargetScope.NO_ONE)
    asking = f.PolicyFactory(
        package=package,
        allowed_target_scope=m.TargetScope.ALL_MEMBERS,
        requires_approval=True,
        expiration_type=m.ExpirationType.NEVER,
    )
    stage = f.ApprovalStageFactory(policy=asking, order=1)
    f.StageApproverFactory(stage=stage, kind=m.ApproverKind.USER, user=approver)
    people = [f.UserFactory() for _ in range(3)]
    made = create_direct_assignments(admin, package.pk, policy_id=direct.pk, target_ids=[p.pk for p in people])
    states = [m.AssignmentState.DELIVERED, m.AssignmentState.REMOVED, m.AssignmentState.EXPIRED]
    for request, state in zip(made, states, strict=True):
        m.Assignment.objects.filter(pk=request.assignment_id).update(
            state=state, end_at=dt.datetime(2031, 1, 1, tzinfo=dt.UTC)
        )
    m.AssignmentRequest.objects.filter(pk=made[0].pk).update(state=m.RequestState.DELIVERED)
    f.RequestFactory(
        policy=direct,
        request_type=m.RequestType.USER_EXTEND,
        target=people[0],
        assignment_id=made[0].assignment_id,
        state=m.RequestState.DELIVERED,
    )
    for _ in range(3):
        submit_request(f.UserFactory(manager=approver), package.pk, policy_id=asking.pk)
    submit_request(requestor, package.pk, policy_id=asking.pk)
    f.RequestFactory(policy=asking, target=requestor, state=m.RequestState.CANCELED)
    f.AssignmentFactory(policy=f.PolicyFactory(package=f.AccessPackageFactory(catalog=catalog)), target=requestor)
    f.AssignmentFactory(policy=f.PolicyFactory(package=f.AccessPackageFactory(catalog=catalog)), target=requestor)
    f.ConnectedOrganizationFactory(display_name="Contoso")
    f.ConnectedOrganizationFactory(display_name="Fabrikam", state=m.ConnectedOrganizationState.PROPOSED)
    return {
        "catalog": catalog,
        "package": package,
        "admin": create_api_client(None, "sdk-admin", role="global_admin").token,
        "approver": create_api_client(None, "approver-laptop", username="approver").token,
        "requestor": create_api_client(None, "requestor-laptop", username="requestor").token,
    }


def test_page_iterator_at_top_one_reaches_every_item_and_every_enum_is_read(
    live_server: Any, world: dict[str, Any]
) -> None:
    catalog_id, package_id = str(world["catalog"].pk), str(world["package"].pk)

    async def admin_collections(client: Any) -> dict[str, list[Any]]:
        em = client.identity_governance.entitlement_management
        builders = {
            "catalogs": em.catalogs,
            "catalogResources": em.catalogs.by_access_package_catalog_id(catalog_id).resources,
            "catalogResourceRoles": em.catalogs.by_access_package_catalog_id(catalog_id).resource_roles,
            "resources": em.resources,
            "accessPackages": em.access_packages,
            "resourceRoleScopes": em.access_packages.by_access_package_id(package_id).resource_role_scopes,
            "assignmentPolicies": em.assignment_policies,
            "assignmentRequests": em.assignment_requests,
            "assignments": em.assignments,
            "connectedOrganizations": em.connected_organizations,
            "users": client.users,
            "groups": client.groups,
        }
        return {name: await _every_item(client, builder) for name, builder in builders.items()}

    async def approver_collections(client: Any) -> dict[str, list[Any]]:
        approvals = client.identity_governance.entitlement_management.access_package_assignment_approvals
        return {"approvals": await _every_item(client, approvals.filter_by_current_user_with_on("approver"))}

    async def requestor_collections(client: Any) -> dict[str, list[Any]]:
        em = client.identity_governance.entitlement_management
        return {
            "requestsOfTarget": await _every_item(
                client, em.assignment_requests.filter_by_current_user_with_on("target")
            ),
            "assignmentsOfTarget": await _every_item(client, em.assignments.filter_by_current_user_with_on("target")),
        }

    seen = graph_call(live_server.url, world["admin"], admin_collections)
    seen |= graph_call(live_server.url, world["approver"], approver_collections)
    seen |= graph_call(live_server.url, world["requestor"], requestor_collections)

    expected = {
        "catalogs": m.Catalog.objects.count(),
        "catalogResources": m.Resource.objects.filter(catalog=world["catalog"]).count(),
        "catalogResourceRoles": m.ResourceRole.objects.filter(resource__catalog=world["catalog"]).count(),
        "resources": m.Resource.objects.count(),
        "accessPackages": m.AccessPackage.objects.count(),
        "resourceRoleScopes": 2,
        "assignmentPolicies": m.AssignmentPolicy.objects.count(),
        "assignmentRequests": m.AssignmentRequest.objects.count(),
        "assignments": m.Assignment.objects.count(),
        "connectedOrganizations": 2,
        "users": m.User.objects.filter(is_active=True).count(),
        "groups": m.DirectoryGroup.objects.count(),
        "approvals": 4,
        "requestsOfTarget": 2,
        "assignmentsOfTarget": 2,
    }
    for name, count in expected.items():
        assert count >= 2, f"{name}: the world must hold more than one page at $top=1"
        items = seen[name]
        assert len(items) == count, f"{name}: the PageIterator saw {len(items)} of {count}"
        assert len({item.id for item in items}) == count, f"{name}: an item came twice"
    for name, paths in ENUMS.items():
        for item in seen[name]:
            for path in paths:
                for value in _values(item, path):
                    assert isinstance(value, enum.Enum), f"{name} {item.id}: {path} read as {value!r}"
    for name, paths in WORDS.items():
        for item in seen[name]:
            for path in paths:
                assert all(v is not None for v in _values(item, path)), f"{name} {item.id}: {path}"
    assert {r.request_type.value for r in seen["assignmentRequests"]} >= {"adminAdd", "userAdd", "userUpdate"}
    assert {a.state.value for a in seen["assignments"]} == {"delivered", "expired"}
