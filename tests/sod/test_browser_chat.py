"""Chat notifications walked as people would: an administrator adds a chat channel on the
catalog's page, a requestor asks for a package that needs approval, the channel (a local
webhook receiver, reached through apprise) gets the message, and the approver follows its
link, signs in and approves."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from governance import models as m
from governance.services import chat
from tests.browser import screenshot, sign_in
from tests.sod.chat_receiver import ChatReceiver, chat_receiver

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
__all__ = ["chat_receiver"]


def test_chat_channel_tells_the_approver(
    page: Page, admin: m.User, requestor: m.User, approver: m.User, make_package, chat_receiver: ChatReceiver
) -> None:
    package = make_package(name="Payroll", approvers=[approver])

    sign_in(page, "admin")
    page.goto(f"/governance/catalogs/{package.catalog_id}/")
    page.get_by_role("link", name="Chat channels (0)").click()
    page.get_by_label("Name").fill("#payroll-approvals")
    page.get_by_label("Kind").select_option(label="Generic webhook (JSON)")
    page.get_by_label("Webhook URL").fill(chat_receiver.url)
    page.get_by_role("button", name="Add chat channel").click()
    expect(page.locator(".messages")).to_contain_text("Chat channel #payroll-approvals added")
    expect(page.get_by_role("row").filter(has_text="#payroll-approvals")).to_contain_text("http://127.0.0.1/…")
    screenshot(page, "sod-chat-channels")
    page.get_by_role("button", name="Sign out").click()

    sign_in(page, "requestor")
    page.goto(f"/myaccess/packages/{package.pk}/request/")
    page.get_by_role("button", name="Submit").click()
    expect(page.get_by_text("Request submitted: what happens next")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()

    assert chat.send_due() == 1
    [post] = chat_receiver.posts
    link = re.search(r"https?://\S+/myaccess/approvals/[0-9a-f-]{36}/", post["message"])
    assert link, post
    path = re.sub(r"^https?://[^/]+", "", link.group(0))
    page.goto(path)
    page.get_by_label("Username").fill("approver")
    page.get_by_label("Password").fill("pw")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Approve").click()
    made = m.AssignmentRequest.objects.get(package=package)
    made.refresh_from_db()
    assert made.state != m.RequestState.PENDING_APPROVAL
