"""Issue 17 end to end, in chromium: an administrator turns on a quarterly access review
with the manager as reviewer; time moves to the start; the manager gets the email (a real
SMTP server), opens its link, denies one person with a justification and approves another
from My Access; time moves to the end; the denied person's access is revoked in a real
slapd and they are told by email; the approved one keeps it; the CSV lists both."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from typing import Any
from urllib.parse import urlparse

import pytest
import time_machine
from django.utils import timezone
from playwright.sync_api import expect

from governance import models as m
from governance.services import assignments, delivery, reviews
from tests import factories as f
from tests.browser import screenshot, sign_in
from tests.delivery.conftest import ldap_package
from tests.ldap_server import Slapd
from tests.myaccess.test_smtp_round_trip import send_outbox, smtp_inbox  # noqa: F401 - the SMTP sink fixture

pytestmark = [pytest.mark.browser, pytest.mark.ldap, pytest.mark.django_db(transaction=True)]


def path_of(url: str) -> str:
    return urlparse(url).path


def test_quarterly_manager_review_removes_denied_access(
    browser: Any,
    live_server: Any,
    smtp_inbox: Any,  # noqa: F811
    settings: Any,
    slapd: Slapd,
    ldap_group: Any,
    make_package: Any,
    admin: m.User,
) -> None:
    settings.SITE_URL = live_server.url
    mona = f.UserFactory(username="mona", display_name="Mona Manager")
    dave = f.UserFactory(username="dave", display_name="Dave Departed", manager=mona, last_login=timezone.now())
    erin = f.UserFactory(username="erin", display_name="Erin Earnest", manager=mona, last_login=timezone.now())
    slapd.add_people(["dave", "erin"])
    role = ldap_group("finance")
    package = ldap_package(make_package, role, allowed_target_scope=m.TargetScope.NO_ONE, name="Finance reports")
    policy = package.policies.get()
    assignments.create_direct_assignments(admin, package.pk, policy_id=policy.pk, target_ids=[dave.pk, erin.pk])
    delivery.deliver_until_idle(max_seconds=30)
    assert slapd.members(role.resource.origin_id) == {"dave", "erin"}
    send_outbox()

    # The administrator turns on a quarterly review with the manager as reviewer.
    admin_context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    admin_context.set_default_timeout(15_000)
    page = admin_context.new_page()
    sign_in(page, "admin")
    page.goto(f"/governance/packages/{package.pk}/policies/{policy.pk}/")
    page.get_by_label("Require access reviews").check()
    start = timezone.localtime(timezone.now() + timedelta(days=1)).replace(second=0, microsecond=0)
    page.get_by_label("Starting on").fill(start.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Review frequency").select_option("quarterly")
    page.get_by_label("Manager", exact=True).check()
    page.get_by_label("Require reviewer justification").check()
    screenshot(page, "reviews-policy-form")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".messages")).to_contain_text("saved")
    policy.refresh_from_db()
    assert policy.review_enabled
    assert policy.review_recurrence == m.ReviewRecurrence.QUARTERLY
    assert policy.review_next_at == start

    # Time moves to the start: the beat job starts the instance and emails the manager.
    with time_machine.travel(start + timedelta(minutes=1), tick=True):
        assert reviews.run_due()["started"] == 1
        send_outbox()
        message = smtp_inbox.to(mona.email, "Access review of Finance reports")
        text = message.get_body(preferencelist=("plain",)).get_content()
        link = re.search(r"http://\S+/myaccess/reviews/[0-9a-f-]{36}/link/\S+/", text).group(0)

        manager_context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
        manager_context.set_default_timeout(15_000)
        manager = manager_context.new_page()
        manager.goto(path_of(link))  # sign in first, then back to the link
        manager.get_by_label("Username").fill("mona")
        manager.get_by_label("Password").fill("pw")
        manager.get_by_role("button", name="Sign in").click()
        expect(manager.get_by_role("heading", level=1)).to_have_text("Access review of Finance reports")
        manager.get_by_label("Justification").fill("Left the finance team")
        manager.get_by_role("button", name="Deny Dave Departed").click()
        expect(manager.get_by_role("heading", level=1)).to_have_text("You denied Dave Departed's access")
        screenshot(manager, "reviews-link-denied")

        manager.get_by_role("link", name="Continue in Access reviews").click()
        expect(manager.locator("#results")).to_contain_text("Erin Earnest")
        manager.get_by_label("Justification").fill("Still closes the books")
        manager.get_by_role("button", name="Approve Erin Earnest").click()
        expect(manager.locator(".messages")).to_contain_text("You approved access for Erin Earnest")
        screenshot(manager, "reviews-my-access")
        instance = m.AccessReviewInstance.objects.get(policy=policy)
        decisions = {d.target.username: d.decision for d in instance.decisions.select_related("target")}
        assert decisions == {"dave": m.ReviewDecision.DENY, "erin": m.ReviewDecision.APPROVE}
        manager_context.close()

    # Time moves to the end: results applied, Dave removed from the LDAP group and told.
    with time_machine.travel(instance.end_at + timedelta(minutes=1), tick=True):
        assert reviews.run_due()["applied"] == 1
        delivery.deliver_until_idle(max_seconds=30)
        assert slapd.members(role.resource.origin_id) == {"erin"}
        send_outbox()
        removed = smtp_inbox.to(dave.email, "An access review removed your access to Finance reports")
        assert "request it again" in removed.get_body(preferencelist=("plain",)).get_content()
        assert not [msg for msg in smtp_inbox.messages if msg["To"] == erin.email and "removed" in str(msg["Subject"])]

        # The administrator downloads the results.
        sign_in(page, "admin")
        page.goto(f"/governance/packages/{package.pk}/reviews/")
        expect(page.locator("main")).to_contain_text("2 / 2")
        page.get_by_role("link", name=re.compile(r"\d{4}-\d{2}-\d{2}")).first.click()
        expect(page.locator("main")).to_contain_text("Left the finance team")
        screenshot(page, "reviews-instance")
        with page.expect_download() as download:
            page.get_by_role("link", name="Download").click()
        with open(download.value.path(), encoding="utf-8") as saved:
            rows = list(csv.DictReader(io.StringIO(saved.read())))
        got = {(r["Person"], r["Decision"], r["Justification"], r["Result"]) for r in rows}
        assert got == {
            ("Dave Departed", "Denied", "Left the finance team", "Access removed"),
            ("Erin Earnest", "Approved", "Still closes the books", "Access kept"),
        }
    admin_context.close()
