"""Custom extensions walked as people would: an administrator adds a "wait for an answer"
extension on the catalog's Custom extensions page and chooses it in a policy; a requestor's
request shows "Waiting for SoD check"; the external system (a local receiver that checks
the signature) gets the signed event and posts a signed resume to the live server; the
request goes on to approval, and the administrator reads every call on the request."""

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


def test_custom_extension_pauses_and_resumes_a_request(
    page: Page, live_server: Any, admin: m.User, requestor: m.User, approver: m.User, make_package,
    webhook_receiver: Receiver,
) -> None:  # fmt: skip
    package = make_package(name="Payroll", approvers=[approver])
    policy = package.policies.get()

    sign_in(page, "admin")
    page.goto(f"/governance/catalogs/{package.catalog_id}/")
    page.get_by_role("link", name="Custom extensions (0)").click()
    page.get_by_label("Name").fill("SoD check")
    page.get_by_label("Endpoint").fill(webhook_receiver.url)
    page.get_by_label("Signing secret").fill(WEBHOOK_SECRET)
    page.get_by_label("Stage").select_option(label="Request is created")
    page.get_by_label("Wait for an answer").check()
    page.get_by_label("Wait at most (minutes)").fill("30")
    page.get_by_role("button", name="Add custom extension").click()
    expect(page.locator(".messages")).to_contain_text("Custom extension SoD check added.")

    page.goto(f"/governance/packages/{package.pk}/policies/{policy.pk}/")
    page.get_by_label("SoD check (Request is created, wait for an answer)").check()
    page.get_by_label("Fail the request").check()
    page.get_by_role("button", name="Save", exact=True).last.click()
    expect(page.locator(".messages")).to_contain_text("saved")
    page.get_by_role("button", name="Sign out").click()

    sign_in(page, "requestor")
    page.goto(f"/myaccess/packages/{package.pk}/request/")
    page.get_by_role("button", name="Submit").click()
    expect(page.get_by_text("Waiting for SoD check", exact=True)).to_be_visible()
    expect(page.get_by_text("Waiting for SoD check: the request goes on once it answers.")).to_be_visible()
    screenshot(page, "sod-waiting-for-extension")

    # The external system: it receives the signed event, then answers on the resume URL.
    assert extensions.send_due_calls() == 1
    [event] = webhook_receiver.events
    assert webhook_receiver.rejected_signatures == 0
    data = event["data"]
    body = json.dumps(
        {
            "source": "Contoso.SodCheckProcess",
            "type": "microsoft.graph.accessPackageCustomExtensionStage.assignmentRequestCreated",
            "data": {
                "@odata.type": "microsoft.graph.accessPackageAssignmentRequestCallbackData",
                "stage": "assignmentRequestCreated",
                "customExtensionStageInstanceId": data["customExtensionStageInstanceId"],
                "customExtensionStageInstanceDetail": "This user is all verified",
            },
        }
    ).encode()
    resume_url = live_server.url + urlsplit(data["callbackUri"]).path
    forged = httpx.post(resume_url, content=body, headers={"Content-Type": "application/json"})
    assert forged.status_code == 403
    answer = httpx.post(
        resume_url,
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-Portcullis-Signature": sign(WEBHOOK_SECRET, int(time.time()), body),
            "X-Portcullis-Resume-Token": data["resumeToken"],
        },
    )
    assert answer.status_code == 204, answer.text

    page.reload()
    expect(page.get_by_text("Pending approval").first).to_be_visible()
    expect(page.get_by_text("Waiting for SoD check")).to_have_count(0)
    page.get_by_role("button", name="Sign out").click()

    sign_in(page, "admin")
    made = m.AssignmentRequest.objects.get(package=package)
    page.goto(f"/governance/requests/{made.pk}/")
    calls = page.locator("#extension-calls")
    expect(calls).to_contain_text("delivered")
    expect(calls).to_contain_text("answered: continue")
    expect(calls).to_contain_text("This user is all verified")
    screenshot(page, "sod-extension-calls")
