"""Every list answers with the same number of queries for 1 row and for 50 (DESIGN §8)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from governance import models as m
from tests import factories as f

pytestmark = pytest.mark.django_db

# Session, user, roles, the rows and what the filters need (measured: 5 to 9).
MAX_QUERIES = 10


def _package(catalog: m.Catalog) -> m.AccessPackage:
    return m.AccessPackage.objects.filter(catalog=catalog).first() or f.AccessPackageFactory(catalog=catalog)


def _assignments(catalog: m.Catalog, n: int) -> str:
    package = _package(catalog)
    policy = f.PolicyFactory(package=package)
    role = f.ResourceRoleFactory(resource__catalog=catalog)
    for _ in range(n):
        assignment = f.AssignmentFactory(package=package, policy=policy)
        f.RoleGrantFactory(assignment=assignment, resource_role=role, state=m.GrantState.DRIFTED)
    return f"/governance/packages/{package.pk}/assignments/"


def _requests(catalog: m.Catalog, n: int) -> str:
    package = _package(catalog)
    policy = f.PolicyFactory(package=package)
    role = f.ResourceRoleFactory(resource__catalog=catalog)
    for _ in range(n):
        request = f.RequestFactory(package=package, policy=policy, state=m.RequestState.DELIVERY_FAILED)
        grant = f.RoleGrantFactory(
            assignment=f.AssignmentFactory(package=package, policy=policy, target=request.target), resource_role=role
        )
        f.DeliveryAttemptFactory(grant=grant, request=request)
    return f"/governance/packages/{package.pk}/requests/"


def _global(builder: Callable[[m.Catalog, int], str], url: str) -> Callable[[m.Catalog, int], str]:
    def build(catalog: m.Catalog, n: int) -> str:
        builder(catalog, n)
        return url

    return build


def _catalogs(catalog: m.Catalog, n: int) -> str:
    for _ in range(n):
        other = f.CatalogFactory()
        f.AccessPackageFactory(catalog=other)
        f.ResourceFactory(catalog=other)
    return "/governance/catalogs/"


def _packages(catalog: m.Catalog, n: int) -> str:
    for _ in range(n):
        f.AssignmentFactory(policy=f.PolicyFactory(package=f.AccessPackageFactory(catalog=catalog)))
    return "/governance/packages/"


def _audit(catalog: m.Catalog, n: int) -> str:
    for _ in range(n):
        f.AuditEventFactory(catalog_id=catalog.pk)
    return "/governance/audit/"


def _organizations(catalog: m.Catalog, n: int) -> str:
    for _ in range(n):
        organization = f.ConnectedOrganizationFactory()
        f.OrganizationDomainFactory(organization=organization)
        f.ExternalUserFactory(connected_organization=organization)
    return "/governance/organizations/"


def _policies(catalog: m.Catalog, n: int) -> str:
    package = _package(catalog)
    for _ in range(n):
        policy = f.PolicyFactory(package=package, requires_approval=True)
        f.ApprovalStageFactory(policy=policy)
    return f"/governance/packages/{package.pk}/policies/"


def _roles(catalog: m.Catalog, n: int) -> str:
    package = _package(catalog)
    for _ in range(n):
        f.PackageResourceRoleFactory(package=package)
    return f"/governance/packages/{package.pk}/roles/"


def _catalog_page(catalog: m.Catalog, n: int) -> str:
    for _ in range(n):
        f.AccessPackageFactory(catalog=catalog)
        f.ResourceRoleFactory(resource__catalog=catalog)
        f.CatalogRoleFactory(catalog=catalog)
    return f"/governance/catalogs/{catalog.pk}/"


def _dashboard(catalog: m.Catalog, n: int) -> str:
    _assignments(catalog, n)
    _requests(catalog, n)
    return "/governance/"


LISTS = {
    "package assignments": _assignments,
    "all assignments": _global(_assignments, "/governance/assignments/"),
    "package requests": _requests,
    "all requests": _global(_requests, "/governance/requests/"),
    "catalogs": _catalogs,
    "packages": _packages,
    "audit log": _audit,
    "organizations": _organizations,
    "policies": _policies,
    "resource roles": _roles,
    "catalog": _catalog_page,
    "dashboard": _dashboard,
}


def _count(client: Any, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


@pytest.mark.parametrize("name", LISTS)
def test_same_queries_for_1_and_50_rows(
    name: str, catalog: m.Catalog, admin: m.User, client: Any, django_assert_max_num_queries: Any
) -> None:
    client.force_login(admin)
    url = LISTS[name](catalog, 1)
    client.get(url)  # warm up what is loaded once per process (content types and the like)
    with django_assert_max_num_queries(MAX_QUERIES):
        one = _count(client, url)
    LISTS[name](catalog, 49)
    with django_assert_max_num_queries(MAX_QUERIES):
        fifty = _count(client, url)
    assert fifty == one, f"{name}: {one} queries for 1 row, {fifty} for 50"


def test_the_rows_are_really_there(catalog: m.Catalog, admin: m.User, client: Any) -> None:
    client.force_login(admin)
    url = _assignments(catalog, 50)
    assert len(client.get(url).context["page"].rows) == 50
    url = _requests(catalog, 50)
    assert len(client.get(url).context["page"].rows) == 50
