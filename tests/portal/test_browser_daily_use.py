"""Issue 14, the admin portal for daily use: tables (5), the phone (6), accessibility (7),
words (8) and one audited way in (9), clicked through in chromium.

Every browser test is also checked by axe-core (tests/browser.py): a page any test visits
with an accessibility violation fails that test.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from governance import models as m
from governance.services import approvals, assignments, requests
from tests import factories as f
from tests.browser import screenshot, sign_in
from tests.portal.conftest import Scene, pending_request

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


def results(page: Page) -> Any:
    return page.locator("#results")


def in_first_screen(page: Page, locator: Any) -> bool:
    box = locator.bounding_box()
    return box is not None and box["y"] + box["height"] <= page.viewport_size["height"]


def body_rows(page: Page) -> Any:
    return results(page).locator("tbody tr")


def first_cells(page: Page, column: int) -> list[str]:
    return [text.strip() for text in body_rows(page).locator(f"td:nth-child({column})").all_inner_texts()]


# --- 5. Tables like NetBox's ---------------------------------------------------------------


@pytest.fixture
def finance(scene: Scene, other_catalog: m.Catalog, admin: m.User, make_package: Any, deliver: Any) -> m.Assignment:
    """A second catalog's package with one assignment, so filters have something to leave out."""
    package = make_package(roles=1, name="Finance reports", in_catalog=other_catalog)
    policy = f.PolicyFactory(package=package, display_name="Controllers", allowed_target_scope=m.TargetScope.NO_ONE)
    carol = f.UserFactory(username="carol", display_name="Carol Cruz", email="carol@portcullis.example")
    assignments.create_direct_assignments(admin, package.pk, policy_id=policy.pk, target_ids=[carol.pk])
    deliver()
    return m.Assignment.objects.get(target=carol)


def test_every_column_sorts_lists_filter_by_place_and_bulk_remove_is_confirmed(
    page: Page, scene: Scene, finance: m.Assignment
) -> None:
    sign_in(page, "admin")
    page.goto("/governance/assignments/")
    columns = ["Person", "Access package", "Policy", "Status", "Start", "End"]
    for column in columns:
        header = page.locator("thead th.sortable", has_text=column)
        expect(header).to_have_attribute("aria-sort", "none")
        expect(header.locator(".sort-icon")).to_have_text("↕")  # looks sortable before it is
    screenshot(page, "tables-assignments-sortable")

    page.locator("thead").get_by_role("link", name="Access package").click()
    expect(page.locator("thead th", has_text="Access package")).to_have_attribute("aria-sort", "ascending")
    expect(body_rows(page).first).to_contain_text("Finance reports")
    page.locator("thead").get_by_role("link", name="Access package").click()
    expect(page.locator("thead th", has_text="Access package")).to_have_attribute("aria-sort", "descending")
    expect(body_rows(page).first).to_contain_text("Production on-call")
    for column, first in [("Person", "Alice Anders"), ("Policy", ""), ("End", "")]:
        page.locator("thead").get_by_role("link", name=column).click()
        expect(page.locator("thead th", has_text=column)).to_have_attribute("aria-sort", "ascending")
        if first:  # equal policies and ends tie here; the order is still one an index serves
            expect(body_rows(page).first).to_contain_text(first)
    page.locator("thead").get_by_role("link", name="Policy").click()
    expect(page.locator("thead th", has_text="Policy")).to_have_attribute("aria-sort", "ascending")
    page.locator("thead").get_by_role("link", name="Policy").click()
    expect(page.locator("thead th", has_text="Policy")).to_have_attribute("aria-sort", "descending")
    expect(body_rows(page).first).to_contain_text("Carol Cruz")  # "Controllers" after "Admin direct"
    page.locator("thead").get_by_role("link", name="End").click()
    expect(page).to_have_url(re.compile(r"sort=end"))

    # Filters by catalog, access package and policy ("Any" unless chosen).
    page.goto("/governance/assignments/")
    expect(page.get_by_label("Catalog", exact=True).locator("option").first).to_have_text("Any")
    with page.expect_response(lambda r: r.request.headers.get("hx-request") == "true"):
        page.get_by_label("Catalog", exact=True).select_option(label=finance.package.catalog.display_name)
    expect(body_rows(page)).to_have_count(1)
    expect(body_rows(page).first).to_contain_text("Carol Cruz")
    page.goto("/governance/assignments/")
    # Packages and policies are search boxes (20,000 of each at full size): type, then choose.
    page.get_by_label("Access package", exact=True).press_sequentially("on-call")
    with page.expect_response(lambda r: r.request.headers.get("hx-request") == "true" and "package=" in r.url):
        page.get_by_role("option", name="Production on-call").click()
    expect(body_rows(page)).to_have_count(2)
    page.goto("/governance/assignments/")
    page.get_by_label("Policy", exact=True).press_sequentially("contr")
    with page.expect_response(lambda r: r.request.headers.get("hx-request") == "true" and "policy=" in r.url):
        page.get_by_role("option", name="Controllers Finance reports").click()
    expect(body_rows(page)).to_have_count(1)
    expect(body_rows(page).first).to_contain_text("Carol Cruz")
    screenshot(page, "tables-assignments-by-policy")

    # Requests too: every column but the computed error count sorts; catalog and package filter.
    page.goto("/governance/requests/")
    for column in ["Person", "Access package", "Type", "Status", "Created", "Completed"]:
        expect(page.locator("thead th.sortable", has_text=column)).to_have_count(1)
    page.locator("thead").get_by_role("link", name="Person").click()
    expect(body_rows(page).first).to_contain_text("Alice Anders")
    with page.expect_response(lambda r: r.request.headers.get("hx-request") == "true"):
        page.get_by_label("Catalog", exact=True).select_option(label=finance.package.catalog.display_name)
    expect(body_rows(page)).to_have_count(1)
    expect(body_rows(page).first).to_contain_text("Carol Cruz")
    screenshot(page, "tables-requests-by-catalog")

    # Bulk Remove: tick two, see who loses what, nothing changes until confirmed.
    page.goto("/governance/assignments/")
    page.get_by_label("Select Alice Anders · Production on-call").check()
    page.get_by_label("Select Bob Brown · Production on-call").check()
    page.get_by_role("button", name="Remove…").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Remove 2 assignments?")
    expect(page.get_by_role("listitem").filter(has_text="Alice Anders loses Production on-call")).to_be_visible()
    expect(page.get_by_role("listitem").filter(has_text="Bob Brown loses Production on-call")).to_be_visible()
    assert not m.AssignmentRequest.objects.filter(request_type=m.RequestType.ADMIN_REMOVE).exists()
    screenshot(page, "tables-bulk-remove-confirm")
    page.get_by_label("Justification").fill("Team left the on-call rota")
    page.get_by_role("button", name="Remove 2 assignments").click()
    expect(page.locator(".messages")).to_contain_text("Remove: 2 queued.")
    removals = m.AssignmentRequest.objects.filter(request_type=m.RequestType.ADMIN_REMOVE)
    assert {r.target.username for r in removals} == {"alice", "bob"}
    assert m.Assignment.objects.get(pk=finance.pk).state in m.AssignmentState.ACTIVE
    screenshot(page, "tables-bulk-remove-done")


# --- 6. Phone ----------------------------------------------------------------------------


def test_on_a_phone_the_menu_folds_and_the_rows_come_before_the_filters(page: Page, scene: Scene) -> None:
    sign_in(page, "admin")
    page.set_viewport_size(PHONE)
    page.goto("/governance/assignments/")
    menu_button = page.get_by_role("button", name="Menu")
    menu = page.get_by_role("navigation", name="Menu")
    expect(menu_button).to_be_visible()
    expect(menu_button).to_have_attribute("aria-expanded", "false")
    expect(menu).to_be_hidden()
    expect(page.get_by_role("button", name="Sign out")).to_be_hidden()
    # The first screen shows rows; the filters wait behind "Filters".
    expect(page.get_by_label("Person")).to_be_hidden()
    first_row = results(page).locator("tbody tr").first
    expect(first_row).to_contain_text("Bob Brown")
    screenshot(page, "phone-390-assignments")
    assert in_first_screen(page, first_row)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    page.get_by_role("button", name="Filters").click()
    expect(page.get_by_role("button", name="Filters")).to_have_attribute("aria-expanded", "true")
    with page.expect_response(lambda r: r.request.headers.get("hx-request") == "true"):
        page.get_by_label("Person").fill("bob")
    expect(results(page).get_by_role("row", name="Bob Brown")).to_be_visible()
    expect(results(page).get_by_role("row", name="Alice Anders")).to_have_count(0)
    screenshot(page, "phone-390-filters-open")

    menu_button.click()
    expect(menu_button).to_have_attribute("aria-expanded", "true")
    expect(menu).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    screenshot(page, "phone-390-menu-open")
    menu.get_by_role("link", name="Requests").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Requests")
    expect(page.get_by_role("navigation", name="Menu")).to_be_hidden()

    # At 1280 px nothing is folded and there is no Menu button.
    page.set_viewport_size({"width": 1280, "height": 900})
    expect(page.get_by_role("button", name="Menu")).to_be_hidden()
    expect(page.get_by_role("button", name="Filters")).to_be_hidden()
    expect(page.get_by_role("navigation", name="Menu")).to_be_visible()
    expect(page.get_by_label("Status")).to_be_visible()


# --- 7. Accessibility ------------------------------------------------------------------------


def test_axe_is_not_blind(page: Page, scene: Scene) -> None:
    """The check every browser test runs reports a real violation (and ours: an unnamed table)."""
    sign_in(page, "admin")
    page.goto("/governance/")
    page.evaluate(
        """() => document.querySelector("main").insertAdjacentHTML("beforeend",
        '<div id="bad"><img src="/static/none.png"><table><tr><td>x</td></tr></table></div>')"""
    )
    page.evaluate("() => window.__axeCheck()")
    found = "\n".join(page.axe.take())
    assert "image-alt" in found
    assert "table-caption" in found
    page.evaluate("() => document.getElementById('bad').remove()")


def test_skip_link_visible_focus_and_sign_out_contrast(page: Page, scene: Scene) -> None:
    sign_in(page, "admin")
    page.goto("/governance/assignments/")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    expect(skip).to_be_visible()
    assert in_first_screen(page, skip)
    screenshot(page, "a11y-skip-link")
    page.keyboard.press("Enter")
    assert page.url.endswith("#main")
    page.keyboard.press("Tab")
    focused = page.evaluate(
        """() => { const e = document.activeElement; const s = getComputedStyle(e);
        return {inMain: !!e.closest("main"), outline: s.outlineStyle, width: parseFloat(s.outlineWidth)}; }"""
    )
    assert focused["inMain"], focused
    assert focused["outline"] != "none", focused
    assert focused["width"] >= 2, focused
    screenshot(page, "a11y-focus-ring")
    # Every table says what it lists (a caption screen readers read; a label would do too).
    expect(results(page).get_by_role("table", name="Assignments")).to_be_visible()
    # Sign out reads against the dark bar: axe's colour-contrast rule passes on this page.
    page.evaluate("() => window.__axeCheck()")
    assert page.axe.take() == []


# --- 9. One audited way in ------------------------------------------------------------------


def test_django_admin_is_not_in_the_top_navigation_and_governed_models_are_read_only(
    page: Page, scene: Scene, admin: m.User
) -> None:
    admin.is_staff = admin.is_superuser = True
    admin.save()
    sign_in(page, "admin")
    page.goto("/governance/")
    sections = page.get_by_role("navigation", name="Sections")
    expect(sections.get_by_role("link", name="Identity Governance")).to_be_visible()
    expect(page.get_by_role("link", name="Django admin")).to_have_count(0)
    screenshot(page, "top-navigation-without-django-admin")
    # Still there for a superuser who types its address, read-only for what the services govern.
    page.goto(f"/django-admin/governance/catalog/{scene.package.catalog_id}/change/")
    expect(page.get_by_text(scene.package.catalog.display_name).first).to_be_visible()
    expect(page.locator("input[name=_save]")).to_have_count(0)
    expect(page.get_by_role("link", name="Delete")).to_have_count(0)


# --- 8. Words -------------------------------------------------------------------------------

SEPARATOR = "\u203a"  # the breadcrumbs' separator
UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def test_words_any_placeholders_breadcrumbs_sentences_names_and_a_readable_audit_log(
    page: Page, scene: Scene, admin: m.User, approver: m.User, make_package: Any
) -> None:
    second = f.UserFactory(username="olivia", display_name="Olivia Owner")
    pending = pending_request(scene.package, approver, who="rita")
    rita = m.User.objects.get(username="rita")
    rita.display_name = "Rita Requestor"
    rita.save()
    stage = m.ApprovalStage.objects.get(policy=pending.policy, order=1)
    f.StageApproverFactory(stage=stage, kind=m.ApproverKind.USER, user=second)
    approvals.decide(second, pending.pk, m.Decision.APPROVE, "Fine")
    wiki = make_package(name="Team wiki", approvers=[approver])
    canceled = requests.submit_request(rita, wiki.pk)
    requests.cancel_request_as_requestor(rita, canceled.pk)

    sign_in(page, "rita")
    page.goto(f"/myaccess/requests/{canceled.pk}/")
    history = page.locator("ol.timeline")
    expect(history).to_contain_text("Canceled by Rita Requestor")
    expect(history).to_contain_text("Submitted by Rita Requestor")
    crumbs = page.get_by_role("navigation", name="Breadcrumb")
    assert not crumbs.inner_text().strip().endswith(SEPARATOR)
    screenshot(page, "words-history-sentences")
    page.get_by_role("button", name="Sign out").click()

    sign_in(page, approver.username)
    page.goto(f"/myaccess/approvals/{pending.pk}/")
    expect(page.get_by_text("Already decided by Olivia Owner")).to_be_visible()
    expect(page.get_by_text(re.compile(r"Already decided by olivia\b"))).to_have_count(0)  # never the username
    page.get_by_role("button", name="Sign out").click()

    sign_in(page, "admin")
    page.goto("/governance/requests/")
    for name in ("Status", "Type"):
        expect(page.get_by_label(name, exact=True).locator("option").first).to_have_text("Any")
    assert "---------" not in page.content()
    expect(page.get_by_label("Person")).to_have_attribute("placeholder", "Person or requestor: name, username or email")
    page.goto("/governance/assignments/")
    expect(page.get_by_label("Person")).to_have_attribute("placeholder", "Name, username or email")
    page.goto("/governance/packages/")
    expect(page.get_by_label("Search")).to_have_attribute("placeholder", "Access package name")
    page.goto(f"/governance/requests/{pending.pk}/")
    expect(page.locator("table", has_text="Stage")).to_contain_text("Olivia Owner")
    assert not page.get_by_role("navigation", name="Breadcrumb").inner_text().strip().endswith(SEPARATOR)

    page.goto("/governance/audit/")
    log = results(page)
    expect(log.get_by_role("cell", name="Request approved", exact=True)).to_be_visible()
    expect(log.get_by_role("cell", name="Olivia Owner", exact=True).first).to_be_visible()
    objects = log.locator("td[data-label=Object]").all_inner_texts()
    assert objects
    assert not [text for text in objects if UUID_TEXT.search(text)], objects  # names, never ids
    assert any("Group" in text and "for Alice Anders" in text for text in objects), objects
    screenshot(page, "words-audit-log")
    with page.expect_response(lambda r: r.request.headers.get("hx-request") == "true"):
        page.get_by_label("Activity").select_option(label="Request approved")
    expect(log.locator("tbody tr")).to_have_count(1)
    expect(log.locator("tbody tr")).to_contain_text("Olivia Owner")
    page.goto("/governance/audit/")
    with page.expect_response(lambda r: r.request.headers.get("hx-request") == "true"):
        page.get_by_label("Object").fill("Rita Requestor")
    expect(log.locator("tbody tr").first).to_contain_text("Rita Requestor")
    screenshot(page, "words-audit-log-filtered")
