"""Access reviewers told in chat, walked as people would: the administrator adds the
catalog's chat channel; the review of the package starts (the beat job); the channel (a local
receiver) gets a message with the safe "Access reviews" link; the manager follows it, signs
in, finds the people they review and approves one."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.utils import timezone
from playwright.sync_api import Page, expect

from governance import models as m
from governance.services import chat, reviews
from tests import factories as f
from tests.browser import screenshot, sign_in
from tests.governance.test_reviews import assign, turn_on
from tests.sod.chat_receiver import ChatReceiver, chat_receiver

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
__all__ = ["chat_receiver"]


def test_a_review_start_is_told_in_chat_and_its_link_leads_the_reviewer_to_decide(
    page: Page, live_server: Any, admin: m.User, catalog: m.Catalog, make_package, chat_receiver: ChatReceiver
) -> None:
    mona = f.UserFactory(username="mona", display_name="Mona Manager")
    people = [
        f.UserFactory(username=name.split()[0].lower(), display_name=name, manager=mona, last_login=timezone.now())
        for name in ("Dave Departed", "Erin Earnest")
    ]
    package = make_package(name="Finance reports")
    assign(package, *people)
    policy = package.policies.get()
    turn_on(policy, justification_required=False)
    policy.refresh_from_db()

    sign_in(page, "admin")
    page.goto(f"/governance/catalogs/{catalog.pk}/")
    page.get_by_role("link", name="Chat channels (0)").click()
    page.get_by_label("Name").fill("#finance-reviews")
    page.get_by_label("Kind").select_option(label="Generic webhook (JSON)")
    page.get_by_label("Webhook URL").fill(chat_receiver.url)
    page.get_by_role("button", name="Add chat channel").click()
    expect(page.locator(".messages")).to_contain_text("Chat channel #finance-reviews added")
    page.get_by_role("button", name="Sign out").click()

    assert policy.review_next_at is not None
    with time_machine.travel(policy.review_next_at + timedelta(minutes=1), tick=True):
        assert reviews.run_due()["started"] == 1
        assert chat.send_due() == 1
        [post] = chat_receiver.posts
        assert post["title"] == "Access review of Finance reports started"
        assert "Reviewers: Mona Manager." in post["message"]
        link = re.search(r"https?://\S+/myaccess/reviews/", post["message"])
        assert link, post
        page.goto(re.sub(r"^https?://[^/]+", "", link.group(0)))
        page.get_by_label("Username").fill("mona")
        page.get_by_label("Password").fill("pw")
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator("#results")).to_contain_text("Dave Departed")
        expect(page.locator("#results")).to_contain_text("Erin Earnest")
        page.get_by_role("button", name="Approve Erin Earnest").click()
        expect(page.locator(".messages")).to_contain_text("You approved access for Erin Earnest")
        screenshot(page, "sod-review-from-chat")
    decision = m.AccessReviewDecision.objects.get(target=people[1])
    assert decision.decision == m.ReviewDecision.APPROVE
