"""Questions walked as people would: an administrator adds two questions to a policy in
its form, a requestor answers them on the My Access request form (a required one left
empty first), and the approver reads the answers in My Access before approving."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from governance import models as m
from tests.browser import screenshot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_questions_from_policy_form_to_approver(
    page: Page, admin: m.User, requestor: m.User, approver: m.User, make_package
) -> None:
    package = make_package(name="Payroll", approvers=[approver])
    policy = package.policies.get()

    sign_in(page, "admin")
    page.goto(f"/governance/packages/{package.pk}/policies/")
    page.goto(f"/governance/packages/{package.pk}/policies/{policy.pk}/")
    first = page.locator("#question-1")
    first.get_by_label("Question 1").fill("What do you do for work?")
    first.get_by_label("Answer").select_option(label="Long text")
    first.get_by_label("Required").check()
    second = page.locator("#question-2")
    second.get_by_label("Question 2").fill("What country are you working from?")
    second.get_by_label("Answer").select_option(label="Multiple choice")
    second.get_by_label("Options").fill("KE|Kenya\nJP|Japan")
    screenshot(page, "sod-policy-questions")
    page.get_by_role("button", name="Save", exact=True).last.click()
    expect(page.locator(".messages")).to_contain_text("saved")
    assert policy.questions.count() == 2
    page.get_by_role("button", name="Sign out").click()

    sign_in(page, "requestor")
    page.goto(f"/myaccess/packages/{package.pk}/request/")
    page.get_by_label("Japan").check()
    page.get_by_role("button", name="Submit").click()
    expect(page.get_by_text("Answer the question “What do you do for work?”")).to_be_visible()
    page.get_by_label("What do you do for work? (required)").fill("I run the monthly payroll")
    page.get_by_role("button", name="Submit").click()
    expect(page.get_by_text("Request submitted: what happens next")).to_be_visible()
    expect(page.get_by_text("I run the monthly payroll")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()

    sign_in(page, "approver")
    page.goto("/myaccess/approvals/")
    page.get_by_role("row").filter(has_text="Payroll").get_by_role("link", name="Review").click()
    expect(page.get_by_text("What country are you working from?")).to_be_visible()
    expect(page.get_by_text("Japan", exact=False).first).to_be_visible()
    expect(page.get_by_text("I run the monthly payroll")).to_be_visible()
    screenshot(page, "sod-approver-sees-answers")
    page.get_by_role("button", name="Approve").click()
    made = m.AssignmentRequest.objects.get(package=package)
    assert [a.display_value for a in made.answers.order_by("sequence")] == ["I run the monthly payroll", "Japan"]
