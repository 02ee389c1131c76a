"""The OData subset: filters, select, expand, paging and count; anything else is a 400."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from governance import models as m
from governance.api.odata import MAX_PAGE_SIZE
from tests import factories as f
from tests.api.conftest import Api
from tests.conftest import PackageMaker

pytestmark = pytest.mark.django_db


def test_filter_eq_and_contains_on_packages(
    admin_api: Api, make_package: PackageMaker, other_catalog: m.Catalog
) -> None:
    make_package(name="Developer tools")
    make_package(name="Sales tools", in_catalog=other_catalog)
    hidden = make_package(name="On-call")
    hidden.is_hidden = True
    hidden.save()

    def names(expression: str) -> list[str]:
        answer = admin_api.get("accessPackages", **{"$filter": expression})
        assert answer.status == 200, answer.body
        return sorted(p["displayName"] for p in answer.body["value"])

    assert names("contains(displayName,'tools')") == ["Developer tools", "Sales tools"]
    assert names("displayName eq 'developer tools'") == ["Developer tools"]
    assert names(f"catalog/id eq '{other_catalog.pk}'") == ["Sales tools"]
    assert names("isHidden eq true") == ["On-call"]
    assert names(f"(contains(displayName, 'tools') and catalog/id eq {other_catalog.pk})") == ["Sales tools"]
    assert names("displayName eq 'It''s not there'") == []


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"$filter": "displayName has 'x'"}, "The 'has' operator is not supported"),
        ({"$filter": "isHidden ge true"}, "'ge' is not supported on 'isHidden'"),
        ({"$filter": "assignments/any(a:a/id eq 'x')"}, "Invalid $filter"),
        ({"$filter": "createdDateTime ge 'yesterday'"}, "with a date and time"),
        ({"$filter": "length(displayName) eq 3"}, "The function 'length' is not supported"),
        ({"$orderby": "nonsense desc"}, "Sorting by 'nonsense' is not supported"),
        ({"$skip": "-1"}, "$skip is a whole number"),
        ({"$filter": "isHidden eq 'yes'"}, "'isHidden' is true or false"),
        ({"$filter": "catalog/id eq 'nope'"}, "is compared with an id"),
        ({"$filter": "displayName eq"}, "Invalid $filter"),
        ({"$search": "tools"}, "The query option '$search' is not supported"),
        ({"filter": "displayName eq 'x'"}, "Write the query option 'filter' as '$filter'"),
        ({"$expand": "assignments"}, "Cannot expand 'assignments' here"),
        ({"$expand": "*"}, "$expand=* is not supported"),
        ({"$select": "displayName,nonsense"}, "Cannot select 'nonsense' here"),
        ({"$top": "0"}, "$top is a whole number"),
        ({"$count": "yes"}, "$count is true or false"),
        ({"$skiptoken": "garbage!"}, "The $skiptoken is not valid"),
    ],
)
def test_unsupported_options_are_400_never_ignored(admin_api: Api, params: dict[str, str], message: str) -> None:
    answer = admin_api.get("accessPackages", **params)
    assert answer.status == 400, answer.body
    assert answer.error["code"] == "invalidRequest"
    assert message in answer.error["message"]


def test_item_endpoints_refuse_collection_options(admin_api: Api, make_package: PackageMaker) -> None:
    package = make_package()
    answer = admin_api.get(f"accessPackages/{package.pk}", **{"$top": "1"})
    assert answer.status == 400
    assert "'$top' is not supported" in answer.error["message"]


def test_select_keeps_only_the_named_properties(admin_api: Api, make_package: PackageMaker) -> None:
    make_package(name="Developer tools")
    answer = admin_api.get("accessPackages", **{"$select": "displayName,isHidden"})
    assert answer.body["value"][0].keys() == {"id", "displayName", "isHidden"}


def test_expand_resource_role_scopes_and_policies(admin_api: Api, make_package: PackageMaker, approver: m.User) -> None:
    package = make_package(roles=2, approvers=[approver], name="Developer tools")
    plain = admin_api.get(f"accessPackages/{package.pk}").body
    assert "resourceRoleScopes" not in plain
    assert "assignmentPolicies" not in plain
    expanded = admin_api.get(
        f"accessPackages/{package.pk}",
        **{"$expand": "resourceRoleScopes($expand=role,scope),assignmentPolicies,catalog"},
    ).body
    assert len(expanded["resourceRoleScopes"]) == 2
    scope = expanded["resourceRoleScopes"][0]
    assert scope["role"]["originSystem"] == "AadGroup"
    assert scope["scope"]["id"] == scope["role"]["resource"]["id"]
    [policy] = expanded["assignmentPolicies"]
    stage = policy["requestApprovalSettings"]["stages"][0]
    assert stage["primaryApprovers"] == [{"@odata.type": "#microsoft.graph.singleUser", "userId": str(approver.pk)}]
    assert expanded["catalog"]["displayName"] == "Engineering"


def test_paging_follows_next_link_with_a_server_side_cap(admin_api: Api, catalog: m.Catalog) -> None:
    for n in range(MAX_PAGE_SIZE + 5):
        f.AccessPackageFactory(catalog=catalog, display_name=f"Package {n:03d}")
    first = admin_api.get("accessPackages", **{"$top": "500", "$count": "true"})
    assert first.body["@odata.count"] == MAX_PAGE_SIZE + 5
    assert len(first.body["value"]) == MAX_PAGE_SIZE
    link = urlsplit(first.body["@odata.nextLink"])
    assert link.path.endswith("/accessPackages")
    second = admin_api.call("GET", f"{link.path}?{link.query}")
    assert second.status == 200, second.body
    assert len(second.body["value"]) == 5
    assert "@odata.nextLink" not in second.body
    seen = {p["id"] for p in first.body["value"]} | {p["id"] for p in second.body["value"]}
    assert len(seen) == MAX_PAGE_SIZE + 5

    small = admin_api.get("accessPackages", **{"$top": "2"})
    assert len(small.body["value"]) == 2
    assert "@odata.nextLink" in small.body


def test_users_and_groups_resolve_ids(admin_api: Api, requestor: m.User) -> None:
    group = f.DirectoryGroupFactory(display_name="Developers", mail="devs@portcullis.example")
    users = admin_api.get("/v1.0/users", **{"$filter": "userPrincipalName eq 'requestor@portcullis.example'"})
    assert users.body["value"] == [
        {
            "id": str(requestor.pk),
            "displayName": str(requestor),
            "mail": "requestor@portcullis.example",
            "userPrincipalName": "requestor@portcullis.example",
            "userType": "Member",
        }
    ]
    by_mail = admin_api.get("/v1.0/users", **{"$filter": "mail eq 'REQUESTOR@portcullis.example'"})
    assert [u["id"] for u in by_mail.body["value"]] == [str(requestor.pk)]
    groups = admin_api.get("/v1.0/groups", **{"$filter": "mail eq 'devs@portcullis.example'"})
    assert [g["id"] for g in groups.body["value"]] == [str(group.pk)]


def test_assignment_filters_on_state_and_package(admin_api: Api, make_package: PackageMaker, deliver) -> None:
    from governance.services.assignments import create_direct_assignments

    package = make_package(allowed_target_scope=m.TargetScope.NO_ONE)
    other = make_package(allowed_target_scope=m.TargetScope.NO_ONE)
    people = [f.UserFactory() for _ in range(3)]
    admin = m.User.objects.create_superuser("root", "root@portcullis.example", "pw")
    create_direct_assignments(
        admin, package.pk, policy_id=package.policies.get().pk, target_ids=[p.pk for p in people[:2]]
    )
    create_direct_assignments(admin, other.pk, policy_id=other.policies.get().pk, target_ids=[people[2].pk])
    deliver()
    answer = admin_api.get(
        "assignments",
        **{"$filter": f"accessPackage/id eq '{package.pk}' and state eq 'delivered'", "$expand": "target"},
    )
    assert sorted(a["target"]["objectId"] for a in answer.body["value"]) == sorted(str(p.pk) for p in people[:2])
    # "removed" is ours, not Graph's: Graph clients see and filter on "expired".
    assert admin_api.get("assignments", **{"$filter": "state eq 'expired'"}).body["value"] == []
    assert admin_api.get("assignments", **{"$filter": "state eq 'removed'"}).status == 400
    wrong = admin_api.get("assignments", **{"$filter": "state eq 'gone'"})
    assert wrong.status == 400
    assert "is not a value of 'state'" in wrong.error["message"]
