"""Issue 14 items 1, 3, 4 and 10, clicked through in chromium: status that updates itself,
no dead ends, counts that mean what the seeds mean, expiry on time."""

from __future__ import annotations

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
