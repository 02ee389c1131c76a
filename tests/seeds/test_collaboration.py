"""Issue 15 item 5 (seed 003): external users in the policy form. "Specific connected
organizations" found by domain, shown with name and initial domain; Collaboration
restrictions (allow or deny list, on the Connected organizations page) respected by the
policy form and by sign-in."""

from __future__ import annotations

from typing import Any

import pytest

from governance import models as m
from governance.services import organizations
from governance.services.signin import ClaimNames, SignInRefused, user_from_claims
from tests import factories as f
from tests.conftest import snapshot
from tests.portal.conftest import text

pytestmark = pytest.mark.django_db

NAMES = ClaimNames(member_domains=("portcullis.example",))


@pytest.fixture
def fabrikam(db) -> m.ConnectedOrganization:
    organization = f.ConnectedOrganizationFactory(display_name="Fabrikam")
    f.OrganizationDomainFactory(organization=organization, domain="fabrikam.example")
    f.OrganizationDomainFactory(organization=organization, domain="fabrikam-labs.example")
    return organization


@pytest.fixture
def package(catalog: m.Catalog) -> m.AccessPackage:
    return f.AccessPackageFactory(catalog=catalog, display_name="Developer tools")


def policy_form(client: Any, package: m.AccessPackage, **fields: Any) -> dict[str, Any]:
    page = client.get(f"/governance/packages/{package.pk}/policies/new/")
    return {
        "submission": page.context["form"].initial["submission"],
        "display_name": "Partners",
        "allowed_target_scope": m.TargetScope.SPECIFIC_ORGANIZATIONS,
        "expiration_type": m.ExpirationType.AFTER_DAYS,
        "expiration_days": "30",
        "enabled": "on",
        **fields,
    }


class TestSpecificConnectedOrganizations:
    def test_searched_by_domain_with_name_and_initial_domain(self, package, as_persona, contoso, fabrikam):
        client = as_persona("pkg_manager")
        page = client.get(f"/governance/packages/{package.pk}/policies/new/").content.decode()
        assert '<label for="id_specific_organizations">Specific connected organizations</label>' in page
        assert 'placeholder="Search organizations by domain"' in page
        found = client.get(
            "/governance/directory/search/",
            {"kind": "organization", "name": "specific_organizations", "specific_organizations__q": "labs"},
        ).content.decode()
        assert f'name="specific_organizations" value="{fabrikam.pk}"' in found
        assert 'Fabrikam <span class="muted small">fabrikam.example</span>' in found  # the initial domain
        assert "Contoso" not in found
        nothing = client.get(
            "/governance/directory/search/",
            {"kind": "organization", "name": "specific_organizations", "specific_organizations__q": "zzz"},
        ).content.decode()
        assert "No other connected organization has a domain matching" in nothing

    def test_the_chosen_organization_is_saved(self, package, as_persona, fabrikam):
        client = as_persona("pkg_manager")
        response = client.post(
            f"/governance/packages/{package.pk}/policies/new/",
            policy_form(client, package, specific_organizations=[fabrikam.pk]),
        )
        assert response.status_code == 302
        assert list(package.policies.get().specific_organizations.all()) == [fabrikam]


class TestCollaborationRestrictions:
    def test_set_on_the_connected_organizations_page(self, admin):
        from tests.myaccess.conftest import signed_in

        client = signed_in(admin)
        assert "Allow any domain (most inclusive)" in text(client.get("/governance/organizations/"))
        response = client.post(
            "/governance/organizations/collaboration/",
            {"mode": m.CollaborationMode.DENY, "domains": "fabrikam.example, Evil.example"},
            follow=True,
        )
        page = text(response)
        assert "Collaboration restrictions saved: Deny the domains listed." in page
        assert "Deny the domains listed: fabrikam.example, evil.example." in page
        assert m.AuditEvent.objects.filter(action="tenant.collaboration_restricted").exists()
        bad = client.post("/governance/organizations/collaboration/", {"mode": "allow", "domains": "not a domain!"})
        assert bad.status_code == 200
        assert "Not a domain name" in text(bad)
        empty = client.post("/governance/organizations/collaboration/", {"mode": "allow", "domains": ""})
        assert "List at least one domain, or allow any domain." in text(empty)

    def test_only_organization_managers_see_it(self, pkg_manager):
        from tests.myaccess.conftest import signed_in

        assert signed_in(pkg_manager).get("/governance/organizations/collaboration/").status_code == 404

    def test_the_policy_form_refuses_a_denied_organization(self, admin, package, as_persona, fabrikam, contoso):
        organizations.update_collaboration_restriction(
            admin, mode=m.CollaborationMode.DENY, domains=["fabrikam.example", "fabrikam-labs.example"]
        )
        client = as_persona("pkg_manager")
        data = policy_form(client, package, specific_organizations=[fabrikam.pk, contoso.pk])
        before = snapshot()
        response = client.post(f"/governance/packages/{package.pk}/policies/new/", data)
        assert response.status_code == 200
        assert (
            "Fabrikam (fabrikam-labs.example, fabrikam.example) is not allowed by the collaboration restrictions: "
            "fabrikam-labs.example is on the list of domains this organization does not collaborate with."
        ) in text(response)
        assert snapshot() == before
        # Contoso alone is fine.
        data = policy_form(client, package, specific_organizations=[contoso.pk])
        assert client.post(f"/governance/packages/{package.pk}/policies/new/", data).status_code == 302

    def test_an_allow_list_refuses_everyone_else(self, admin, package, as_persona, fabrikam, contoso):
        organizations.update_collaboration_restriction(
            admin, mode=m.CollaborationMode.ALLOW, domains=["contoso.example"]
        )
        client = as_persona("pkg_manager")
        response = client.post(
            f"/governance/packages/{package.pk}/policies/new/",
            policy_form(client, package, specific_organizations=[fabrikam.pk]),
        )
        assert "is not on the list of domains this organization collaborates with" in text(response)


class TestSignIn:
    def claims(self, email: str) -> dict[str, Any]:
        return {"sub": email, "email": email, "name": "Someone"}

    def test_a_denied_domain_cannot_sign_in_with_a_clear_message(self, admin, contoso):
        organizations.update_collaboration_restriction(
            admin, mode=m.CollaborationMode.DENY, domains=["contoso.example"]
        )
        with pytest.raises(SignInRefused) as refused:
            user_from_claims("https://idp.example", self.claims("ann@sub.contoso.example"), NAMES)
        assert refused.value.title == "Domain not allowed"
        assert str(refused.value) == (
            "Accounts from sub.contoso.example cannot sign in to Portcullis: sub.contoso.example is on the list of "
            "domains this organization does not collaborate with. This is the organization's collaboration "
            "restriction; ask your contact here if you need access."
        )
        assert not m.User.objects.filter(email="ann@sub.contoso.example").exists()

    def test_an_allowed_domain_signs_in_and_members_are_never_restricted(self, admin, contoso):
        organizations.update_collaboration_restriction(
            admin, mode=m.CollaborationMode.ALLOW, domains=["contoso.example"]
        )
        guest = user_from_claims("https://idp.example", self.claims("bob@contoso.example"), NAMES)
        assert guest.connected_organization == contoso
        member = user_from_claims("https://idp.example", self.claims("carol@portcullis.example"), NAMES)
        assert member.user_type == m.UserType.MEMBER
        with pytest.raises(SignInRefused, match="is not on the list of domains"):
            user_from_claims("https://idp.example", self.claims("dan@fabrikam.example"), NAMES)
