"""Reprocess all matching, clicked through in chromium with a real worker behind the server:
filter the requests, tick "select all", take Gmail's offer of every matching one, confirm,
and watch the progress page reach Done by itself (htmx polling)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from governance import models as m
from tests.browser import screenshot, sign_in
from tests.portal.conftest import repair
from tests.portal.test_reprocess_all import failed_requests, states_of
from tests.workers import Worker, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_reprocess_all_matching_requests(
    page: Page, catalog: m.Catalog, admin: m.User, request: pytest.FixtureRequest
) -> None:
    _, role, made = failed_requests(admin, catalog, 60, prefix="bulk")
    repair(role)  # the outage is over
    worker: Worker = request.getfixturevalue("worker")  # wake-ups reach a worker from here on
    sign_in(page, "admin")
    page.goto("/governance/requests/")
    page.get_by_label("Status").select_option(label="Delivery failed or partially delivered")
    expect(page).to_have_url(re.compile(r"status=attention"))
    results = page.locator("#results")
    expect(results.get_by_role("row")).to_have_count(51)  # the header and a first page of 50

    banner = page.locator("[data-select-all-banner]")
    expect(banner).to_be_hidden()
    results.get_by_label("Select all rows").check()
    expect(banner).to_contain_text("All 50 requests on this page are selected.")
    banner.get_by_role("link", name="Select all matching requests").click()
    expect(results).to_contain_text("All 60 matching requests selected")
    page.get_by_role("button", name="Reprocess all 60 matching").click()

    expect(page.locator(".messages")).to_contain_text("Reprocessing 60 requests — queued")
    expect(page.get_by_role("heading", level=1)).to_have_text("Reprocess all matching requests")
    progress = page.locator("#bulk-progress")
    expect(progress).to_contain_text("60 processed: 60 reprocessed, 0 skipped", timeout=60_000)
    expect(progress).to_contain_text("Done")
    screenshot(page, "reprocess-all-done")
    wait_for(
        lambda: states_of(made) == {m.RequestState.DELIVERED},
        timeout=60,
        message=f"the 60 requests delivered\n{worker.log()[-2000:]}",
    )
    page.get_by_role("link", name="list").click()
    expect(page.locator("#results")).to_contain_text("No requests match.")
