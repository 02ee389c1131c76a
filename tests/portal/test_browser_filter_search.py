"""The lists' policy and package filters are search boxes (issue 19): typed into, they list the
first matches with what tells them apart; arrows and Enter (or a click) choose one, the list
is then filtered by its id, and the download follows. axe-core checks every state (the open
listbox too: tests/browser.py checks after each htmx swap)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from governance import models as m
from governance.services import assignments
from tests import factories as f
from tests.browser import screenshot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def two_teams(admin: m.User, make_package: Any, other_catalog: m.Catalog, deliver: Any) -> dict[str, Any]:
    """Two packages whose policies share a name; one person assigned through each."""
    placed = {}
    for name, catalog, person in (("Wiki", None, "Alice Anders"), ("Ledger", other_catalog, "Bob Brown")):
        package = make_package(name=name, **({"in_catalog": catalog} if catalog else {}))
        policy = f.PolicyFactory(package=package, display_name="Contractors", allowed_target_scope=m.TargetScope.NO_ONE)
        target = f.UserFactory(display_name=person)
        assignments.create_direct_assignments(admin, package.pk, policy_id=policy.pk, target_ids=[target.pk])
        placed[name] = (package, policy)
    deliver()
    return placed


def rows(page: Page) -> Any:
    return page.locator("#results tbody tr")


def test_choose_a_policy_by_keyboard_and_a_package_by_click(page: Page, two_teams: dict[str, Any]) -> None:
    ledger, ledger_contractors = two_teams["Ledger"]
    sign_in(page, "admin")
    page.goto("/governance/assignments/")
    expect(rows(page)).to_have_count(2)
    box = page.get_by_role("combobox", name="Policy")
    box.press_sequentially("contr")
    listbox = page.get_by_role("listbox", name="Policy name: matches")
    expect(listbox).to_be_visible()
    expect(box).to_have_attribute("aria-expanded", "true")
    expect(listbox.get_by_role("option")).to_have_text(["Contractors Ledger", "Contractors Wiki"])
    expect(page.get_by_role("status").filter(has_text="2 matches.")).to_have_count(1)
    screenshot(page, "filter-search-policy-open")
    box.press("ArrowDown")
    expect(listbox.get_by_role("option").first).to_have_attribute("aria-selected", "true")
    expect(box).to_have_attribute("aria-activedescendant", "id_policy_option_1")
    with page.expect_response(lambda r: r.request.headers.get("hx-request") == "true" and "policy=" in r.url):
        box.press("Enter")
    expect(page).to_have_url(re.compile(f"policy={ledger_contractors.pk}"))
    expect(box).to_have_value("Contractors")
    expect(page.locator("#id_policy_chosen")).to_have_text("Ledger")
    expect(listbox).to_be_hidden()
    expect(rows(page)).to_have_count(1)
    expect(rows(page).first).to_contain_text("Bob Brown")
    download = page.get_by_role("link", name="Download")
    expect(download).to_have_attribute("href", re.compile(f"policy={ledger_contractors.pk}"))

    # Escape closes the list without choosing; then a package chosen with the mouse.
    page.goto("/governance/requests/")
    packages = page.get_by_role("combobox", name="Access package")
    packages.press_sequentially("led")
    options = page.get_by_role("listbox", name="Access package name: matches").get_by_role("option")
    expect(options).to_have_text(["Ledger Finance"])
    packages.press("Escape")
    expect(packages).to_have_attribute("aria-expanded", "false")
    packages.press("ArrowDown")  # opens it again
    expect(options).to_have_text(["Ledger Finance"])
    with page.expect_response(lambda r: r.request.headers.get("hx-request") == "true" and "package=" in r.url):
        options.first.click()
    expect(page).to_have_url(re.compile(f"package={ledger.pk}"))
    expect(rows(page)).to_have_count(1)
    expect(rows(page).first).to_contain_text("Bob Brown")
    screenshot(page, "filter-search-package-chosen")


def test_without_javascript_typed_text_filters_by_name(browser: Any, live_server: Any, two_teams: Any) -> None:
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    page = context.new_page()
    sign_in(page, "admin")
    page.goto("/governance/assignments/")
    page.get_by_label("Access package", exact=True).fill("wik")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"package=wik"))
    expect(rows(page)).to_have_count(1)
    expect(rows(page).first).to_contain_text("Alice Anders")
    context.close()
