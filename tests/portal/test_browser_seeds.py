"""The administrator procedures of seeds 000, 001, 003 and 004, clicked through in chromium.

Each test follows its seed's steps with the seed's words: open Identity Governance, click
Access packages, open the package, click the tab, and so on.
"""

from __future__ import annotations

import csv
import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from governance import models as m
from governance.services import assignments
from tests import factories as f
from tests.browser import screenshot, sign_in
from tests.conftest import members_of
from tests.portal.conftest import Scene, broken_role, pending_request, repair

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def open_package(page: Page, name: str, tab: str | None = None) -> None:
    """Identity Governance > Access packages > the package (> a tab)."""
    page.goto("/governance/")
    page.get_by_role("navigation", name="Menu").get_by_role("link", name="Access packages").click()
    page.get_by_role("link", name=name, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(name)
    if tab:
        page.get_by_role("navigation", name="Access package").get_by_role("link", name=tab).click()


def fact(page: Page, term: str) -> Any:
    """The value next to ``term`` in an object's list of facts."""
    return page.locator(f"dl.facts dt:text-is('{term}') + dd")


def message(page: Page) -> Any:
    return page.locator(".messages")


def results(page: Page) -> Any:
    return page.locator("#results")


def test_create_a_policy(page: Page, catalog: m.Catalog, pkg_manager: m.User, approver: m.User, requestor) -> None:
    """Seed 003, "Create a policy": who can request, approval, justification, expiration."""
    package = f.AccessPackageFactory(catalog=catalog, display_name="Developer tools")
    sign_in(page, "pkgmanager")
    open_package(page, "Developer tools", "Policies")
    page.get_by_role("link", name="Add policy").click()
    page.get_by_label("Name", exact=True).fill("Engineers")
    page.get_by_label("Description", exact=True).fill("For the engineering team")
    page.get_by_label("Specific users and groups in your directory").check()
    # The people picker searches as one types (htmx).
    page.get_by_label("Users who can request").fill("requestor")
    page.get_by_label(str(requestor)).check()
    page.get_by_label("Require approval", exact=True).check()
    stage = page.locator("#stage-1")
    stage.get_by_label("Approvers", exact=True).fill("approver")
    stage.get_by_label(str(approver)).check()
    page.get_by_label("Require approver justification").check()
    page.get_by_label("Require requestor justification").check()
    page.get_by_label("Number of days").check()
    page.get_by_label("Days", exact=True).fill("30")
    page.get_by_label("Allow users to extend access").check()
    expect(page.get_by_label("Enabled")).to_be_checked()
    screenshot(page, "policy-form")
    page.get_by_role("button", name="Create").click()
    expect(message(page)).to_contain_text("Policy Engineers created.")
    expect(page.get_by_role("row", name="Engineers")).to_contain_text("1 stage")
    screenshot(page, "policies")
    policy = package.policies.get()
    assert list(policy.specific_users.all()) == [requestor]
    assert policy.requires_approval
    assert policy.approver_justification_required
    assert policy.requestor_justification_required
    assert policy.allow_extension
    assert (policy.expiration_type, policy.expiration_days) == ("after_days", 30)
    assert policy.stages.get().approvers.get().user == approver


def test_directly_assign_a_user(page: Page, make_package, pkg_manager: m.User, deliver) -> None:
    """Seed 003, "Directly assign a user": an admin-direct policy, then New assignment."""
    package = make_package(roles=1, name="Production on-call")
    role = m.ResourceRole.objects.get(package_links__package=package)
    dana = f.UserFactory(username="dana", display_name="Dana Doe")
    sign_in(page, "pkgmanager")
    open_package(page, "Production on-call", "Policies")
    page.get_by_role("link", name="Add policy").click()
    page.get_by_label("Name", exact=True).fill("Admin direct")
    page.get_by_label("No one (admin direct assignment only)").check()
    # Only expiration settings remain for such a policy.
    expect(page.get_by_label("Require approval", exact=True)).to_be_hidden()
    page.get_by_label("Number of days").check()
    page.get_by_label("Days", exact=True).fill("90")
    page.get_by_role("button", name="Create").click()
    expect(message(page)).to_contain_text("Policy Admin direct created.")

    page.get_by_role("navigation", name="Access package").get_by_role("link", name="Assignments").click()
    page.get_by_role("link", name="New assignment").click()
    page.get_by_label("Users").fill("dana")
    page.get_by_label("Dana Doe").check()
    page.get_by_label("Policy").select_option(label="Admin direct")
    page.get_by_label("Justification").fill("Joins the on-call rota")
    screenshot(page, "new-assignment")
    page.get_by_role("button", name="Assign").click()
    expect(message(page)).to_contain_text("Assigned: Dana Doe.")
    deliver()
    page.reload()
    expect(page.get_by_role("row", name="Dana Doe")).to_contain_text("Delivered")
    assert "dana" in members_of(role)
    request = m.AssignmentRequest.objects.get(target=dana)
    assert request.request_type == "adminAdd"
    assert request.justification == "Joins the on-call rota"


def test_view_and_filter_assignments_and_download(page: Page, scene: Scene, pkg_manager: m.User) -> None:
    """Seed 003, "View who has an assignment": filter Partially fulfilled, Expired; Download."""
    f.AssignmentFactory(
        package=scene.package,
        policy=scene.direct_policy,
        target=f.UserFactory(username="erin", display_name="Erin Ended"),
        state=m.AssignmentState.EXPIRED,
    )
    sign_in(page, "pkgmanager")
    open_package(page, "Production on-call", "Assignments")
    expect(results(page)).to_contain_text("Alice Anders")
    expect(results(page)).to_contain_text("Bob Brown")
    expect(results(page)).not_to_contain_text("Erin Ended")
    screenshot(page, "assignments")
    page.get_by_role("link", name="Bob Brown").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Bob Brown")
    expect(page.locator("main")).to_contain_text("Permanent error")
    screenshot(page, "assignment-detail")
    page.go_back()

    page.get_by_label("Status").select_option(label="Partially fulfilled")
    expect(results(page)).not_to_contain_text("Alice Anders")
    expect(results(page)).to_contain_text("Bob Brown")
    expect(page).to_have_url(re.compile("status=partiallyDelivered"))  # in the address, to share or reload
    page.get_by_label("Status").select_option(label="Expired")
    expect(results(page)).to_contain_text("Erin Ended")
    expect(results(page)).not_to_contain_text("Bob Brown")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download").click()
    with open(download.value.path(), newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["Person"], r["Status"]) for r in rows] == [("Erin Ended", "Expired")]
    # Search as one types, and sort by a column: only the table is swapped, the URL follows.
    page.get_by_label("Status").select_option(label="Active")
    expect(page).to_have_url(re.compile("status=active"))
    page.get_by_label("Person").fill("bob")
    # Each step waits for its own answer (the address follows it), so a search still on
    # its way cannot land after a later click and undo it.
    expect(page).to_have_url(re.compile("q=bob"))
    expect(results(page)).not_to_contain_text("Alice Anders")
    expect(results(page)).to_contain_text("Bob Brown")
    page.get_by_label("Person").fill("")
    expect(page).to_have_url(re.compile(r"q=&"))
    expect(results(page)).to_contain_text("Alice Anders")
    results(page).get_by_role("link", name="Person").click()
    expect(page).to_have_url(re.compile(r"sort=person"))
    expect(results(page).locator("tbody tr").first).to_contain_text("Alice Anders")
    results(page).get_by_role("link", name="Person").click()
    expect(results(page).locator("tbody tr").first).to_contain_text("Bob Brown")
    expect(page).to_have_url(re.compile("sort=-person"))


def test_view_a_requests_delivery_errors(page: Page, scene: Scene, catalog_owner: m.User) -> None:
    """Seeds 000 and 003: the request's detail shows a count of delivery errors; click it."""
    sign_in(page, "owner")
    open_package(page, "Production on-call", "Requests")
    screenshot(page, "requests")
    page.get_by_role("row", name="Bob Brown").get_by_role("link", name="Bob Brown").click()
    expect(page.locator("main")).to_contain_text("Partially delivered")
    page.get_by_role("link", name="1", exact=True).click()
    errors = page.get_by_role("table", name="Delivery errors of this request")
    expect(errors).to_contain_text(str(scene.bad_role))
    expect(errors).to_contain_text("does not exist in the built-in directory")
    screenshot(page, "request-delivery-errors")


def test_reprocess_a_request_and_several(page: Page, scene: Scene, pkg_manager: m.User, admin: m.User, deliver) -> None:
    """Seed 000 "Reprocess a request", then seed 001: select several, click Reprocess."""
    sign_in(page, "pkgmanager")
    repair(scene.bad_role)
    open_package(page, "Production on-call", "Requests")
    page.get_by_role("row", name="Bob Brown").get_by_role("link", name="Bob Brown").click()
    page.get_by_role("button", name="Reprocess request").click()
    expect(message(page)).to_contain_text("Reprocessing")
    expect(page.get_by_role("button", name="Reprocess request")).to_have_count(0)
    deliver()
    page.reload()
    expect(page.locator(".page-head")).to_contain_text("Delivered")
    assert "bob" in members_of(scene.bad_role)

    # Several: two failures and one request that is still delivered.
    second = broken_role(scene.package)
    chris, dee = f.UserFactory(display_name="Chris Cole"), f.UserFactory(display_name="Dee Dunn")
    assignments.create_direct_assignments(
        admin, scene.package.pk, policy_id=scene.direct_policy.pk, target_ids=[chris.pk, dee.pk]
    )
    deliver()
    repair(second)
    open_package(page, "Production on-call", "Requests")
    page.get_by_label("Status").select_option(label="Delivery failed or partially delivered")
    expect(page).to_have_url(re.compile("status=attention"))  # the filtered table is in
    expect(results(page)).not_to_contain_text("Alice Anders")
    expect(results(page)).to_contain_text("Chris Cole")
    for person in ("Chris Cole", "Dee Dunn"):
        page.get_by_label(f"Select {person}").check()
    page.get_by_role("button", name="Reprocess").click()
    expect(message(page)).to_contain_text("Reprocess: 2 queued.")
    deliver()
    assert members_of(second) >= {chris.username, dee.username}
    page.get_by_label("Status").select_option(label="Delivered")
    expect(page).to_have_url(re.compile("status=delivered"))
    expect(results(page)).to_contain_text("Alice Anders")
    page.get_by_label("Select all rows").check()
    page.get_by_role("button", name="Reprocess").click()
    expect(message(page)).to_contain_text("skipped (Only requests that are Delivery failed or Partially delivered")


def test_cancel_a_request(page: Page, scene: Scene, assignment_manager: m.User, approver: m.User) -> None:
    """Seeds 000 and 003, "Cancel a pending request"."""
    pending = pending_request(scene.package, approver, who="carol")
    sign_in(page, "assignmgr")
    open_package(page, "Production on-call", "Requests")
    page.get_by_role("link", name=str(pending.target)).click()
    expect(page.locator("main")).to_contain_text("Pending approval")
    screenshot(page, "request-detail")
    page.get_by_label("Reason").fill("Asked twice by mistake")
    page.get_by_role("button", name="Cancel request").click()
    expect(page.locator("#confirm")).to_be_visible()  # it asks first (issue 14 item 2)
    page.get_by_role("button", name="Cancel request").click()
    expect(message(page)).to_contain_text("Request canceled.")
    expect(page.locator(".page-head")).to_contain_text("Canceled")
    expect(page.get_by_role("button", name="Cancel request")).to_have_count(0)
    pending.refresh_from_db()
    assert pending.state == m.RequestState.CANCELED


def test_add_and_remove_a_resource_role(page: Page, scene: Scene, pkg_manager: m.User, worker: Any) -> None:
    """Seed 003 "Add resource roles" / "Remove resource roles": a real worker propagates the
    change to the existing assignments while the page shows the progress."""
    new_role = f.ResourceRoleFactory(
        resource__catalog=scene.package.catalog, resource__group__display_name="Build agents"
    )
    sign_in(page, "pkgmanager")
    open_package(page, "Production on-call", "Resource roles")
    page.get_by_role("link", name="Add resource roles").click()
    # Select the resources you want to add, select the role, Add (one role: chosen already).
    page.get_by_label("Build agents", exact=True).check()
    expect(page.get_by_label("Role of Build agents")).to_have_value(str(new_role.pk))
    page.get_by_role("button", name="Add").click()
    expect(message(page)).to_contain_text("Build agents · Member added")
    operations = page.locator("#operations")
    # htmx polls the progress until the worker has granted it to both assignments.
    expect(operations).to_contain_text("2 of 2 done", timeout=30_000)
    expect(operations).to_contain_text("Completed")
    screenshot(page, "resource-roles")
    assert members_of(new_role) == {"alice", "bob"}

    page.get_by_role("row", name="Build agents").get_by_label("More actions for Build agents · Member").click()
    page.get_by_role("button", name="Remove resource role").click()
    expect(page.locator("#confirm")).to_be_visible()  # it asks first (issue 14 item 2)
    page.get_by_role("button", name="Remove resource role").click()
    expect(message(page)).to_contain_text("Build agents · Member removed")
    expect(operations.get_by_role("row").nth(1)).to_contain_text("2 of 2 done", timeout=30_000)
    assert members_of(new_role) == set()


def test_change_the_hidden_setting(page: Page, scene: Scene, catalog_owner: m.User) -> None:
    """Seed 003 "Change the Hidden setting": Overview > Edit > Hidden."""
    sign_in(page, "owner")
    open_package(page, "Production on-call")
    screenshot(page, "package-overview")
    expect(fact(page, "Hidden")).to_contain_text("No")
    page.get_by_role("link", name="Edit").click()
    page.get_by_label("Hidden").check()
    page.get_by_role("button", name="Save").click()
    expect(message(page)).to_contain_text("Changes saved.")
    expect(fact(page, "Hidden")).to_contain_text("Yes")
    expect(page.get_by_label("My Access portal link")).to_have_value(
        re.compile(f"/myaccess/packages/{scene.package.pk}/$")
    )
    scene.package.refresh_from_db()
    assert scene.package.is_hidden


def test_delete_refused_then_allowed(page: Page, make_package, pkg_manager: m.User, admin: m.User, deliver) -> None:
    """Seed 003 "Delete": only without active assignments; the refusal says why."""
    package = make_package(roles=1, name="Old project")
    direct = f.PolicyFactory(package=package, allowed_target_scope=m.TargetScope.NO_ONE, display_name="Direct")
    dana = f.UserFactory(display_name="Dana Doe")
    assignments.create_direct_assignments(admin, package.pk, policy_id=direct.pk, target_ids=[dana.pk])
    deliver()
    sign_in(page, "pkgmanager")
    open_package(page, "Old project")
    page.get_by_role("link", name="Delete").click()
    page.get_by_role("button", name="Delete").click()
    expect(message(page)).to_contain_text("Old project has 1 active assignment; remove them before deleting")
    assert m.AccessPackage.objects.filter(pk=package.pk).exists()

    page.get_by_role("navigation", name="Access package").get_by_role("link", name="Assignments").click()
    page.get_by_role("link", name="Dana Doe").click()
    page.get_by_role("button", name="Remove assignment").click()
    expect(page.locator("#confirm")).to_be_visible()  # it asks first (issue 14 item 2)
    page.get_by_role("button", name="Remove assignment").click()
    expect(message(page)).to_contain_text("Assignment removed")
    deliver()
    open_package(page, "Old project")
    page.get_by_role("link", name="Delete").click()
    page.get_by_role("button", name="Delete").click()
    expect(message(page)).to_contain_text("Access package Old project deleted.")
    expect(page.get_by_role("heading", level=1)).to_have_text("Access packages")
    assert not m.AccessPackage.objects.filter(pk=package.pk).exists()


def test_reprocess_assignments(page: Page, scene: Scene, assignment_manager: m.User, deliver) -> None:
    """Seed 004: access removed outside the portal comes back when the assignments are
    selected and reprocessed."""
    m.GroupMembership.objects.filter(user=scene.delivered.target).delete()
    assert "alice" not in members_of(scene.good_role)
    sign_in(page, "assignmgr")
    open_package(page, "Production on-call", "Assignments")
    page.get_by_label("Select all rows").check()
    page.get_by_role("button", name="Reprocess").click()
    expect(message(page)).to_contain_text("Reprocess: 2 queued.")
    deliver()
    assert "alice" in members_of(scene.good_role)


def test_main_pages_read_well_at_both_widths(page: Page, scene: Scene, admin: m.User, contoso) -> None:
    """Screenshots of the main pages at 1280 px and at a phone's 375 px, with their headings."""
    sign_in(page, "admin")
    pages = {
        "dashboard": ("/governance/", "Identity Governance"),
        "catalogs": ("/governance/catalogs/", "Catalogs"),
        "catalog": (f"/governance/catalogs/{scene.package.catalog_id}/", "Engineering"),
        "packages": ("/governance/packages/", "Access packages"),
        "all-requests": ("/governance/requests/", "Requests"),
        "all-assignments": ("/governance/assignments/", "Assignments"),
        "audit": ("/governance/audit/", "Audit log"),
        "organizations": ("/governance/organizations/", "Connected organizations"),
    }
    for name, (url, heading) in pages.items():
        page.goto(url)
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)
        screenshot(page, name)
        # Nothing wider than the window: a wide table scrolls inside its results.
        assert page.evaluate("document.documentElement.scrollWidth") <= 1280, name
    page.set_viewport_size({"width": 375, "height": 800})
    for name, url in [
        ("phone-assignments", f"/governance/packages/{scene.package.pk}/assignments/"),
        ("phone-request", f"/governance/requests/{scene.failed_request.pk}/"),
        ("phone-policy-form", f"/governance/packages/{scene.package.pk}/policies/new/"),
    ]:
        page.goto(url)
        screenshot(page, name)
        # Nothing wider than the phone: no sideways scrolling.
        assert page.evaluate("document.documentElement.scrollWidth") <= 375, name
