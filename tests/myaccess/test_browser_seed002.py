"""Seed 002 in a real browser: request from a package's link, cancel, approve by email, access.

Every My Access page is photographed at 1280 px and 375 px into tests/artifacts/.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import pytest

from governance import models as m
from tests.browser import screenshot, sign_in
from tests.myaccess.conftest import approval_link

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 900}


def shoot(page: Any, name: str) -> None:
    """The page as it is now, on a desktop and on a phone."""
    screenshot(page, f"myaccess-{name}-1280")
    page.set_viewport_size(PHONE)
    screenshot(page, f"myaccess-{name}-375")
    # Nothing may stick out sideways on a phone.
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{name} is {overflow}px wider than a phone"
    page.set_viewport_size(DESKTOP)


def menu(page: Any, name: str) -> None:
    page.get_by_role("navigation", name="Menu").get_by_role("link", name=name).click()
    page.wait_for_load_state()


def sign_out(page: Any) -> None:
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_load_state()


def request_with_period(page: Any, justification: str) -> None:
    page.get_by_role("link", name="Request", exact=True).click()
    page.get_by_label("Business justification (required)").wait_for()
    page.get_by_label("Business justification (required)").fill(justification)
    page.get_by_label("Yes").check()
    end = (datetime.now() + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M")
    page.get_by_label("End", exact=True).fill(end)


def test_seed_002_request_cancel_approve_by_email_and_access(
    page, live_server, settings, requestor, approver, developer_tools, deliver, make_package
):
    settings.SITE_URL = live_server.url
    make_package(name="Team wiki", roles=1)
    make_package(name="Build dashboards", roles=2)
    settings.DEBUG = True  # the development mailbox, photographed below
    m.AccessPackage.objects.filter(pk=developer_tools.pk).update(is_hidden=True)

    # Open the My Access portal: Request access lists what one may request (not the hidden one).
    sign_in(page, "requestor")
    assert page.get_by_role("heading", name="Request access").is_visible()
    assert page.get_by_role("link", name="Team wiki").is_visible()
    assert page.get_by_text("Developer tools").count() == 0
    shoot(page, "request-access")
    # Search swaps the results in place (htmx), and the query string keeps it.
    page.get_by_label("Search").fill("wiki")
    page.wait_for_url(re.compile(r"\?q=wiki"))
    assert page.get_by_role("link", name="Build dashboards").count() == 0
    assert page.get_by_role("link", name="Team wiki").is_visible()

    # The link from the email opens the hidden package.
    page.goto(f"/myaccess/packages/{developer_tools.pk}/")
    assert page.get_by_role("heading", name="Developer tools").is_visible()
    assert page.get_by_text(f"Approval by {approver}.").is_visible()
    shoot(page, "package")

    # Request → the pane with Business justification and Request for specific period?
    request_with_period(page, "Release 4.2 needs the build farm")
    assert page.get_by_text("Request for specific period?").is_visible()
    shoot(page, "request-form")
    page.get_by_role("button", name="Submit").click()
    page.wait_for_url(re.compile(r"/myaccess/requests/[0-9a-f-]{36}/\?submitted=1$"))
    assert page.get_by_text("Request submitted: what happens next").is_visible()
    assert page.get_by_text(f"Waiting for approval by {approver}").is_visible()
    shoot(page, "request-submitted")
    first = m.AssignmentRequest.objects.get(target=requestor, state=m.RequestState.PENDING_APPROVAL)
    assert first.justification == "Release 4.2 needs the build farm"
    assert first.schedule_end is not None

    # My requests shows it pending approval.
    menu(page, "My requests")
    row = page.get_by_role("row").filter(has_text="Developer tools")
    assert row.get_by_text("Pending approval").is_visible()
    shoot(page, "my-requests")

    # Cancel it.
    row.get_by_role("link", name="Developer tools").click()
    page.get_by_role("button", name="Cancel", exact=True).click()
    page.locator("#confirm").wait_for()  # it asks first (issue 14 item 2)
    page.get_by_role("button", name="Cancel", exact=True).click()
    assert page.get_by_text("Your request for Developer tools was canceled.").is_visible()
    shoot(page, "request-canceled")
    menu(page, "My requests")
    assert page.get_by_role("row").filter(has_text="Developer tools").get_by_text("Canceled").is_visible()

    # Request again; this one the approver approves from the emailed link.
    page.goto(f"/myaccess/packages/{developer_tools.pk}/")
    request_with_period(page, "Release 4.3 this time")
    page.get_by_role("button", name="Submit").click()
    page.wait_for_url(re.compile(r"\?submitted=1$"))
    second = m.AssignmentRequest.objects.get(target=requestor, state=m.RequestState.PENDING_APPROVAL)

    # Rule 12: a third request is refused, with a link to the open one.
    page.goto(f"/myaccess/packages/{developer_tools.pk}/request/")
    shoot(page, "request-duplicate")

    sign_out(page)
    link = approval_link(approver, second)
    assert link.startswith(live_server.url)
    page.goto(link)
    page.get_by_label("Username").fill("approver")
    page.get_by_label("Password").fill("pw")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(link)
    assert page.get_by_text("Release 4.3 this time").is_visible()
    assert page.get_by_text("Nothing is decided until you click Approve or Deny.").is_visible()
    shoot(page, "approval-link")
    page.get_by_label("Justification").fill("Agreed with the team lead")
    page.get_by_role("button", name="Approve").click()
    assert page.get_by_role("heading", name="You approved this request").is_visible()
    shoot(page, "approval-link-done")
    second.refresh_from_db()
    assert second.state == m.RequestState.DELIVERING

    # The link is spent: opening it again says so.
    page.goto(link)
    assert page.get_by_role("heading", name="This link has already been used").is_visible()
    shoot(page, "approval-link-used")
    page.goto("/myaccess/approvals/?view=history")
    assert page.get_by_role("row").filter(has_text="Developer tools").get_by_text("Approved").is_visible()
    shoot(page, "approvals-history")

    # Delivery (what a worker does), then the requestor sees it in Access I have.
    deliver()
    sign_out(page)
    sign_in(page, "requestor")
    menu(page, "Access I have")
    row = page.get_by_role("row").filter(has_text="Developer tools")
    assert row.get_by_text("Delivered").is_visible()
    assert row.get_by_role("link", name="Extend").is_visible()
    shoot(page, "access-i-have")
    row.get_by_role("link", name="Developer tools").click()
    assert page.get_by_role("heading", name="Extend").is_visible()
    shoot(page, "access-detail")
    menu(page, "My requests")
    shoot(page, "my-requests-after")
    page.get_by_role("row").filter(has_text="Delivered").get_by_role("link", name="Developer tools").click()
    assert page.get_by_text("Approved (stage 1)").is_visible()
    shoot(page, "request-delivered")
    page.goto("/myaccess/mailbox/")
    shoot(page, "mailbox")
    page.get_by_role("link", name="You now have access to Developer tools").click()
    shoot(page, "mailbox-email")
    delivered = m.OutboundEmail.objects.filter(kind="request_delivered").latest("created_at")
    page.goto(f"/myaccess/mailbox/{delivered.pk}/html/")
    shoot(page, "email-request_delivered")
    # The approval email is the approver's: the requestor's mailbox does not open it.
    approval = m.OutboundEmail.objects.filter(kind="approval_needed").latest("created_at")
    assert page.goto(f"/myaccess/mailbox/{approval.pk}/html/").status == 404
    page.goto("/myaccess/")
    sign_out(page)
    sign_in(page, "approver")
    page.goto(f"/myaccess/mailbox/{approval.pk}/html/")
    shoot(page, "email-approval_needed")


def test_approver_pages_and_refused_link(page, live_server, settings, requestor, approver, developer_tools, outsider):
    """Approvals as the approver sees them, and a link in the wrong hands."""
    from governance.services import requests

    settings.SITE_URL = live_server.url
    pending = requests.submit_request(requestor, developer_tools.pk, justification="Needs CI for the release")
    sign_in(page, "approver")
    menu(page, "Approvals")
    row = page.get_by_role("row").filter(has_text="Developer tools")
    assert row.get_by_text("Needs CI for the release").is_visible()
    shoot(page, "approvals")
    row.get_by_role("link", name="Review").click()
    assert page.get_by_role("button", name="Deny").is_visible()
    shoot(page, "approval-detail")
    page.get_by_label("Justification").fill("Not this quarter")
    page.get_by_role("button", name="Deny").click()
    assert page.get_by_text(f"You denied {requestor}'s request for Developer tools.").is_visible()
    pending.refresh_from_db()
    assert pending.state == m.RequestState.DENIED

    sign_out(page)
    sign_in(page, "outsider")
    page.goto(approval_link(approver, pending))
    assert page.get_by_role("heading", name="This link is for someone else").is_visible()
    shoot(page, "approval-link-someone-else")
    assert page.goto(f"/myaccess/packages/{developer_tools.pk}/").status == 404
