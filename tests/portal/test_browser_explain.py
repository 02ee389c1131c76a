"""Issue 14 item 2 and issue 22 in chromium: destructive actions ask first and say what
will happen; a person's page and "Why do I have this?" explain access."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from governance import models as m
from tests.browser import screenshot, sign_in
from tests.portal.conftest import pending_request
from tests.portal.explain_scene import SENTENCE, otto_scene

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_remove_assignment_confirms_inline_with_what_is_lost(page: Page, catalog, admin, deliver) -> None:
    otto = otto_scene(catalog, admin, deliver)
    sign_in(page, "admin")
    page.goto(f"/governance/assignments/{otto.dev_assignment.pk}/")
    page.get_by_label("Justification").fill("Left the team")
    page.get_by_role("button", name="Remove assignment").click()
    confirm = page.locator("#confirm")
    expect(confirm).to_contain_text(SENTENCE)
    expect(page.get_by_label("Justification")).to_have_value("Left the team")
    screenshot(page, "confirm-remove-assignment")
    otto.dev_assignment.refresh_from_db()
    assert otto.dev_assignment.state == m.AssignmentState.DELIVERED  # nothing happened yet

    page.get_by_role("button", name="Remove assignment").click()
    expect(page.locator(".messages")).to_contain_text("Assignment removed")
    otto.dev_assignment.refresh_from_db()
    assert otto.dev_assignment.state in m.AssignmentState.ENDED | {m.AssignmentState.DELIVERING}


def test_go_back_changes_nothing(page: Page, catalog, admin, deliver) -> None:
    otto = otto_scene(catalog, admin, deliver)
    sign_in(page, "admin")
    page.goto(f"/governance/packages/{otto.oncall.pk}/roles/")
    page.get_by_label("More actions for Builders · Member").click()
    page.get_by_role("button", name="Remove resource role").click()
    expect(page.locator("#confirm")).to_contain_text("Otto Outsider keeps Builders through Developer tools.")
    screenshot(page, "confirm-remove-resource-role")
    page.get_by_role("link", name="Go back").click()
    expect(page.get_by_role("heading", name="Resource roles")).to_be_visible()
    assert m.PackageResourceRole.objects.filter(package=otto.oncall).exists()


def test_requestor_cancel_asks_first(page: Page, make_package, approver, requestor) -> None:
    pending = pending_request(make_package(roles=1, name="Wiki"), approver, who="requestor")
    sign_in(page, "requestor")
    page.goto(f"/myaccess/requests/{pending.pk}/")
    page.get_by_role("button", name="Cancel", exact=True).click()
    expect(page.locator("#confirm")).to_contain_text("the approvers will no longer be asked")
    screenshot(page, "confirm-requestor-cancel")
    pending.refresh_from_db()
    assert pending.state == m.RequestState.PENDING_APPROVAL
    page.get_by_role("button", name="Cancel", exact=True).click()
    expect(page.get_by_text("Your request for Wiki was canceled.")).to_be_visible()
    pending.refresh_from_db()
    assert pending.state == m.RequestState.CANCELED


def test_person_page_from_an_assignment(page: Page, catalog, admin, deliver) -> None:
    otto = otto_scene(catalog, admin, deliver)
    sign_in(page, "admin")
    page.goto(f"/governance/assignments/{otto.dev_assignment.pk}/")
    page.locator("dl.facts").get_by_role("link", name="Otto Outsider").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Otto Outsider")
    held = page.get_by_role("table", name="Resource roles Otto Outsider holds, and why")
    builders = held.get_by_role("row").filter(has_text="Builders")
    expect(builders).to_contain_text("Developer tools")
    expect(builders).to_contain_text("Production on-call")
    screenshot(page, "person-page")
    builders.get_by_role("link", name="Builders · Member").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Builders")
    expect(page.locator("#holders")).to_contain_text("Production on-call")
    page.get_by_role("button", name="Read the target system").click()
    expect(page.locator("#ungoverned")).to_contain_text("Nobody: every holder has an assignment.")
    screenshot(page, "resource-page")


def test_why_do_i_have_this(page: Page, catalog, admin, deliver) -> None:
    otto = otto_scene(catalog, admin, deliver)
    otto.person.set_password("pw")
    otto.person.save()
    sign_in(page, "otto")
    page.goto("/myaccess/access/")
    row = page.get_by_role("row").filter(has_text="Developer tools")
    row.get_by_role("link", name="Why do I have this?").click()
    why = page.locator("#why")
    expect(why).to_contain_text("Member of the group Builders: given by Developer tools and Production on-call")
    expect(why).to_contain_text("If this access ends, you lose Developers and Support queue")
    screenshot(page, "why-do-i-have-this")
    why.get_by_text("Why do I have this?").click()  # it folds away
    expect(why.get_by_text("If this access ends")).to_be_hidden()
