"""OpenID Connect sign-in against a real provider (oidc-provider-mock), through the real
redirect flow: Django's test client on our side, HTTP on the provider's side."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import Client

from governance import models as m
from tests import factories as f
from tests.conftest import snapshot
from tests.identity.conftest import Provider, callback_path
from tests.ldap_server import free_port

pytestmark = pytest.mark.django_db


def start(client: Client, next_url: str = "") -> str:
    """Click "Sign in with <provider>": the provider's authorize URL we are sent to."""
    response = client.get("/accounts/sso/" + (f"?next={next_url}" if next_url else ""))
    assert response.status_code == 302, response.content[:300]
    return str(response["Location"])


def sign_in_as(client: Client, provider: Provider, sub: str, next_url: str = "") -> Any:
    location = provider.authorize(start(client, next_url), sub)
    return client.get(callback_path(location))


def signed_in_user(client: Client) -> m.User | None:
    response = client.get("/myaccess/")
    return response.wsgi_request.user if response.wsgi_request.user.is_authenticated else None  # type: ignore[return-value]


def test_without_an_issuer_nothing_about_sso_shows(client: Client, settings: Any) -> None:
    settings.OIDC_ISSUER = ""
    page = client.get("/accounts/login/")
    assert page.status_code == 200
    assert b"Sign in with" not in page.content
    assert b"ingle sign-on" not in page.content
    assert client.get("/accounts/sso/").status_code == 404
    assert client.get("/accounts/sso/callback/?code=x&state=y").status_code == 404
    call_command("check")


def test_internal_user_signs_in_through_the_redirect_flow(client: Client, oidc_provider: Provider) -> None:
    oidc_provider.set_user(
        "alice-sub",
        email="Alice@Portcullis.example",
        email_verified=True,
        preferred_username="alice",
        name="Alice Example",
        given_name="Alice",
        family_name="Example",
        groups=["staff", "oncall"],
    )
    page = client.get("/accounts/login/?next=/myaccess/")
    assert b"Sign in with Portcullis ID" in page.content
    assert b'name="username"' in page.content  # the local form stays

    authorize = start(client, "/myaccess/")
    query = parse_qs(urlsplit(authorize).query)
    assert authorize.startswith(f"{oidc_provider.issuer}/oauth2/authorize?")
    assert query["client_id"] == ["portcullis-test"]
    assert query["redirect_uri"] == ["http://testserver/accounts/sso/callback/"]
    assert query["code_challenge_method"] == ["S256"]
    assert "nonce" in query

    response = client.get(callback_path(oidc_provider.authorize(authorize, "alice-sub")))
    assert response.status_code == 302
    assert response["Location"] == "/myaccess/"

    alice = signed_in_user(client)
    assert alice is not None
    assert alice.username == "alice"
    assert alice.email == alice.user_principal_name == "alice@portcullis.example"
    assert (alice.display_name, alice.first_name, alice.last_name) == ("Alice Example", "Alice", "Example")
    assert alice.user_type == m.UserType.MEMBER
    assert not alice.has_usable_password()
    identity = alice.external_identities.get()
    assert (identity.provider, identity.issuer, identity.subject) == ("oidc", oidc_provider.issuer, "alice-sub")
    assert set(alice.directory_groups.values_list("display_name", flat=True)) == {"staff", "oncall"}
    assert m.AuditEvent.objects.filter(action="user.created", object_id=str(alice.pk)).exists()

    # Next time: the same account, matched by sub (not email), groups as the provider says now.
    oidc_provider.set_user(
        "alice-sub", email="alice.new@portcullis.example", preferred_username="alice", groups=["staff"]
    )
    client.logout()
    sign_in_as(client, oidc_provider, "alice-sub")
    again = signed_in_user(client)
    assert again is not None
    assert again.pk == alice.pk
    assert again.email == "alice.new@portcullis.example"
    assert list(again.directory_groups.values_list("display_name", flat=True)) == ["staff"]
    assert m.User.objects.filter(username__startswith="alice").count() == 1


def test_same_email_but_another_subject_is_not_that_account(client: Client, oidc_provider: Provider) -> None:
    oidc_provider.set_user("first", email="dana@portcullis.example", preferred_username="dana")
    oidc_provider.set_user("second", email="dana@portcullis.example", preferred_username="dana")
    sign_in_as(client, oidc_provider, "first")
    client.logout()
    before = snapshot()

    response = sign_in_as(client, oidc_provider, "second")

    assert response.status_code == 403
    assert b"Account not linked" in response.content
    assert b"An account named dana already exists" in response.content
    assert signed_in_user(client) is None
    assert snapshot() == before


def test_connected_organization_domain_makes_an_external_user(
    client: Client, oidc_provider: Provider, contoso: m.ConnectedOrganization
) -> None:
    oidc_provider.set_user("bob-sub", email="bob@contoso.example", preferred_username="bob", name="Bob Partner")
    sign_in_as(client, oidc_provider, "bob-sub")
    bob = signed_in_user(client)
    assert bob is not None
    assert bob.user_type == m.UserType.GUEST
    assert bob.connected_organization == contoso
    assert bob.username == "bob@contoso.example"  # never collides with an internal username


def test_unknown_domain_is_refused_with_a_clear_page(client: Client, oidc_provider: Provider) -> None:
    oidc_provider.set_user("mallory", email="mallory@elsewhere.example", preferred_username="admin")
    before = snapshot()
    users = m.User.objects.count()

    response = sign_in_as(client, oidc_provider, "mallory")

    assert response.status_code == 403
    assert b"Organization not connected" in response.content
    assert b"elsewhere.example is not a connected organization" in response.content
    assert signed_in_user(client) is None
    assert snapshot() == before
    assert m.User.objects.count() == users


def test_a_policy_for_all_external_users_admits_unknown_domains(
    client: Client, oidc_provider: Provider, make_package: Any
) -> None:
    make_package(allowed_target_scope=m.TargetScope.ALL_EXTERNAL)
    oidc_provider.set_user("erin-sub", email="erin@newpartner.example")
    sign_in_as(client, oidc_provider, "erin-sub")
    erin = signed_in_user(client)
    assert erin is not None
    assert erin.user_type == m.UserType.GUEST
    organization = erin.connected_organization
    assert organization is not None
    assert organization.state == m.ConnectedOrganizationState.PROPOSED
    assert list(organization.domains.values_list("domain", flat=True)) == ["newpartner.example"]


@pytest.mark.parametrize("email", ["eve@eng.portcullis.example", "eve@corp.example"])
def test_a_sign_in_never_proposes_the_tenants_own_domain(
    client: Client, oidc_provider: Provider, make_package: Any, settings: Any, email: str
) -> None:
    """Under "All users not in your directory" an unknown domain becomes a proposed
    organization, but never one of ours (a member domain's subdomain, a TENANT_DOMAINS one)."""
    settings.TENANT_DOMAINS = ["corp.example"]
    make_package(allowed_target_scope=m.TargetScope.ALL_EXTERNAL)
    oidc_provider.set_user("eve-sub", email=email, email_verified=True)
    before = snapshot()

    response = sign_in_as(client, oidc_provider, "eve-sub")

    assert response.status_code == 403
    assert b"belongs to this organization itself" in response.content
    assert signed_in_user(client) is None
    assert not m.OrganizationDomain.objects.filter(domain=email.split("@")[1]).exists()
    assert snapshot() == before


def synced(username: str, email: str = "") -> m.User:
    """An account the directory sync brought in (an LDAP identity), not yet signed in by SSO."""
    user = f.UserFactory(username=username, email=email or f"{username}@portcullis.example")
    f.ExternalIdentityFactory(user=user, provider=m.IdentityProvider.LDAP, issuer="ldap", subject=f"{username}-uuid")
    return user


def test_a_directory_synced_account_is_linked_by_its_verified_email(client: Client, oidc_provider: Provider) -> None:
    carol = synced("carol")
    oidc_provider.set_user(
        "carol-sub", email="Carol@Portcullis.example", email_verified=True, preferred_username="carol"
    )
    sign_in_as(client, oidc_provider, "carol-sub")
    assert signed_in_user(client) == carol
    assert carol.external_identities.filter(provider=m.IdentityProvider.OIDC, subject="carol-sub").exists()
    assert m.AuditEvent.objects.filter(action="user.linked_to_sign_in", object_id=str(carol.pk)).exists()


def test_the_email_links_even_when_the_username_claim_differs(client: Client, oidc_provider: Provider) -> None:
    dave = synced("dave")
    oidc_provider.set_user("dave-sub", email="dave@portcullis.example", email_verified=True, preferred_username="d.s")
    sign_in_as(client, oidc_provider, "dave-sub")
    assert signed_in_user(client) == dave
    assert not m.User.objects.filter(username="d.s").exists()


@pytest.mark.parametrize(
    ("claims", "says"),
    [
        # Someone at the provider names themselves after the victim, with their own address...
        ({"email": "mallory@portcullis.example", "email_verified": True}, b"An account named carol already exists"),
        # ... or with the victim's address, which the provider has not verified.
        ({"email": "carol@portcullis.example"}, b"only when the identity provider has verified"),
        (
            {"email": "carol@portcullis.example", "email_verified": "no"},
            b"only when the identity provider has verified",
        ),
    ],
    ids=["another-address", "unverified-address", "not-true"],
)
def test_a_username_claim_never_takes_over_an_account(
    client: Client, oidc_provider: Provider, claims: dict[str, Any], says: bytes
) -> None:
    carol = synced("carol")
    oidc_provider.set_user("mallory-sub", preferred_username="carol", **claims)
    before = snapshot()

    response = sign_in_as(client, oidc_provider, "mallory-sub")

    assert response.status_code == 403
    assert b"Account not linked" in response.content
    assert says in response.content
    assert signed_in_user(client) is None
    assert not carol.external_identities.filter(provider=m.IdentityProvider.OIDC).exists()
    assert not m.ExternalIdentity.objects.filter(subject="mallory-sub").exists()
    assert snapshot() == before


def test_an_unverified_address_of_a_synced_account_is_not_linked_under_another_name(
    client: Client, oidc_provider: Provider
) -> None:
    carol = synced("carol")
    oidc_provider.set_user("mallory-sub", email="carol@portcullis.example", preferred_username="carol2")
    response = sign_in_as(client, oidc_provider, "mallory-sub")
    assert response.status_code == 403
    assert b"only when the identity provider has verified" in response.content
    assert signed_in_user(client) is None
    assert not carol.external_identities.filter(provider=m.IdentityProvider.OIDC).exists()
    assert not m.User.objects.filter(username="carol2").exists()


def test_two_synced_accounts_with_the_address_link_neither(client: Client, oidc_provider: Provider) -> None:
    synced("erin")
    synced("erin.b", email="ERIN@portcullis.example")
    oidc_provider.set_user("erin-sub", email="erin@portcullis.example", email_verified=True, preferred_username="e")
    response = sign_in_as(client, oidc_provider, "erin-sub")
    assert response.status_code == 403
    assert b"Several accounts here have the address erin@portcullis.example" in response.content
    assert not m.ExternalIdentity.objects.filter(subject="erin-sub").exists()


@pytest.mark.parametrize(
    ("email_of", "verified"),
    [
        pytest.param(lambda admin: "evil@portcullis.example", False, id="another-email"),
        pytest.param(lambda admin: admin.email, True, id="its-own-verified-email"),
    ],
)
def test_a_local_account_is_never_taken_over(
    client: Client, oidc_provider: Provider, admin: m.User, email_of: Any, verified: bool
) -> None:
    """Not even through its own verified email: a local account is nobody's to claim."""
    verification = {"email_verified": True} if verified else {}
    oidc_provider.set_user("evil", email=email_of(admin), preferred_username="admin", **verification)
    response = sign_in_as(client, oidc_provider, "evil")
    assert response.status_code == 403
    assert b"An account named admin already exists" in response.content
    assert not admin.external_identities.exists()
    assert signed_in_user(client) is None


def test_blocked_external_user_sees_why(client: Client, oidc_provider: Provider, partner: m.User) -> None:
    f.ExternalIdentityFactory(user=partner, issuer=oidc_provider.issuer, subject="partner-sub")
    f.ExternalUserOffboardingFactory(user=partner, blocked_at=partner.date_joined)
    partner.is_active = False
    partner.save()
    oidc_provider.set_user("partner-sub", email="partner@contoso.example")
    response = sign_in_as(client, oidc_provider, "partner-sub")
    assert response.status_code == 403
    assert b"Sign-in blocked" in response.content
    assert b"Your access to Portcullis has ended" in response.content
    assert signed_in_user(client) is None


def test_blocked_account_loses_its_session(client: Client, oidc_provider: Provider) -> None:
    oidc_provider.set_user("frank-sub", email="frank@portcullis.example", preferred_username="frank")
    sign_in_as(client, oidc_provider, "frank-sub")
    assert signed_in_user(client) is not None
    m.User.objects.filter(username="frank").update(is_active=False)
    assert signed_in_user(client) is None


def test_missing_or_unverified_email_is_refused(client: Client, oidc_provider: Provider) -> None:
    oidc_provider.set_user("no-mail", preferred_username="nomail", email="")
    response = sign_in_as(client, oidc_provider, "no-mail")
    assert response.status_code == 403
    assert b"did not send your email address" in response.content
    oidc_provider.set_user("unverified", email="gina@portcullis.example", email_verified=False)
    response = sign_in_as(client, oidc_provider, "unverified")
    assert response.status_code == 403
    assert b"is not verified" in response.content
    assert not m.User.objects.exists()


def test_denied_at_the_provider(client: Client, oidc_provider: Provider) -> None:
    location = oidc_provider.deny(start(client))
    response = client.get(callback_path(location))
    assert response.status_code == 403
    assert b"Sign-in canceled" in response.content


def test_a_replayed_or_forged_callback_signs_nobody_in(client: Client, oidc_provider: Provider) -> None:
    oidc_provider.set_user("henry-sub", email="henry@portcullis.example", preferred_username="henry")
    path = callback_path(oidc_provider.authorize(start(client), "henry-sub"))
    other = Client()
    response = other.get(path)  # another browser: no state in its session
    assert response.status_code == 400
    assert b"Sign-in did not complete" in response.content
    assert client.get(path).status_code == 302
    client.logout()
    assert client.get(path).status_code == 400  # the same code twice
    assert client.get("/accounts/sso/callback/?code=forged&state=forged").status_code == 400
    assert m.User.objects.filter(username="henry").count() == 1


def test_provider_down_leaves_local_sign_in_working(client: Client, settings: Any, requestor: m.User) -> None:
    settings.OIDC_ISSUER = f"http://127.0.0.1:{free_port()}"
    settings.OIDC_RP_CLIENT_ID = "portcullis"
    settings.OIDC_RP_CLIENT_SECRET = "secret"
    settings.OIDC_PROVIDER_NAME = "Portcullis ID"
    settings.AUTHENTICATION_BACKENDS = [
        "django.contrib.auth.backends.ModelBackend",
        "governance.identity.oidc.OIDCBackend",
    ]
    from django.core.cache import cache

    cache.clear()
    assert b"Sign in with Portcullis ID" in client.get("/accounts/login/").content

    response = client.get("/accounts/sso/", follow=True)
    assert response.redirect_chain == [("/accounts/login/", 302)]
    assert b"Sign-in with Portcullis ID is unavailable right now" in response.content
    assert b"Local accounts can still sign in" in response.content
    # The login page remembers it for a minute without asking the provider again.
    assert b"Single sign-on is unavailable" in client.get("/accounts/login/").content

    response = client.post("/accounts/login/", {"username": "requestor", "password": "pw"})
    assert response.status_code == 302
    assert signed_in_user(client) == requestor
    assert client.get("/accounts/sso/callback/?code=x&state=y").status_code in (302, 400)


def test_a_wrong_issuer_is_explained(client: Client, oidc_provider: Provider, settings: Any) -> None:
    settings.OIDC_ISSUER = f"{oidc_provider.issuer}/realms/typo"
    response = client.get("/accounts/sso/", follow=True)
    assert response.status_code == 200
    assert b"is unavailable right now" in response.content
    assert f"does not answer at {oidc_provider.issuer}/realms/typo/.well-known/openid-configuration".encode() in (
        response.content
    )


def test_misconfiguration_is_reported_by_check_and_on_the_login_page(client: Client, settings: Any) -> None:
    settings.OIDC_ISSUER = "id.example"
    settings.OIDC_RP_CLIENT_ID = ""
    settings.OIDC_RP_CLIENT_SECRET = ""
    settings.OIDC_MEMBER_DOMAINS = []
    with pytest.raises(SystemCheckError) as raised:
        call_command("check")
    text = str(raised.value)
    assert "OIDC_ISSUER must be an http(s) URL" in text
    assert "OIDC_CLIENT_ID is not set" in text
    assert "OIDC_CLIENT_SECRET is not set" in text
    assert "OIDC_MEMBER_DOMAINS is empty" in text

    page = client.get("/accounts/login/")
    assert page.status_code == 200
    assert b"Sign in with" not in page.content
    assert b"Single sign-on is unavailable: OIDC_ISSUER must be an http(s) URL" in page.content
    assert b'name="password"' in page.content


def test_an_id_token_issued_to_another_client_signs_nobody_in(
    client: Client, oidc_provider: Provider, settings: Any
) -> None:
    """The provider's ID token names the client it was issued to (``aud``); a token meant for
    another application at the same provider must not sign anyone in here."""
    oidc_provider.set_user("ivy-sub", email="ivy@portcullis.example", preferred_username="ivy")
    location = oidc_provider.authorize(start(client), "ivy-sub")
    settings.OIDC_RP_CLIENT_ID = "another-application"
    before = snapshot()

    response = client.get(callback_path(location))

    # The provider refuses to hand this client's code to another client; either way (refused
    # there, or an ID token whose audience is not us, refused here) nobody is signed in.
    assert response.status_code == 400
    assert b"Sign-in did not complete" in response.content
    assert b"refused to complete this sign-in (400 invalid_grant)" in response.content
    assert signed_in_user(client) is None
    assert snapshot() == before
    assert not m.User.objects.filter(username="ivy").exists()
