"""Issue 15 in a real browser: seed 001 after the reprocess window (item 1), the Requests
list's Policy column, filter and Download (item 4), and the request form's words (item 8)."""

from __future__ import annotations

import csv
import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from governance import models as m
from governance.services import requests
from tests import factories as f
from tests.browser import screenshot, sign_in
from tests.conftest import members_of
from tests.portal.conftest import broken_role

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_seed_001_after_the_window_cancel_and_request_again(
    page: Page, requestor: m.User, make_package, deliver, time_machine
) -> None:
    package = make_package(name="Team wiki", roles=1)
    broken_role(package)
    request = requests.submit_request(requestor, package.pk)
    deliver()
    request.refresh_from_db()
    assert request.state == m.RequestState.PARTIALLY_DELIVERED
    delivered_role = next(r for r in m.ResourceRole.objects.filter(package_links__package=package) if members_of(r))

    # Within the window: the page says an administrator can reprocess, and offers nothing else.
    sign_in(page, "requestor")
    page.goto(f"/myaccess/requests/{request.pk}/")
    expect(page.locator(".next-steps")).to_contain_text("you do not need to request again")
    expect(page.get_by_role("link", name="Cancel and request again")).to_have_count(0)

    # Fifteen days later the window has passed (and the session with it: sign in again).
    time_machine.move_to(timezone.now() + timedelta(days=15), tick=True)
    sign_in(page, "requestor")
    page.goto(f"/myaccess/requests/{request.pk}/")
    steps = page.locator(".next-steps")
    expect(steps).to_contain_text("Cancel it and make a new request")
    expect(steps).not_to_contain_text("you do not need to request again")
    screenshot(page, "seeds15-request-again-offered")
    page.get_by_role("link", name="Cancel and request again").click()
    expect(page.get_by_role("heading", name="Cancel and request again")).to_be_visible()
    screenshot(page, "seeds15-request-again-confirm")
    page.get_by_role("button", name="Cancel and request again").click()

    # One action: canceled, and the request form is open.
    expect(page.locator(".messages")).to_contain_text("Your request for Team wiki was canceled.")
    expect(page.get_by_role("heading", name="Request access", exact=True)).to_be_visible()
    page.get_by_label("Business justification (optional)").fill("Second try")
    page.get_by_role("button", name="Submit").click()
    expect(page.locator(".next-steps")).to_be_visible()
    screenshot(page, "seeds15-requested-again")
    request.refresh_from_db()
    assert request.state == m.RequestState.CANCELED
    assert m.AssignmentRequest.objects.filter(package=package, target=requestor).count() == 2
    deliver()
    # The first assignment's access was revoked; the new request delivers it again.
    assert m.Assignment.objects.get(pk=request.assignment_id).state == m.AssignmentState.REMOVED
    assert requestor.username in members_of(delivered_role)


def test_requests_show_their_policy_filter_and_download(
    page: Page, admin: m.User, requestor: m.User, outsider: m.User, make_package
) -> None:
    package = make_package(name="Team wiki")
    staff = package.policies.get()
    m.AssignmentPolicy.objects.filter(pk=staff.pk).update(display_name="Staff policy")
    guests = f.PolicyFactory(
        package=package, display_name="Guest policy", allowed_target_scope=m.TargetScope.ALL_MEMBERS
    )
    requests.submit_request(requestor, package.pk, policy_id=staff.pk)
    requests.submit_request(outsider, package.pk, policy_id=guests.pk)
    sign_in(page, "admin")
    page.goto(f"/governance/packages/{package.pk}/requests/")
    table = page.locator("#results")
    expect(table.get_by_role("columnheader", name="Policy")).to_be_visible()
    expect(table).to_contain_text("Staff policy")
    expect(table).to_contain_text("Guest policy")
    page.get_by_label("Policy").select_option(label="Guest policy")
    expect(page).to_have_url(re.compile(f"policy={guests.pk}"))
    expect(table).not_to_contain_text("Staff policy")
    screenshot(page, "seeds15-requests-policy")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download").click()
    with open(download.value.path(), newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["Person"], r["Policy"]) for r in rows] == [(outsider.display_name, "Guest policy")]


def test_choosing_no_policy_says_choose_one(page: Page, requestor: m.User, make_package) -> None:
    package = make_package(name="Team wiki")
    f.PolicyFactory(package=package, display_name="Second way", allowed_target_scope=m.TargetScope.ALL_MEMBERS)
    sign_in(page, "requestor")
    page.goto(f"/myaccess/packages/{package.pk}/request/")
    page.get_by_role("button", name="Submit").click()
    expect(page.locator("#request-pane")).to_contain_text("Choose one of the policies.")
    expect(page.locator("#request-pane")).not_to_contain_text("This field is required.")


def test_external_users_in_the_policy_form(page: Page, admin: m.User, catalog: m.Catalog) -> None:
    """Item 5: collaboration restrictions set on the Connected organizations page; the policy
    form finds organizations by domain, shows name and initial domain, and refuses a denied one."""
    package = f.AccessPackageFactory(catalog=catalog, display_name="Partner portal")
    fabrikam = f.ConnectedOrganizationFactory(display_name="Fabrikam")
    f.OrganizationDomainFactory(organization=fabrikam, domain="fabrikam.example")
    contoso = f.ConnectedOrganizationFactory(display_name="Contoso")
    f.OrganizationDomainFactory(organization=contoso, domain="contoso.example")
    sign_in(page, "admin")
    page.goto("/governance/organizations/")
    page.get_by_role("link", name="Edit collaboration restrictions").click()
    page.get_by_label("Deny the domains listed").check()
    page.get_by_role("textbox", name="Domains").fill("fabrikam.example")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".messages")).to_contain_text("Collaboration restrictions saved: Deny the domains listed.")
    expect(page.locator(".collaboration")).to_contain_text("fabrikam.example")
    screenshot(page, "seeds15-collaboration")

    page.goto(f"/governance/packages/{package.pk}/policies/new/")
    page.get_by_label("Name").first.fill("Partners")
    page.locator("input[name=allowed_target_scope][value=specificConnectedOrganizationUsers]").check()
    search = page.get_by_role("searchbox", name="Specific connected organizations")
    search.fill("fabrikam")
    options = page.locator("#id_specific_organizations_options")
    expect(options).to_contain_text("Fabrikam fabrikam.example")
    expect(options).not_to_contain_text("Contoso")
    screenshot(page, "seeds15-policy-organizations")
    options.get_by_label("Fabrikam").check()
    page.get_by_role("button", name="Create").click()
    expect(page.locator("body")).to_contain_text(
        "Fabrikam (fabrikam.example) is not allowed by the collaboration restrictions"
    )
    assert not package.policies.exists()
