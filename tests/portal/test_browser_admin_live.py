"""Issue 14 items 1, 3, 4 and 10, clicked through in chromium: status that updates itself,
no dead ends, counts that mean what the seeds mean, expiry on time."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from governance import models as m
from governance.services import assignments, requests
from tests import factories as f
from tests.browser import screenshot, sign_in
from tests.portal.conftest import Scene, deliver_now, pending_request
from tests.portal.test_browser_seeds import fact, message, open_package, results

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


# --- Item 4: counts ------------------------------------------------------------------------


def test_delivery_errors_count_failed_roles_and_bulk_results_are_grouped(
    page: Page, scene: Scene, admin: m.User, approver: m.User
) -> None:
    request = scene.failed_request
    for _ in range(2):  # still broken: two more attempts at the same role
        requests.reprocess_request(admin, request.pk)
        deliver_now()
    assert m.OutboundEmail.objects.filter(request=request, kind="request_delivery_failed").count() == 1
    canceled = pending_request(scene.package, approver, who="carol")
    requests.cancel_request_as_admin(admin, canceled.pk, "")
    dee = f.UserFactory(username="dee", display_name="Dee Dunn")
    assignments.create_direct_assignments(
        admin, scene.package.pk, policy_id=scene.direct_policy.pk, target_ids=[dee.pk]
    )
    deliver_now()

    sign_in(page, "admin")
    open_package(page, "Production on-call", "Requests")
    page.get_by_role("row", name="Bob Brown").get_by_role("link", name="Bob Brown").click()
    expect(fact(page, "Delivery errors")).to_contain_text("1 resource role failed, 3 failed attempts")
    page.get_by_role("link", name="1", exact=True).click()
    errors = page.get_by_role("table", name="Delivery errors of this request")
    expect(errors.locator("tbody")).to_have_count(1)
    expect(errors).to_contain_text("3 attempts")
    screenshot(page, "admin-live-delivery-errors-per-role")

    open_package(page, "Production on-call", "Requests")
    for person in ("Bob Brown", "Dee Dunn", "Alice Anders", str(canceled.target)):
        results(page).get_by_role("row", name=person).get_by_role("checkbox").check()
    page.get_by_role("button", name="Reprocess", exact=True).click()
    expect(message(page)).to_contain_text(
        "Reprocess: 2 queued; 2 skipped (Only requests that are Delivery failed or Partially delivered can be "
        "reprocessed): already Delivered (1), Canceled (1)."
    )
    screenshot(page, "admin-live-bulk-grouped")


# --- Item 3: no dead ends ------------------------------------------------------------------


def test_pages_one_may_not_open_say_why_and_lead_back(page: Page, make_package: Any, outsider: m.User) -> None:
    group = f.DirectoryGroupFactory(display_name="Developers")
    tools = make_package(name="Developer tools", allowed_target_scope=m.TargetScope.SPECIFIC_USERS)
    tools.policies.get().specific_groups.add(group)
    secret = make_package(name="Secret project", allowed_target_scope=m.TargetScope.SPECIFIC_USERS)
    m.AccessPackage.objects.filter(pk=secret.pk).update(is_hidden=True)
    sign_in(page, "outsider")

    page.goto(f"/myaccess/packages/{tools.pk}/")
    expect(page.get_by_role("heading", level=1)).to_have_text("You can't request this package")
    expect(page.locator("main")).to_contain_text("Developer tools")
    expect(page.locator("main")).to_contain_text("Only named people and members of Developers may request it")
    screenshot(page, "admin-live-cannot-request")
    page.get_by_role("link", name="Back to My Access").click()
    expect(page).to_have_url(re.compile(r"/myaccess/$"))

    page.goto(f"/myaccess/packages/{secret.pk}/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
    expect(page.locator("main")).not_to_contain_text("Secret project")
    page.goto("/governance/catalogs/00000000-0000-0000-0000-000000000000/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
    screenshot(page, "admin-live-404")
    page.get_by_role("link", name="Back to My Access").click()
    expect(page).to_have_url(re.compile(r"/myaccess/$"))


def test_email_this_link_warns_when_no_policy_allows_a_recipient(
    page: Page, make_package: Any, pkg_manager: m.User, requestor: m.User, outsider: m.User
) -> None:
    package = make_package(name="Developer tools", allowed_target_scope=m.TargetScope.SPECIFIC_USERS)
    package.policies.get().specific_users.add(requestor)
    sign_in(page, "pkgmanager")
    open_package(page, "Developer tools")
    page.get_by_text("Email this link").click()
    for person in (requestor, outsider):
        page.get_by_label("People").fill(person.username)
        page.get_by_label(str(person)).check()
    page.get_by_role("button", name="Send").click()
    warning = page.get_by_test_id("share-warning")
    expect(warning).to_contain_text(f"No policy of Developer tools allows {outsider}")
    assert not m.OutboundEmail.objects.filter(kind="package_link").exists()
    screenshot(page, "admin-live-share-warning")
    page.get_by_role("button", name="Send anyway").click()
    expect(message(page)).to_contain_text("The link was emailed to 2 people.")


def test_scheduled_direct_assignments_show_under_assignments(page: Page, scene: Scene, admin: m.User) -> None:
    from datetime import timedelta

    from django.utils import timezone

    sam = f.UserFactory(username="sam", display_name="Sam Later")
    assignments.create_direct_assignments(
        admin,
        scene.package.pk,
        policy_id=scene.direct_policy.pk,
        target_ids=[sam.pk],
        start=timezone.now() + timedelta(days=3),
    )
    sign_in(page, "admin")
    page.goto("/governance/assignments/")
    expect(results(page)).not_to_contain_text("Sam Later")
    page.get_by_label("Status").select_option(label="Scheduled")
    expect(page).to_have_url(re.compile("status=scheduled"))
    row = results(page).get_by_role("row", name="Sam Later")
    expect(row).to_contain_text("Scheduled")
    expect(results(page)).not_to_contain_text("Alice Anders")
    screenshot(page, "admin-live-scheduled-assignments")
    row.get_by_role("link", name="Sam Later").click()
    expect(page.locator(".page-head")).to_contain_text("Scheduled")


def test_a_webhook_resource_is_added_by_its_id_and_tested(
    page: Page, catalog: m.Catalog, admin: m.User, webhook_receiver: Any
) -> None:
    from tests.targets import WEBHOOK_SECRET

    f.ConnectorFactory(
        display_name="Badge system",
        kind="webhook",
        config={"url": webhook_receiver.url, "timeout": 3},
        secrets={"secret": WEBHOOK_SECRET},
    )
    sign_in(page, "admin")
    page.goto(f"/governance/catalogs/{catalog.pk}/")
    page.get_by_role("link", name="Add resource").click()
    page.get_by_label("Connector").select_option(label="Badge system")
    # The choice's own answer has arrived (the address follows it) before anything is typed:
    # a swap landing later would take the typed id away.
    expect(page).to_have_url(re.compile("connector="))
    expect(page.locator("#results")).to_contain_text("Badge system cannot list its resources")
    page.get_by_label("Resource id").fill("door-3")
    page.get_by_label("Name", exact=True).fill("Door 3")
    page.get_by_role("button", name="Test").click()
    expect(message(page)).to_contain_text("Test: The webhook")
    expect(message(page)).to_contain_text("accepted a signed ping")
    expect(page.get_by_label("Resource id")).to_have_value("door-3")  # what was typed is kept
    screenshot(page, "admin-live-add-resource-by-id")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(message(page)).to_contain_text("Door 3 added to")
    assert m.Resource.objects.filter(catalog=catalog, origin_id="door-3").exists()


def test_the_delivery_errors_page_reprocesses_and_names_the_connector(page: Page, scene: Scene, admin: m.User) -> None:
    sign_in(page, "admin")
    page.goto(f"/governance/requests/{scene.failed_request.pk}/errors/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Delivery errors")
    errors = page.get_by_role("table", name="Delivery errors of this request")
    expect(errors).to_contain_text("Built-in directory")
    screenshot(page, "admin-live-errors-page")
    page.get_by_role("button", name="Reprocess request").click()
    expect(message(page)).to_contain_text("Reprocessing")
    page.goto(f"/governance/requests/{scene.failed_request.pk}/errors/")
    errors.get_by_role("link", name="Built-in directory").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Built-in directory")


# --- Item 1: status that updates itself; item 10: expiry on time -------------------------

LIVE = 20_000  # the pollers back off from 2 s; a change shows within a few asks


def polling(page: Page) -> Any:
    return page.locator("[data-live=polling]")


def test_request_pages_update_themselves_for_admin_and_requestor(
    page: Page, browser: Any, live_server: Any, scene: Scene, admin: m.User, approver: m.User
) -> None:
    from governance.services import approvals

    pending = pending_request(scene.package, approver, who="carol")
    sign_in(page, "admin")
    page.goto(f"/governance/requests/{pending.pk}/")
    expect(page.locator(".page-head")).to_contain_text("Pending approval")
    expect(polling(page)).to_have_count(1)

    requestor_context = browser.new_context(base_url=live_server.url, viewport={"width": 390, "height": 844})
    try:
        mine = requestor_context.new_page()
        sign_in(mine, "carol")
        mine.goto(f"/myaccess/requests/{pending.pk}/")
        expect(mine.get_by_role("button", name="Cancel")).to_be_visible()

        approvals.decide(approver, pending.pk, m.Decision.APPROVE, "Fine")  # no reload from here on
        expect(page.locator(".page-head")).to_contain_text("Delivering", timeout=LIVE)
        expect(mine.get_by_role("button", name="Cancel")).to_have_count(0, timeout=LIVE)
        expect(mine.locator(".page-head")).to_contain_text("Delivering")
        screenshot(mine, "admin-live-requestor-after-approval")

        deliver_now()  # the scene's package has a broken role: partially delivered
        expect(page.locator(".page-head")).to_contain_text("Partially delivered", timeout=LIVE)
        expect(page.get_by_role("button", name="Reprocess request")).to_be_visible()  # offered now
        expect(polling(page)).to_have_count(0)  # nothing in flight: the page stops asking
        expect(mine.locator(".page-head")).to_contain_text("Partially delivered", timeout=LIVE)
        expect(polling(mine)).to_have_count(0)
        screenshot(page, "admin-live-request-updated")
    finally:
        requestor_context.close()


def test_lists_swap_the_badges_of_rows_in_flight(page: Page, scene: Scene, admin: m.User) -> None:
    erin = f.UserFactory(username="erin", display_name="Erin Early")
    assignments.create_direct_assignments(
        admin, scene.package.pk, policy_id=scene.direct_policy.pk, target_ids=[erin.pk]
    )
    sign_in(page, "admin")
    open_package(page, "Production on-call", "Requests")
    row = results(page).get_by_role("row", name="Erin Early")
    expect(row).to_contain_text("Delivering")
    results(page).get_by_role("row", name="Alice Anders").get_by_role("checkbox").check()
    deliver_now()
    expect(row).to_contain_text("Partially delivered", timeout=LIVE)
    # Only the badge was swapped: what the administrator ticked is still ticked.
    expect(results(page).get_by_role("row", name="Alice Anders").get_by_role("checkbox")).to_be_checked()
    expect(polling(page)).to_have_count(0)
    screenshot(page, "admin-live-list-badges")

    page.goto("/governance/assignments/")
    expect(results(page).get_by_role("row", name="Erin Early")).to_contain_text("Partially fulfilled")
    expect(polling(page)).to_have_count(0)


def test_an_ended_assignment_shows_expired_within_the_minute(page: Page, scene: Scene) -> None:
    from datetime import timedelta

    from django.conf import settings
    from django.utils import timezone

    from governance import tasks

    (beat,) = [e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == "governance.tasks.expire_assignments"]
    assert beat["schedule"] <= timedelta(minutes=1)  # a beat every minute, not every five
    m.Assignment.objects.filter(pk=scene.delivered.pk).update(end_at=timezone.now() + timedelta(seconds=2))
    sign_in(page, "admin")
    page.goto(f"/governance/assignments/{scene.delivered.pk}/")
    expect(page.locator(".page-head")).to_contain_text("Delivered")
    expect(polling(page)).to_have_count(1)  # about to end: the page keeps asking
    page.wait_for_timeout(2500)
    assert tasks.expire_assignments() == 1  # what the beat runs, at most a minute after the end
    expect(page.locator(".page-head")).to_contain_text("Expired", timeout=LIVE)
    deliver_now()  # the revocation
    expect(page.locator("main")).to_contain_text("Revoked", timeout=LIVE)
    expect(polling(page)).to_have_count(0)
    screenshot(page, "admin-live-expired-on-time")
