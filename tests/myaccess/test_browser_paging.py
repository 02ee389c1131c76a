"""My Access lists page and search in place (htmx) with the portals' one pager, again and again."""

from __future__ import annotations

import re

import pytest

from governance import models as m
from tests import factories as f
from tests.browser import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def open_second_page(page, url):
    """Open a list of 30 rows and click Next: the results swap to rows 26-30."""
    page.goto(url)
    results = page.locator("#results")
    assert results.get_by_text("Page 1 of 2").is_visible()
    results.get_by_role("link", name="Next").click()
    page.wait_for_url(re.compile(r"page=2"))
    assert results.get_by_text("Page 2 of 2").is_visible()
    assert results.get_by_role("row").count() == 6  # the header and 5 rows
    return results


def test_my_requests_page_and_search_in_place(page, requestor, make_package):
    wiki = make_package(name="Team wiki")
    other = make_package(name="Build dashboards")
    for package in [wiki] * 26 + [other] * 4:
        f.RequestFactory(target=requestor, package=package, policy=package.policies.get(), state=m.RequestState.DENIED)
    sign_in(page, "requestor")
    # Each swap replaces the results (pager included), so the next click swaps again.
    results = open_second_page(page, "/myaccess/requests/")
    results.get_by_role("link", name="Previous").click()
    page.wait_for_url(re.compile(r"page=1"))
    assert results.get_by_text("Page 1 of 2").is_visible()
    assert page.locator("#results").count() == 1

    page.get_by_label("Search").fill("dashboards")
    page.wait_for_url(re.compile(r"q=dashboards"))
    assert results.get_by_role("row").count() == 5  # one page: no pager
    assert results.get_by_text("Page 1 of").count() == 0
    assert page.locator("#results").count() == 1


def test_the_development_mailbox_pages_in_place(page, settings, requestor):
    settings.DEBUG = True
    for number in range(30):
        f.OutboundEmailFactory(recipient=requestor, subject=f"Email {number:02}")
    sign_in(page, "requestor")
    open_second_page(page, "/myaccess/mailbox/")
