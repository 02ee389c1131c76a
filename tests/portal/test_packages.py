"""Access packages in the portal: list, create, Overview (Hidden, link, Email this link,
Delete), Resource roles (add, remove, progress). Seed 003."""

from __future__ import annotations

from typing import Any

import pytest

from governance import models as m
from governance.services import packages
from tests import factories as f
from tests.conftest import members_of, snapshot
from tests.portal.conftest import MANAGERS, Scene, text

pytestmark = pytest.mark.django_db


def _new_package_form(client: Any, catalog: m.Catalog, name: str = "Data science") -> dict[str, Any]:
    page = client.get("/governance/packages/new/")
    return {
        "submission": page.context["form"].initial["submission"],
        "catalog": catalog.pk,
        "display_name": name,
        "description": "Notebooks and GPUs",
    }


class TestList:
    def test_search_and_filter_by_catalog(self, as_persona: Any, catalog, other_catalog) -> None:
        f.AccessPackageFactory(catalog=catalog, display_name="Developer tools")
        f.AccessPackageFactory(catalog=other_catalog, display_name="Payroll")
        client = as_persona("admin")
        page = text(client.get("/governance/packages/"))
        assert "Developer tools" in page
        assert "Payroll" in page
        page = text(client.get("/governance/packages/", {"q": "pay"}))
        assert "Payroll" in page
        assert "Developer tools" not in page
        page = text(client.get("/governance/packages/", {"catalog": catalog.pk}))
        assert "Developer tools" in page
        assert "Payroll" not in page

    def test_htmx_gets_only_the_table(self, as_persona: Any, catalog) -> None:
        f.AccessPackageFactory(catalog=catalog, display_name="Developer tools")
        response = as_persona("admin").get("/governance/packages/", {"q": "dev"}, HTTP_HX_REQUEST="true")
        body = response.content.decode()
        assert body.lstrip().startswith('<div id="results">')
        assert "Developer tools" in body
        assert "<html" not in body


class TestCreate:
    @pytest.mark.parametrize("persona", ["admin", "catalog_owner", "pkg_manager"])
    def test_creates_once_with_an_audit_row(self, as_persona: Any, persona: str, catalog) -> None:
        client = as_persona(persona)
        data = _new_package_form(client, catalog)
        first = client.post("/governance/packages/new/", data)
        package = m.AccessPackage.objects.get(display_name="Data science")
        assert first.status_code == 302
        assert first["Location"] == f"/governance/packages/{package.pk}/roles/"
        assert m.AuditEvent.objects.filter(action="package.created", object_id=str(package.pk)).exists()
        # The same form sent again (double click, reload) creates nothing more.
        second = client.post("/governance/packages/new/", data)
        assert second["Location"] == first["Location"]
        assert m.AccessPackage.objects.filter(display_name="Data science").count() == 1

    def test_bad_input_shows_the_error_and_writes_nothing(self, as_persona: Any, catalog) -> None:
        client = as_persona("admin")
        data = {**_new_package_form(client, catalog), "display_name": "   "}
        before = snapshot()
        response = client.post("/governance/packages/new/", data)
        assert response.status_code == 200
        assert response.context["form"].errors["display_name"]
        assert snapshot() == before

    def test_only_catalogs_one_manages_are_offered(self, as_persona: Any, catalog, other_catalog) -> None:
        client = as_persona("pkg_manager")
        page = client.get("/governance/packages/new/")
        assert list(page.context["form"].fields["catalog"].queryset) == [catalog]
        data = {**_new_package_form(client, catalog), "catalog": other_catalog.pk}
        before = snapshot()
        response = client.post("/governance/packages/new/", data)
        assert response.status_code == 200
        assert response.context["form"].errors["catalog"]
        assert snapshot() == before


class TestOverview:
    def test_shows_the_facts_and_the_my_access_link(self, scene: Scene, as_persona: Any, settings) -> None:
        page = text(as_persona("catalog_reader").get(f"/governance/packages/{scene.package.pk}/"))
        assert "Production on-call" in page
        assert "Hidden No" in page
        assert "Active assignments 2" in page
        body = as_persona("catalog_reader").get(f"/governance/packages/{scene.package.pk}/").content.decode()
        assert f'value="{settings.SITE_URL}/myaccess/packages/{scene.package.pk}/"' in body
        # A reader may look but not change: the buttons are absent.
        assert "Edit</a>" not in body
        assert "Delete</a>" not in body
        assert "Email this link" not in body

    @pytest.mark.parametrize("persona", MANAGERS)
    def test_set_hidden(self, scene: Scene, as_persona: Any, persona: str) -> None:
        client = as_persona(persona)
        url = f"/governance/packages/{scene.package.pk}/edit/"
        form = client.get(url)
        assert form.status_code == 200
        data = {"display_name": "Production on-call", "description": "", "is_hidden": "on"}
        response = client.post(url, data)
        assert response.status_code == 302
        scene.package.refresh_from_db()
        assert scene.package.is_hidden
        assert m.AuditEvent.objects.filter(action="package.updated", object_id=str(scene.package.pk)).count() == 1
        client.post(url, data)  # twice: nothing more to change, nothing more to log
        assert m.AuditEvent.objects.filter(action="package.updated", object_id=str(scene.package.pk)).count() == 1
        assert "Hidden Yes" in text(client.get(f"/governance/packages/{scene.package.pk}/"))

    def test_edit_refuses_an_empty_name(self, scene: Scene, as_persona: Any) -> None:
        client = as_persona("pkg_manager")
        before = snapshot()
        response = client.post(
            f"/governance/packages/{scene.package.pk}/edit/", {"display_name": "", "is_hidden": "on"}
        )
        assert response.status_code == 200
        assert "This field is required." in text(response)
        assert snapshot() == before

    def test_email_this_link_once(self, scene: Scene, as_persona: Any) -> None:
        client = as_persona("assignment_manager")
        overview = client.get(f"/governance/packages/{scene.package.pk}/")
        token = overview.context["share_form"].initial["submission"]
        recipient = f.UserFactory(username="dana", email="dana@portcullis.example")
        data = {"submission": token, "recipients": [recipient.pk], "note": "Join the rota"}
        response = client.post(f"/governance/packages/{scene.package.pk}/share/", data, follow=True)
        assert "The link was emailed to 1 person." in text(response)
        email = m.OutboundEmail.objects.get(kind="package_link")
        assert email.to_address == "dana@portcullis.example"
        assert f"/myaccess/packages/{scene.package.pk}/" in email.body_text
        assert "Join the rota" in email.body_text
        assert m.AuditEvent.objects.filter(action="package.link_shared").count() == 1
        client.post(f"/governance/packages/{scene.package.pk}/share/", data)
        assert m.OutboundEmail.objects.filter(kind="package_link").count() == 1

    def test_email_this_link_needs_someone(self, scene: Scene, as_persona: Any) -> None:
        client = as_persona("pkg_manager")
        before = snapshot()
        response = client.post(f"/governance/packages/{scene.package.pk}/share/", {"note": "hi"})
        assert response.status_code == 200
        assert response.context["share_form"].errors["recipients"]
        assert snapshot() == before

    def test_the_people_picker_searches_without_javascript(self, scene: Scene, as_persona: Any) -> None:
        f.UserFactory(username="dana", display_name="Dana Doe")
        response = as_persona("pkg_manager").post(
            f"/governance/packages/{scene.package.pk}/share/", {"recipients__q": "dana", "_search": "recipients"}
        )
        assert response.status_code == 200
        assert "Dana Doe" in text(response)
        assert not response.context["share_form"].errors
        assert not m.OutboundEmail.objects.filter(kind="package_link").exists()


class TestDelete:
    def test_refused_with_the_reason_then_allowed(self, scene: Scene, as_persona: Any, deliver) -> None:
        client = as_persona("pkg_manager")
        url = f"/governance/packages/{scene.package.pk}/delete/"
        confirm = client.get(url)
        assert confirm.status_code == 200
        data = {"submission": confirm.context["form"].initial["submission"]}
        before = snapshot()
        response = client.post(url, data, follow=True)
        assert "has 2 active assignments; remove them before deleting the package" in text(response)
        assert snapshot() == before
        for assignment in (scene.delivered, scene.partial):
            client.post(f"/governance/assignments/{assignment.pk}/remove/")
        deliver()
        response = client.post(url, data, follow=True)
        assert response.redirect_chain[-1][0] == "/governance/packages/"
        assert "Access package Production on-call deleted." in text(response)
        assert not m.AccessPackage.objects.filter(pk=scene.package.pk).exists()
        assert m.AuditEvent.objects.filter(action="package.deleted", object_id=str(scene.package.pk)).exists()
        # Sent again: it is gone already; the second click lands where the first did.
        again = client.post(url, data)
        assert again.status_code == 302
        assert again["Location"] == "/governance/packages/"


class TestResourceRoles:
    def test_lists_roles_and_their_propagation(self, scene: Scene, as_persona: Any) -> None:
        page = text(as_persona("catalog_reader").get(f"/governance/packages/{scene.package.pk}/roles/"))
        assert str(scene.good_role.resource) in page
        assert str(scene.bad_role.resource) in page
        assert "Add resource roles" not in page
        assert "Remove resource role" not in page

    def test_add_a_role_and_existing_assignments_follow(self, scene: Scene, as_persona: Any, deliver) -> None:
        client = as_persona("pkg_manager")
        new_role = f.ResourceRoleFactory(resource__catalog=scene.package.catalog)
        url = f"/governance/packages/{scene.package.pk}/roles/add/"
        chooser = client.get(url, {"resource": new_role.resource_id})
        assert chooser.status_code == 200
        assert "Member" in text(chooser)
        response = client.post(url, {"resource": new_role.resource_id, "resource_role": new_role.pk}, follow=True)
        assert "added. Existing assignments (2) get it in the background." in text(response)
        operation = m.RoleOperation.objects.get(resource_role=new_role)
        assert m.AuditEvent.objects.filter(action="package.role_added", object_id=str(scene.package.pk)).exists()
        # The task the commit queued, run here as a worker would.
        packages.propagate_role_operation(operation.pk)
        deliver()
        assert members_of(new_role) == {"alice", "bob"}
        progress = text(client.get(f"/governance/packages/{scene.package.pk}/roles/progress/"))
        assert "2 of 2 done" in progress
        assert "Completed" in progress
        # Added twice: a no-op with a message.
        again = client.post(url, {"resource": new_role.resource_id, "resource_role": new_role.pk}, follow=True)
        assert "is already in this access package" in text(again)
        assert m.RoleOperation.objects.filter(resource_role=new_role).count() == 1

    def test_add_needs_a_role_of_the_chosen_resource(self, scene: Scene, as_persona: Any) -> None:
        other = f.ResourceRoleFactory()  # another catalog's
        client = as_persona("pkg_manager")
        before = snapshot()
        response = client.post(
            f"/governance/packages/{scene.package.pk}/roles/add/",
            {"resource": scene.good_role.resource_id, "resource_role": other.pk},
        )
        assert response.status_code == 200
        assert response.context["form"].non_field_errors()
        assert snapshot() == before

    def test_remove_a_role_and_existing_assignments_lose_it(self, scene: Scene, as_persona: Any, deliver) -> None:
        client = as_persona("catalog_owner")
        assert members_of(scene.good_role) == {"alice", "bob"}
        url = f"/governance/packages/{scene.package.pk}/roles/{scene.good_role.pk}/remove/"
        response = client.post(url, follow=True)
        assert "removed. Existing assignments (2) lose it in the background." in text(response)
        packages.propagate_role_operation(m.RoleOperation.objects.get(kind="remove").pk)
        deliver()
        assert members_of(scene.good_role) == set()
        again = client.post(url, follow=True)
        assert "no longer in the access package" in text(again)
        assert m.RoleOperation.objects.filter(kind="remove").count() == 1

    def test_progress_polls_only_while_propagating(self, scene: Scene, as_persona: Any, deliver) -> None:
        client = as_persona("pkg_manager")
        url = f"/governance/packages/{scene.package.pk}/roles/"
        assert 'hx-trigger="every 2s"' not in client.get(url).content.decode()
        new_role = f.ResourceRoleFactory(resource__catalog=scene.package.catalog)
        operation = packages.add_resource_role(
            scene.package.catalog.role_assignments.first().user, scene.package.pk, new_role.pk
        )
        body = client.get(url).content.decode()
        assert 'hx-trigger="every 2s"' in body
        assert "Propagating" in body
        assert operation is not None
        packages.propagate_role_operation(operation.pk)
        deliver()
        body = client.get(url).content.decode()
        assert 'hx-trigger="every 2s"' not in body
        assert "Completed" in body
