"""In a real browser: an administrator revokes a token; the API reference page renders."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from governance import models as m
from governance.services.api_clients import create_api_client
from tests import factories as f
from tests.api.conftest import EM
from tests.browser import ARTIFACTS, screenshot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_admin_revokes_a_token_in_the_portal(page: Any) -> None:
    admin = f.UserFactory(username="admin")
    f.DirectoryRoleFactory(user=admin, role=m.GlobalRole.GLOBAL_ADMIN)
    issued = create_api_client(None, "nightly-sync", role="global_admin")
    sign_in(page, "admin")
    page.goto("/governance/")
    page.get_by_role("link", name="API clients").click()
    row = page.get_by_role("row").filter(has_text="nightly-sync")
    assert "Active" in row.inner_text()
    screenshot(page, "api-clients")
    row.get_by_role("button", name="Revoke nightly-sync").click()
    page.wait_for_load_state()
    assert page.get_by_text("Revoked the token of nightly-sync").is_visible()
    assert "Revoked" in page.get_by_role("row").filter(has_text="nightly-sync").inner_text()
    screenshot(page, "api-clients-revoked")
    assert Client().get(f"{EM}/catalogs", HTTP_AUTHORIZATION=f"Bearer {issued.token}").status_code == 401


def test_api_reference_renders_from_the_schema(page: Any) -> None:
    page.goto("/api/docs/")
    page.get_by_text("Portcullis entitlement management API").first.wait_for()
    page.get_by_text("assignmentRequests").first.wait_for()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "api-docs.png"))  # the first screen; the whole page is very long
