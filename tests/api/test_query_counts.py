"""Every list endpoint costs the same number of queries for 1 row and for 50 (rule §8)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from governance import models as m
from tests import factories as f
from tests.api.conftest import Api, ApiMaker

pytestmark = pytest.mark.django_db


def _policy(catalog: m.Catalog, approver: m.User) -> m.AssignmentPolicy:
    policy = f.PolicyFactory(
        package__catalog=catalog, allowed_target_scope=m.TargetScope.SPECIFIC_USERS, requires_approval=True
    )
    policy.specific_users.add(approver)
    policy.specific_groups.add(f.DirectoryGroupFactory())
    stage = f.ApprovalStageFactory(policy=policy)
    f.StageApproverFactory(stage=stage, user=approver)
    f.StageApproverFactory(stage=stage, kind=m.ApproverKind.MANAGER, user=None, is_fallback=True)
    return policy


def _package(catalog: m.Catalog, approver: m.User) -> None:
    policy = _policy(catalog, approver)
    f.PackageResourceRoleFactory(package=policy.package, resource_role__resource__catalog=catalog)
    f.PackageResourceRoleFactory(package=policy.package, resource_role__resource__catalog=catalog)


def _request(catalog: m.Catalog, approver: m.User) -> None:
    assignment = f.AssignmentFactory(policy__package__catalog=catalog)
    f.RequestFactory(
        policy=assignment.policy, target=assignment.target, assignment=assignment, state=m.RequestState.DELIVERED
    )


def _assignment(catalog: m.Catalog) -> None:
    f.AssignmentFactory(policy__package__catalog=catalog)


def _organization(catalog: m.Catalog, approver: m.User) -> None:
    organization = f.ConnectedOrganizationFactory()
    f.OrganizationDomainFactory(organization=organization)
    f.OrganizationDomainFactory(organization=organization)


Builder = Callable[[m.Catalog, m.User], Any]

# collection, query string, how to add one row, the pinned number of queries.
ENDPOINTS: list[tuple[str, str, Builder, int]] = [
    ("catalogs", "", lambda c, a: f.CatalogFactory(), 2),
    ("resources", "$expand=roles,catalog", lambda c, a: f.ResourceRoleFactory(resource__catalog=c), 3),
    # A policy costs one query for its reviewers (issue 17), one for its questions and one for its
    # custom extensions (customExtensionStageSettings, issue 18; an expanded assignmentPolicy too),
    # whatever the number of rows.
    ("accessPackages", "$expand=resourceRoleScopes,assignmentPolicies,catalog", _package, 12),
    ("assignmentPolicies", "$expand=accessPackage,catalog", _policy, 10),
    ("assignmentRequests", "$expand=accessPackage,requestor,assignment", _request, 3),
    ("assignments", "$expand=accessPackage,assignmentPolicy,target", lambda c, a: _assignment(c), 9),
    ("connectedOrganizations", "", _organization, 3),
    ("/v1.0/users", "", lambda c, a: f.UserFactory(), 2),
    ("/v1.0/groups", "", lambda c, a: f.DirectoryGroupFactory(), 2),
]  # fmt: skip


def _count(api: Api, collection: str, query: str) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as captured:
        answer = api.call("GET", f"{collection}?{query}" if query else collection)
    assert answer.status == 200, answer.body
    return len(captured), len(answer.body["value"])


@pytest.mark.parametrize(("collection", "query", "build", "pinned"), ENDPOINTS, ids=[e[0] for e in ENDPOINTS])
def test_list_query_count_is_constant(
    api_as: ApiMaker,
    catalog: m.Catalog,
    approver: m.User,
    collection: str,
    query: str,
    build: Builder,
    pinned: int,
    django_assert_max_num_queries: Any,
) -> None:
    api = api_as(role="global_admin")
    api.get("catalogs")  # the token's "last used" is written once a minute, not on every call
    build(catalog, approver)
    with django_assert_max_num_queries(pinned):
        one, rows = _count(api, collection, query)
    assert rows >= 1
    for _ in range(49):
        build(catalog, approver)
    with django_assert_max_num_queries(pinned):
        fifty, rows = _count(api, collection, query)
    assert rows >= 50
    assert fifty == one, f"{collection}: {one} queries at 1 row, {fifty} at 50"


def test_personal_token_lists_cost_the_same(api_as: ApiMaker, requestor: m.User, catalog: m.Catalog) -> None:
    api = api_as(user=requestor)
    api.get("/v1.0/me")
    f.RequestFactory(target=requestor, policy__package__catalog=catalog)
    one, _ = _count(api, "assignmentRequests", "$expand=accessPackage")
    for _ in range(49):
        f.RequestFactory(target=requestor, policy__package__catalog=catalog, state=m.RequestState.CANCELED)
    fifty, rows = _count(api, "assignmentRequests", "$expand=accessPackage")
    assert rows == 50
    assert fifty == one
