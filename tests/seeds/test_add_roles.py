"""Issue 15 item 7 (seed 003 "Select the resources you want to add. Select the role. Click
Add"): several resources and their roles in one Add."""

from __future__ import annotations

from typing import Any

import pytest

from governance import models as m
from governance.services import packages
from tests import factories as f
from tests.conftest import members_of, snapshot
from tests.portal.conftest import Scene, text

pytestmark = pytest.mark.django_db


def url(scene: Scene) -> str:
    return f"/governance/packages/{scene.package.pk}/roles/add/"


class TestAddSeveral:
    def test_the_page_lists_each_resource_with_its_roles(self, scene: Scene, as_persona: Any) -> None:
        agents = f.ResourceRoleFactory(resource__catalog=scene.package.catalog, resource__display_name="Build agents")
        f.ResourceRoleFactory(resource=agents.resource, display_name="Owner", origin_id="owner")
        page = as_persona("pkg_manager").get(url(scene)).content.decode()
        assert "Select the resources you want to add, then the role of each." in page
        assert '<label for="id_resources_0">Build agents</label>' in page
        assert "Role of Build agents" in page
        assert ">Choose a role</option>" in page  # two roles: the person chooses
        # A role the package already has is not offered again.
        assert f'value="{scene.good_role.pk}"' not in page

    def test_two_resources_added_at_once_and_assignments_follow(self, scene: Scene, as_persona: Any, deliver) -> None:
        one = f.ResourceRoleFactory(resource__catalog=scene.package.catalog, resource__display_name="Build agents")
        two = f.ResourceRoleFactory(resource__catalog=scene.package.catalog, resource__display_name="Wiki editors")
        client = as_persona("pkg_manager")
        response = client.post(
            url(scene),
            {
                "resources": [one.resource_id, two.resource_id],
                f"role_{one.resource_id}": one.pk,
                f"role_{two.resource_id}": two.pk,
            },
            follow=True,
        )
        page = text(response)
        assert "Build agents · Member, Wiki editors · Member added." in page
        assert "Existing assignments (2) get the roles in the background." in page
        assert set(scene.package.role_links.values_list("resource_role_id", flat=True)) >= {one.pk, two.pk}
        for operation in m.RoleOperation.objects.filter(resource_role__in=[one, two]):
            packages.propagate_role_operation(operation.pk)
        deliver()
        assert members_of(one) == {"alice", "bob"}
        assert members_of(two) == {"alice", "bob"}

    def test_a_ticked_resource_without_a_role_refuses_all(self, scene: Scene, as_persona: Any) -> None:
        one = f.ResourceRoleFactory(resource__catalog=scene.package.catalog, resource__display_name="Build agents")
        two = f.ResourceRoleFactory(resource__catalog=scene.package.catalog, resource__display_name="Wiki editors")
        f.ResourceRoleFactory(resource=two.resource, display_name="Owner", origin_id="owner")
        client = as_persona("pkg_manager")
        before = snapshot()
        response = client.post(
            url(scene),
            {"resources": [one.resource_id, two.resource_id], f"role_{one.resource_id}": one.pk},
        )
        assert response.status_code == 200
        assert "Choose a role of Wiki editors." in text(response)
        assert snapshot() == before

    def test_nothing_ticked_says_select(self, scene: Scene, as_persona: Any) -> None:
        f.ResourceRoleFactory(resource__catalog=scene.package.catalog)
        response = as_persona("pkg_manager").post(url(scene), {})
        assert "Select the resources you want to add." in text(response)

    def test_another_catalogs_role_is_refused(self, scene: Scene, as_persona: Any) -> None:
        mine = f.ResourceRoleFactory(resource__catalog=scene.package.catalog)
        other = f.ResourceRoleFactory()
        client = as_persona("pkg_manager")
        before = snapshot()
        response = client.post(
            url(scene), {"resources": [mine.resource_id, other.resource_id], f"role_{mine.resource_id}": other.pk}
        )
        assert response.status_code == 200
        assert snapshot() == before
