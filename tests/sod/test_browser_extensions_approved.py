"""A custom extension at "request is approved", walked as people would: the administrator
first tries to make an "Assignment is granted" extension wait and is told why it cannot,
then adds one that waits when a request is approved and chooses it in a policy; the
approver approves; the requestor's request shows "Waiting for Ticketing" instead of being
delivered; the external system (a local receiver that checks signatures) answers on the
signed resume URL of the live server; the request is delivered."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Page, expect

from governance import models as m
from governance.connectors.webhook import sign
from governance.services import extensions
from tests.browser import screenshot, sign_in
from tests.targets import WEBHOOK_SECRET, Receiver

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_approved_request_waits_for_the_extension_before_delivery(
    page: Page, live_server: Any, admin: m.User, requestor: m.User, approver: m.User, make_package,
    webhook_receiver: Receiver, deliver,
) -> None:  # fmt: skip
    package = make_package(name="Payroll", approvers=[approver])
    policy = package.policies.get()

    sign_in(page, "admin")
    page.goto(f"/governance/catalogs/{package.catalog_id}/")
    page.get_by_role("link", name="Custom extensions (0)").click()
    page.get_by_label("Name").fill("Ticketing")
    page.get_by_label("Endpoint").fill(webhook_receiver.url)
    page.get_by_label("Signing secret").fill(WEBHOOK_SECRET)
    page.get_by_label("Stage").select_option(label="Assignment is granted")
    page.get_by_label("Wait for an answer").check()
    page.get_by_label("Wait at most (minutes)").fill("30")
    page.get_by_role("button", name="Add custom extension").click()
    expect(page.get_by_text("Only an extension run when the request is created or approved can wait")).to_be_visible()
    page.get_by_label("Signing secret").fill(WEBHOOK_SECRET)
    page.get_by_label("Stage").select_option(label="Request is approved")
    page.get_by_role("button", name="Add custom extension").click()
    expect(page.locator(".messages")).to_contain_text("Custom extension Ticketing added.")

    page.goto(f"/governance/packages/{package.pk}/policies/{policy.pk}/")
    page.get_by_label("Ticketing (Request is approved, wait for an answer)").check()
    page.get_by_role("button", name="Save", exact=True).last.click()
    expect(page.locator(".messages")).to_contain_text("saved")
    page.get_by_role("button", name="Sign out").click()

    sign_in(page, "requestor")
    page.goto(f"/myaccess/packages/{package.pk}/request/")
    page.get_by_role("button", name="Submit").click()
    page.get_by_role("button", name="Sign out").click()
    made = m.AssignmentRequest.objects.get(package=package)

    sign_in(page, "approver")
    page.goto(f"/myaccess/approvals/{made.pk}/")
    page.get_by_role("button", name="Approve").click()
    page.get_by_role("button", name="Sign out").click()

    sign_in(page, "requestor")
    page.goto(f"/myaccess/requests/{made.pk}/")
    # The status badge says what it waits for, and so does the history's last line.
    expect(page.locator("dl .badge").get_by_text("Waiting for Ticketing", exact=True)).to_be_visible()
    expect(page.get_by_role("strong").filter(has_text="Waiting for Ticketing")).to_be_visible()
    expect(page.get_by_text("Approved. Waiting for Ticketing: access is delivered once it answers.")).to_be_visible()
    screenshot(page, "sod-waiting-after-approval")

    # The external system gets the signed event and answers on the resume URL.
    assert extensions.send_due_calls() == 1
    [event] = webhook_receiver.events
    assert webhook_receiver.rejected_signatures == 0
    data = event["data"]
    assert data["stage"] == "assignmentRequestApproved"
    body = json.dumps(
        {
            "source": "Contoso.Ticketing",
            "data": {
                "@odata.type": "microsoft.graph.accessPackageAssignmentRequestCallbackData",
                "stage": "assignmentRequestApproved",
                "customExtensionStageInstanceId": data["customExtensionStageInstanceId"],
                "customExtensionStageInstanceDetail": "Ticket CHG-1042 closed",
            },
        }
    ).encode()
    answer = httpx.post(
        live_server.url + urlsplit(data["callbackUri"]).path,
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-Portcullis-Signature": sign(WEBHOOK_SECRET, int(time.time()), body),
            "X-Portcullis-Resume-Token": data["resumeToken"],
        },
    )
    assert answer.status_code == 204, answer.text
    deliver()

    page.reload()
    expect(page.get_by_text("Delivered").first).to_be_visible()
    expect(page.locator("dl .badge").get_by_text("Waiting for Ticketing")).to_have_count(0)
