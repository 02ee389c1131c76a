"""Catalogs: create, edit, delete (rule 10), members' roles, resources from a connector."""

from __future__ import annotations

from typing import Any

import pytest

from governance import models as m
from governance.connectors.builtin import builtin_connector
from governance.services.catalogs import Candidate
from tests import factories as f
from tests.conftest import snapshot
from tests.portal.conftest import Scene, text
from tests.portal.submissions import form_token

pytestmark = pytest.mark.django_db


def test_list_shows_only_ones_catalogs(as_persona: Any, catalog, other_catalog, catalog_reader) -> None:
    page = text(as_persona("catalog_reader").get("/governance/catalogs/"))
    assert "Engineering" in page
    assert "Finance" not in page
    page = text(as_persona("admin").get("/governance/catalogs/", {"q": "fin"}))
    assert "Finance" in page
    assert "Engineering" not in page


class TestCreateEditDelete:
    def test_create_once_and_own_it(self, as_persona: Any, governance_admin) -> None:
        client = as_persona("governance_admin")
        token = form_token(client, "/governance/catalogs/new/")
        data = {"submission": token, "display_name": "Marketing", "description": "Campaign tools"}
        response = client.post("/governance/catalogs/new/", data, follow=True)
        catalog = m.Catalog.objects.get(display_name="Marketing")
        assert response.redirect_chain[-1][0] == f"/governance/catalogs/{catalog.pk}/"
        assert not catalog.is_externally_visible  # the box was not ticked
        assert m.CatalogRoleAssignment.objects.filter(catalog=catalog, user=governance_admin, role="owner").exists()
        assert m.AuditEvent.objects.filter(action="catalog.created", object_id=str(catalog.pk)).exists()
        client.post("/governance/catalogs/new/", data)
        assert m.Catalog.objects.filter(display_name="Marketing").count() == 1

    def test_create_refuses_a_taken_name(self, as_persona: Any, catalog) -> None:
        client = as_persona("admin")
        token = form_token(client, "/governance/catalogs/new/")
        before = snapshot()
        response = client.post("/governance/catalogs/new/", {"submission": token, "display_name": "engineering"})
        assert response.status_code == 200
        assert response.context["form"].errors["display_name"] == ["A catalog with this name already exists."]
        assert snapshot() == before

    def test_edit(self, as_persona: Any, catalog) -> None:
        client = as_persona("catalog_owner")
        data = {"display_name": "Engineering", "description": "Builds things", "state": "unpublished"}
        response = client.post(f"/governance/catalogs/{catalog.pk}/edit/", data, follow=True)
        assert "Changes saved." in text(response)
        catalog.refresh_from_db()
        assert catalog.state == "unpublished"
        assert catalog.description == "Builds things"
        assert m.AuditEvent.objects.filter(action="catalog.updated", object_id=str(catalog.pk)).count() == 1
        client.post(f"/governance/catalogs/{catalog.pk}/edit/", data)
        assert m.AuditEvent.objects.filter(action="catalog.updated", object_id=str(catalog.pk)).count() == 1

    def test_delete_refused_while_not_empty_then_allowed(self, scene: Scene, as_persona: Any) -> None:
        catalog = scene.package.catalog
        client = as_persona("catalog_owner")
        url = f"/governance/catalogs/{catalog.pk}/delete/"
        token = form_token(client, url)
        before = snapshot()
        response = client.post(url, {"submission": token}, follow=True)
        assert "Engineering still has access packages (Production on-call) and resources" in text(response)
        assert snapshot() == before
        empty = f.CatalogFactory(display_name="Empty")
        client = as_persona("admin")
        url = f"/governance/catalogs/{empty.pk}/delete/"
        token = form_token(client, url)
        response = client.post(url, {"submission": token}, follow=True)
        assert "Catalog Empty deleted." in text(response)
        assert not m.Catalog.objects.filter(pk=empty.pk).exists()
        assert client.post(url, {"submission": token}).status_code == 302


class TestMembers:
    def test_add_and_remove_a_role(self, as_persona: Any, catalog) -> None:
        dana = f.UserFactory(username="dana", display_name="Dana Doe")
        client = as_persona("catalog_owner")
        response = client.post(
            f"/governance/catalogs/{catalog.pk}/roles/add/",
            {"users": [dana.pk], "role": "package_manager"},
            follow=True,
        )
        assert "Dana Doe: Access package manager." in text(response)
        role = m.CatalogRoleAssignment.objects.get(catalog=catalog, user=dana)
        assert role.role == "package_manager"
        client.post(f"/governance/catalogs/{catalog.pk}/roles/add/", {"users": [dana.pk], "role": "package_manager"})
        assert m.CatalogRoleAssignment.objects.filter(catalog=catalog, user=dana).count() == 1
        assert m.AuditEvent.objects.filter(action="catalog.role_added", data__user="dana").count() == 1
        client.post(f"/governance/catalogs/{catalog.pk}/roles/{role.pk}/remove/")
        assert not m.CatalogRoleAssignment.objects.filter(catalog=catalog, user=dana).exists()
        assert m.AuditEvent.objects.filter(action="catalog.role_removed").count() == 1
        # Removed twice: nothing more happens.
        client.post(f"/governance/catalogs/{catalog.pk}/roles/{role.pk}/remove/")
        assert m.AuditEvent.objects.filter(action="catalog.role_removed").count() == 1

    def test_add_needs_people_and_a_role(self, as_persona: Any, catalog) -> None:
        client = as_persona("catalog_owner")
        before = snapshot()
        response = client.post(f"/governance/catalogs/{catalog.pk}/roles/add/", {"role": "nonsense"})
        assert response.status_code == 200
        errors = response.context["role_form"].errors
        assert "users" in errors
        assert "role" in errors
        assert snapshot() == before


class TestResources:
    def test_search_the_connector_and_add_a_group(self, as_persona: Any, catalog, catalog_owner) -> None:
        # Rule 17: a catalog owner adds groups they own (tests/security covers the refusals).
        group = f.DirectoryGroupFactory(display_name="Build agents", owners=[catalog_owner])
        client = as_persona("catalog_owner")
        connector = builtin_connector()
        url = f"/governance/catalogs/{catalog.pk}/resources/add/"
        found = client.get(url, {"connector": connector.pk, "q": "build"})
        assert found.context["results"] == [Candidate(str(group.pk), "Build agents", False, [str(catalog_owner)])]
        data = {
            "connector": connector.pk,
            "origin_id": str(group.pk),
            "display_name": "Build agents",
            "resource_type": "group",
        }
        response = client.post(f"{url}?connector={connector.pk}&q=build", data, follow=True)
        assert "Build agents added to Engineering." in text(response)
        resource = m.Resource.objects.get(catalog=catalog, origin_id=str(group.pk))
        assert list(resource.roles.values_list("display_name", flat=True)) == ["Member"]
        assert m.AuditEvent.objects.filter(action="resource.added", object_id=str(resource.pk)).exists()
        assert response.context["results"] == [Candidate(str(group.pk), "Build agents", True, [str(catalog_owner)])]
        again = client.post(url, data, follow=True)
        assert "This resource is already in the catalog." in text(again)
        assert m.Resource.objects.filter(catalog=catalog).count() == 1

    def test_the_search_partial_for_htmx(self, as_persona: Any, catalog, catalog_owner) -> None:
        f.DirectoryGroupFactory(display_name="Build agents", owners=[catalog_owner])
        response = as_persona("catalog_owner").get(
            f"/governance/catalogs/{catalog.pk}/resources/add/", {"q": "build"}, HTTP_HX_REQUEST="true"
        )
        body = response.content.decode()
        assert body.lstrip().startswith('<div id="results">')
        assert "Build agents" in body

    def test_remove_refused_while_used_then_allowed(self, scene: Scene, as_persona: Any) -> None:
        client = as_persona("catalog_owner")
        catalog = scene.package.catalog
        used = scene.good_role.resource
        before = snapshot()
        response = client.post(f"/governance/catalogs/{catalog.pk}/resources/{used.pk}/remove/", follow=True)
        assert f"{used} is used by access packages: Production on-call" in text(response)
        assert snapshot() == before
        unused = f.ResourceFactory(catalog=catalog, display_name="Spare group")
        response = client.post(f"/governance/catalogs/{catalog.pk}/resources/{unused.pk}/remove/", follow=True)
        assert "Spare group removed from Engineering." in text(response)
        assert not m.Resource.objects.filter(pk=unused.pk).exists()
        again = client.post(f"/governance/catalogs/{catalog.pk}/resources/{unused.pk}/remove/", follow=True)
        assert "no longer in the catalog" in text(again)
