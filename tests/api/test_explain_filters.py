"""Issue 22 through the API: a script builds the person's and the resource's report from
``assignments?$filter=target/objectId eq '…'`` and the resource role scope filters."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from governance import models as m
from governance.services import packages
from tests.portal.explain_scene import otto_scene

pytestmark = pytest.mark.django_db


def ids(api, expression: str) -> set[str]:  # type: ignore[no-untyped-def]
    answer = api.get("assignments", **{"$filter": quote(expression)})
    assert answer.status == 200, answer.body
    return {row["id"] for row in answer.body["value"]}


def test_target_filter_answers_the_person_page(admin_api, catalog, admin, deliver):
    otto = otto_scene(catalog, admin, deliver)
    assert ids(admin_api, f"target/objectId eq '{otto.person.pk}'") == {
        str(otto.dev_assignment.pk),
        str(otto.oncall_assignment.pk),
    }


def test_role_scope_filters_answer_the_resource_page(admin_api, catalog, admin, pkg_manager, deliver):
    otto = otto_scene(catalog, admin, deliver)
    builders = otto.roles["Builders"]
    both = {str(otto.dev_assignment.pk), str(otto.oncall_assignment.pk)}
    assert ids(admin_api, f"accessPackage/resourceRoleScopes/role/id eq '{builders.pk}'") == both
    assert ids(admin_api, f"accessPackage/resourceRoleScopes/scope/id eq '{builders.resource_id}'") == both
    developers = otto.roles["Developers"].pk
    only_dev = {str(otto.dev_assignment.pk)}
    assert ids(admin_api, f"accessPackage/resourceRoleScopes/role/id eq '{developers}'") == only_dev
    combined = f"target/objectId eq '{otto.person.pk}' and accessPackage/resourceRoleScopes/role/id eq '{developers}'"
    assert ids(admin_api, combined) == {str(otto.dev_assignment.pk)}

    operation = packages.remove_resource_role(pkg_manager, otto.oncall.pk, builders.pk)
    assert operation is not None
    packages.propagate_role_operation(operation.pk)
    deliver()
    assert ids(admin_api, f"accessPackage/resourceRoleScopes/role/id eq '{builders.pk}'") == {
        str(otto.dev_assignment.pk)
    }


def test_scoped_and_bad_input(api_as, catalog, other_catalog, admin, deliver):
    otto = otto_scene(catalog, admin, deliver)
    elsewhere = api_as(role="catalog_reader", catalog=other_catalog)
    assert ids(elsewhere, f"accessPackage/resourceRoleScopes/role/id eq '{otto.roles['Builders'].pk}'") == set()
    answer = elsewhere.get("assignments", **{"$filter": quote("accessPackage/resourceRoleScopes/role/id eq 'nope'")})
    assert answer.status == 400
    assert "GUID" in answer.error["message"]
    assert m.Assignment.objects.count() == 2
