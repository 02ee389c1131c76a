"""Single sign-on in a real browser: the login page's button, the provider's own sign-in
form, back to Portcullis signed in; a refused organization sees why; local sign-in still works."""

from __future__ import annotations

from typing import Any

import pytest

from governance import models as m
from tests import factories as f
from tests.browser import screenshot, sign_in
from tests.identity.conftest import Provider

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in_with_provider(page: Any, sub: str) -> None:
    page.goto("/accounts/login/?next=/myaccess/")
    page.get_by_role("link", name="Sign in with Portcullis ID").click()
    page.wait_for_url("**/oauth2/authorize**")
    page.locator("input[name=sub]").fill(sub)
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_load_state()


def test_sign_in_with_the_provider(page: Any, oidc_provider: Provider) -> None:
    oidc_provider.set_user(
        "alice-sub", email="alice@portcullis.example", preferred_username="alice", name="Alice Example"
    )
    page.goto("/accounts/login/")
    assert page.get_by_role("link", name="Sign in with Portcullis ID").is_visible()
    assert page.get_by_label("Username").is_visible()
    screenshot(page, "sso-login-page")

    sign_in_with_provider(page, "alice-sub")

    assert page.url.endswith("/myaccess/")
    assert page.get_by_role("heading", name="Request access").is_visible()
    assert page.get_by_text("Alice Example").first.is_visible()
    screenshot(page, "sso-signed-in")
    alice = m.User.objects.get(username="alice")
    assert alice.external_identities.get().subject == "alice-sub"

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_load_state()
    sign_in_with_provider(page, "alice-sub")  # the provider remembers nobody; we match by sub
    assert page.url.endswith("/myaccess/")
    assert m.User.objects.filter(username__startswith="alice").count() == 1


def test_refused_organization_and_local_fallback(page: Any, oidc_provider: Provider) -> None:
    f.UserFactory(username="breakglass", display_name="Break Glass")
    oidc_provider.set_user("mallory", email="mallory@elsewhere.example")

    sign_in_with_provider(page, "mallory")

    assert page.get_by_role("heading", name="Organization not connected").is_visible()
    assert page.get_by_text("elsewhere.example is not a connected organization").is_visible()
    screenshot(page, "sso-refused")
    page.get_by_role("link", name="Back to sign-in").click()
    sign_in(page, "breakglass")
    assert page.url.endswith("/myaccess/")


def test_lifecycle_settings_in_the_browser(page: Any, admin: m.User, contoso: m.ConnectedOrganization) -> None:
    sign_in(page, "admin")
    page.goto("/governance/")
    page.get_by_role("link", name="Sign-in and directory").click()
    assert page.get_by_role("heading", name="External users' lifecycle").is_visible()
    page.get_by_role("link", name="Edit Contoso").click()
    page.get_by_label("Block external user from signing in").uncheck()
    page.get_by_label("Number of days before removing external user").fill("0")
    page.get_by_role("button", name="Save").click()
    assert page.get_by_text("Between 1 and 3650 days.").is_visible()
    page.get_by_label("Number of days before removing external user").fill("45")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url("**/governance/identity/")
    assert page.get_by_text("Saved what happens to Contoso's external users.").is_visible()
    assert page.get_by_role("cell", name="After 45 days").is_visible()
    screenshot(page, "identity-page")
    rules = m.ExternalUserLifecycle.objects.get(organization=contoso)
    assert (rules.block_sign_in, rules.remove_after_days) == (False, 45)
