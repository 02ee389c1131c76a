"""Connected organizations: the service (validation, uniqueness, audit, delete refused while
policies name it) and its pages."""

from __future__ import annotations

from typing import Any

import pytest

from governance import models as m
from governance.errors import NotAllowed, NotFound, StillInUse, ValidationFailed
from governance.services import organizations
from tests import factories as f
from tests.portal.conftest import text
from tests.portal.submissions import form_token

pytestmark = pytest.mark.django_db


class TestService:
    def test_create_with_domains(self, governance_admin) -> None:
        organization = organizations.create_organization(
            governance_admin,
            display_name=" Fabrikam ",
            domains=["Fabrikam.example", "fabrikam.example", "fab.example."],
        )
        assert organization.display_name == "Fabrikam"
        assert sorted(organization.domains.values_list("domain", flat=True)) == ["fab.example", "fabrikam.example"]
        event = m.AuditEvent.objects.get(action="organization.created")
        assert event.object_id == str(organization.pk)
        assert event.catalog_id is None

    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [
            ({"display_name": "", "domains": ["a.example"]}, "display_name"),
            ({"display_name": "X", "domains": []}, "domains"),
            ({"display_name": "X", "domains": ["not a domain"]}, "domains"),
            ({"display_name": "X", "domains": ["-bad.example"]}, "domains"),
            ({"display_name": "X", "domains": ["contoso.example"]}, "domains"),
            ({"display_name": "contoso", "domains": ["new.example"]}, "display_name"),
            ({"display_name": "X", "domains": ["x.example"], "state": "weird"}, "state"),
        ],
    )
    def test_refuses_bad_input(self, admin, contoso, kwargs: dict[str, Any], field: str) -> None:
        before = m.ConnectedOrganization.objects.count(), m.AuditEvent.objects.count()
        with pytest.raises(ValidationFailed) as refused:
            organizations.create_organization(admin, **kwargs)
        assert refused.value.field == field
        assert (m.ConnectedOrganization.objects.count(), m.AuditEvent.objects.count()) == before

    @pytest.mark.parametrize(
        ("domain", "own"),
        [
            ("portcullis.example", "portcullis.example"),  # a member domain (OIDC_MEMBER_DOMAINS)
            ("Eng.Portcullis.Example.", "portcullis.example"),  # its subdomain, however written
            ("corp.example", "corp.example"),  # a tenant domain (TENANT_DOMAINS)
            ("mail.corp.example", "corp.example"),
        ],
    )
    def test_refuses_the_tenants_own_domains(self, admin, settings, domain: str, own: str) -> None:
        settings.OIDC_MEMBER_DOMAINS = ["portcullis.example"]
        settings.TENANT_DOMAINS = ["Corp.example"]
        before = m.ConnectedOrganization.objects.count(), m.AuditEvent.objects.count()
        with pytest.raises(ValidationFailed) as refused:
            organizations.create_organization(admin, display_name="Impostor", domains=["impostor.example", domain])
        assert refused.value.field == "domains"
        assert f"is one of this organization's own domains ({own})" in refused.value.message
        assert (m.ConnectedOrganization.objects.count(), m.AuditEvent.objects.count()) == before

    def test_lookalike_domains_are_not_the_tenants(self, admin, settings) -> None:
        settings.OIDC_MEMBER_DOMAINS = ["portcullis.example"]
        settings.TENANT_DOMAINS = []
        organization = organizations.create_organization(
            admin, display_name="Neighbours", domains=["notportcullis.example", "portcullis.example.org"]
        )
        assert organization.domains.count() == 2

    def test_an_edit_cannot_add_the_tenants_domain(self, admin, settings, contoso) -> None:
        settings.OIDC_MEMBER_DOMAINS = ["portcullis.example"]
        with pytest.raises(ValidationFailed) as refused:
            organizations.update_organization(admin, contoso.pk, domains=["contoso.example", "hr.portcullis.example"])
        assert refused.value.field == "domains"
        assert list(contoso.domains.values_list("domain", flat=True)) == ["contoso.example"]

    def test_only_global_roles_manage_them(self, catalog_owner, contoso) -> None:
        with pytest.raises(NotAllowed):
            organizations.create_organization(catalog_owner, display_name="X", domains=["x.example"])
        with pytest.raises(NotFound):
            organizations.update_organization(catalog_owner, contoso.pk, display_name="X", domains=["x.example"])
        with pytest.raises(NotFound):
            organizations.delete_organization(catalog_owner, contoso.pk)

    def test_update_replaces_domains_and_logs_the_changes(self, user_admin, contoso) -> None:
        organizations.update_organization(
            user_admin,
            contoso.pk,
            display_name="Contoso",
            domains=["contoso.example", "contoso.test"],
            state="proposed",
        )
        contoso.refresh_from_db()
        assert contoso.state == "proposed"
        assert sorted(contoso.domains.values_list("domain", flat=True)) == ["contoso.example", "contoso.test"]
        event = m.AuditEvent.objects.get(action="organization.updated")
        assert event.data["changes"]["state"] == ["configured", "proposed"]
        # The same again changes nothing and logs nothing.
        organizations.update_organization(
            user_admin,
            contoso.pk,
            display_name="Contoso",
            domains=["contoso.test", "contoso.example"],
            state="proposed",
        )
        assert m.AuditEvent.objects.filter(action="organization.updated").count() == 1

    def test_delete_refused_while_a_policy_names_it(self, admin, contoso, partner) -> None:
        policy = f.PolicyFactory(allowed_target_scope=m.TargetScope.SPECIFIC_ORGANIZATIONS, display_name="Partners")
        policy.specific_organizations.add(contoso)
        with pytest.raises(StillInUse) as refused:
            organizations.delete_organization(admin, contoso.pk)
        assert "Partners" in refused.value.message
        policy.specific_organizations.clear()
        organizations.delete_organization(admin, contoso.pk)
        assert not m.ConnectedOrganization.objects.filter(pk=contoso.pk).exists()
        partner.refresh_from_db()
        assert partner.connected_organization is None  # the person stays in the directory
        assert m.AuditEvent.objects.filter(action="organization.deleted").exists()


class TestPages:
    def test_list_and_search_by_domain(self, as_persona: Any, contoso) -> None:
        f.OrganizationDomainFactory(domain="fabrikam.example", organization__display_name="Fabrikam")
        client = as_persona("admin")
        page = text(client.get("/governance/organizations/"))
        assert "Contoso" in page
        assert "contoso.example" in page
        assert "Fabrikam" in page
        page = text(client.get("/governance/organizations/", {"q": "fabrikam.ex"}))
        assert "Fabrikam" in page
        assert "Contoso" not in page

    def test_add_once(self, as_persona: Any) -> None:
        client = as_persona("governance_admin")
        token = form_token(client, "/governance/organizations/new/")
        data = {
            "submission": token,
            "display_name": "Fabrikam",
            "domains": "fabrikam.example, fab.example",
            "state": "configured",
        }
        response = client.post("/governance/organizations/new/", data, follow=True)
        assert "Connected organization Fabrikam added." in text(response)
        client.post("/governance/organizations/new/", data)
        assert m.ConnectedOrganization.objects.filter(display_name="Fabrikam").count() == 1
        assert m.OrganizationDomain.objects.filter(organization__display_name="Fabrikam").count() == 2

    def test_the_tenants_domain_is_refused_next_to_the_field(self, as_persona: Any, settings) -> None:
        settings.OIDC_MEMBER_DOMAINS = ["portcullis.example"]
        client = as_persona("admin")
        token = form_token(client, "/governance/organizations/new/")
        data = {"submission": token, "display_name": "Impostor", "domains": "portcullis.example", "state": "configured"}
        response = client.post("/governance/organizations/new/", data)
        assert response.status_code == 200
        [error] = response.context["form"].errors["domains"]
        assert "portcullis.example is one of this organization's own domains" in error
        assert not m.ConnectedOrganization.objects.filter(display_name="Impostor").exists()

    def test_bad_domain_next_to_the_field(self, as_persona: Any) -> None:
        client = as_persona("admin")
        token = form_token(client, "/governance/organizations/new/")
        data = {"submission": token, "display_name": "Fabrikam", "domains": "fabrikam", "state": "configured"}
        before = m.ConnectedOrganization.objects.count(), m.AuditEvent.objects.count()
        response = client.post("/governance/organizations/new/", data)
        assert response.status_code == 200
        assert response.context["form"].errors["domains"] == ["Not a domain name: fabrikam."]
        assert (m.ConnectedOrganization.objects.count(), m.AuditEvent.objects.count()) == before

    def test_edit_state(self, as_persona: Any, contoso) -> None:
        client = as_persona("admin")
        page = client.get(f"/governance/organizations/{contoso.pk}/")
        assert page.context["form"].initial["domains"] == "contoso.example"
        data = {"display_name": "Contoso", "domains": "contoso.example", "state": "proposed"}
        response = client.post(f"/governance/organizations/{contoso.pk}/", data, follow=True)
        assert "Changes saved." in text(response)
        contoso.refresh_from_db()
        assert contoso.state == "proposed"

    def test_delete_refused_then_allowed(self, as_persona: Any, contoso) -> None:
        policy = f.PolicyFactory(allowed_target_scope=m.TargetScope.SPECIFIC_ORGANIZATIONS, display_name="Partners")
        policy.specific_organizations.add(contoso)
        client = as_persona("admin")
        url = f"/governance/organizations/{contoso.pk}/delete/"
        token = form_token(client, url)
        response = client.post(url, {"submission": token}, follow=True)
        assert "Contoso is named by policies" in text(response)
        assert m.ConnectedOrganization.objects.filter(pk=contoso.pk).exists()
        policy.specific_organizations.clear()
        response = client.post(url, {"submission": token}, follow=True)
        assert "Connected organization Contoso deleted." in text(response)
        assert client.post(url, {"submission": token}).status_code == 302
