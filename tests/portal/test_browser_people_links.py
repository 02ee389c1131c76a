"""Issue 22 in chromium: from a list to a person's page by their linked name, and through a
resource's holders page by page (keyset: Next, then First page)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from governance import models as m
from tests import factories as f
from tests.browser import screenshot, sign_in
from tests.portal.explain_scene import otto_scene

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_from_the_assignments_list_to_the_person(page: Page, catalog, admin, deliver) -> None:
    otto = otto_scene(catalog, admin, deliver)
    sign_in(page, "admin")
    page.goto(f"/governance/packages/{otto.dev_tools.pk}/assignments/")
    row = page.get_by_role("row").filter(has_text="Otto Outsider")
    row.get_by_role("link", name="otto@portcullis.example").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Otto Outsider")
    held = page.get_by_role("table", name="Resource roles Otto Outsider holds, and why")
    expect(held.get_by_role("row").filter(has_text="Builders")).to_contain_text("Production on-call")


def test_holders_page_by_page(page: Page, catalog, admin) -> None:
    role = f.ResourceRoleFactory(resource__catalog=catalog, resource__display_name="Big group")
    policy = f.PolicyFactory(package=f.AccessPackageFactory(catalog=catalog, display_name="Everyone"))
    people = [f.UserFactory(display_name=f"Holder {n:02d}") for n in range(53)]
    for person in people:
        f.RoleGrantFactory(assignment=f.AssignmentFactory(policy=policy, target=person), resource_role=role)
    sign_in(page, "admin")
    page.goto(f"/governance/resources/{role.resource_id}/")
    holders = page.get_by_role("table", name="Holders of Big group")
    expect(holders.get_by_role("row")).to_have_count(51)  # the header and 50
    pager = page.get_by_role("navigation", name="Pages of holders")
    pager.get_by_role("link", name="Next").click()
    expect(holders.get_by_role("row")).to_have_count(4)
    screenshot(page, "resource-holders-second-page")
    page.get_by_role("navigation", name="Pages of holders").get_by_role("link", name="First page").click()
    expect(holders.get_by_role("row")).to_have_count(51)
    assert m.RoleGrant.objects.filter(resource_role=role).count() == 53


def test_a_persons_assignments_page_by_page(page: Page, catalog, admin) -> None:
    """The pager swaps the assignments in place (htmx) and works as a plain link too."""
    person = f.UserFactory(username="many", display_name="Many Packages")
    for n in range(27):
        package = f.AccessPackageFactory(catalog=catalog, display_name=f"Package {n:02d}")
        f.AssignmentFactory(policy=f.PolicyFactory(package=package), target=person)
    sign_in(page, "admin")
    page.goto(f"/governance/people/{person.pk}/")
    table = page.get_by_role("table", name="Assignments of Many Packages")
    expect(table.get_by_role("row")).to_have_count(26)  # the header and 25
    page.locator("#assignments").get_by_role("link", name="Next").click()
    expect(table.get_by_role("row")).to_have_count(3)
    expect(page.get_by_role("heading", level=1)).to_have_text("Many Packages")  # swapped in place
