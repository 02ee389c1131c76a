"""Separation of duties walked as people would: an administrator marks two packages and a
group incompatible on Overview > Separation of duties (the directory picker for the group),
a requestor who holds one package is refused the other with the conflict named, and the
administrator finds the people who already held both in the report and downloads it."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from governance import models as m
from tests import factories as f
from tests.browser import screenshot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_separation_of_duties_in_the_browser(page: Page, admin: m.User, requestor: m.User, make_package) -> None:
    approver_pkg = make_package(name="Finance approver")
    payments = make_package(name="Finance payments")
    f.AssignmentFactory(target=requestor, package=approver_pkg, policy=approver_pkg.policies.first())
    veteran = f.UserFactory(username="veteran", display_name="Vera Veteran")
    f.AssignmentFactory(target=veteran, package=approver_pkg, policy=approver_pkg.policies.first())
    both = f.AssignmentFactory(target=veteran, package=payments, policy=payments.policies.first())
    f.DirectoryGroupFactory(display_name="Internal auditors")

    sign_in(page, "admin")
    page.goto(f"/governance/packages/{payments.pk}/")
    page.get_by_role("link", name="0 incompatible").click()
    expect(page.get_by_role("heading", name="Separation of duties")).to_be_visible()
    page.get_by_label("Incompatible access package").select_option(label=f"Finance approver ({approver_pkg.catalog})")
    page.get_by_role("button", name="Add incompatible package").click()
    messages = page.locator(".messages")
    expect(messages).to_contain_text("Finance approver can no longer be combined with Finance payments.")

    picker = page.locator("#incompatible-groups")
    picker.get_by_label("Incompatible groups").fill("audit")
    picker.get_by_label("Internal auditors").check()
    page.get_by_role("button", name="Add incompatible groups").click()
    expect(messages).to_contain_text("Members of Internal auditors can no longer have Finance payments.")
    expect(page.locator("#incompatible-groups")).to_contain_text("Internal auditors")
    screenshot(page, "sod-separation-of-duties")

    page.get_by_role("link", name="People who already have both (1)").click()
    row = page.get_by_role("row").filter(has_text="Vera Veteran")
    expect(row).to_contain_text("Finance approver")
    expect(row.get_by_role("link", name="Finance payments")).to_have_attribute(
        "href", f"/governance/assignments/{both.pk}/"
    )
    with page.expect_download() as download:
        page.get_by_role("link", name="Download").click()
    assert "Vera Veteran" in Path(download.value.path()).read_text(encoding="utf-8")

    page.get_by_role("button", name="Sign out").click()
    sign_in(page, "requestor")
    page.goto(f"/myaccess/packages/{payments.pk}/request/")
    page.get_by_role("button", name="Submit").click()
    refusal = "You have Finance approver, which cannot be combined with Finance payments."
    expect(page.get_by_text(refusal)).to_be_visible()
    screenshot(page, "sod-request-refused")
    assert not m.AssignmentRequest.objects.filter(package=payments).exists()
