"""The strict Content-Security-Policy holds in a real browser: the admin portal, My Access and
the approvals pages load and work (htmx included) without a single violation."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from governance import models as m
from tests.browser import sign_in
from tests.portal.conftest import Scene, pending_request, scene  # noqa: F401 - the scene fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

REPORTER = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolation({
    page: location.pathname,
    directive: event.effectiveDirective,
    blocked: event.blockedURI,
    sample: event.sample,
  });
});
"""


class Watch:
    """Every CSP violation, CSP console error and uncaught script error of a browser context."""

    def __init__(self, page: Page) -> None:
        self.problems: list[str] = []
        page.context.expose_binding("__cspViolation", lambda _source, v: self.problems.append(f"violation {v}"))
        page.context.add_init_script(REPORTER)
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"script error {error}"))
        self.page = page

    def _console(self, message: Any) -> None:
        if message.type == "error" and "Content Security Policy" in message.text:
            self.problems.append(f"console {self.page.url}: {message.text}")

    def visit(self, path: str) -> None:
        response = self.page.goto(path)
        assert response is not None
        assert response.status == 200, (path, response.status)
        self.page.wait_for_load_state("networkidle")

    def take(self) -> list[str]:
        found, self.problems = self.problems, []
        return found


def policy_of(response: Any) -> str:
    return response.headers.get("content-security-policy", "")


def test_strict_policy_is_sent(page: Page, admin: m.User) -> None:
    response = page.goto("/accounts/login/")
    assert response is not None
    policy = policy_of(response)
    for directive in (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ):
        assert directive in policy, policy
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy


def test_pages_pass_the_policy(page: Page, scene: Scene, admin: m.User) -> None:  # noqa: F811
    watch = Watch(page)
    approval = pending_request(scene.package, admin)
    package, request, assignment = scene.package, scene.failed_request, scene.partial

    # The watcher is not blind: an inline style set by script is a violation it reports.
    watch.visit("/accounts/login/")
    page.evaluate("document.body.setAttribute('style', 'color: red')")
    page.wait_for_timeout(200)
    assert any("style-src" in problem for problem in watch.take())

    admin.is_staff = admin.is_superuser = True  # the Django admin is checked too
    admin.save()
    sign_in(page, "admin")
    pages = [
        "/governance/",
        "/governance/catalogs/",
        f"/governance/catalogs/{package.catalog_id}/",
        "/governance/packages/",
        f"/governance/packages/{package.pk}/",
        f"/governance/packages/{package.pk}/roles/",
        f"/governance/packages/{package.pk}/policies/",
        f"/governance/packages/{package.pk}/policies/new/",
        f"/governance/packages/{package.pk}/assignments/",
        f"/governance/packages/{package.pk}/assignments/new/",
        f"/governance/packages/{package.pk}/requests/",
        "/governance/requests/",
        f"/governance/requests/{request.pk}/",
        "/governance/assignments/",
        f"/governance/assignments/{assignment.pk}/",
        "/governance/organizations/",
        "/governance/connectors/",
        "/governance/identity/",
        "/governance/audit/",
        "/governance/api-clients/",
        "/myaccess/",
        f"/myaccess/packages/{package.pk}/",
        "/myaccess/access/",
        "/myaccess/requests/",
        "/myaccess/approvals/",
        f"/myaccess/approvals/{approval.pk}/",
        "/django-admin/",
        "/django-admin/governance/catalog/",
        f"/django-admin/governance/catalog/{package.catalog_id}/change/",
        f"/django-admin/governance/user/{admin.pk}/change/",
    ]
    for path in pages:
        watch.visit(path)
    assert not watch.take()

    # One htmx interaction: the assignments filter swaps the results in place.
    watch.visit("/governance/assignments/")
    results = page.locator("#results")
    expect(results.get_by_role("row", name="Alice Anders")).to_be_visible()
    with page.expect_response(lambda r: r.request.headers.get("hx-request") == "true") as swapped:
        page.get_by_label("Person").fill("bob")
    assert swapped.value.status == 200
    expect(results.get_by_role("row", name="Bob Brown")).to_be_visible()
    expect(results.get_by_role("row", name="Alice Anders")).to_have_count(0)
    assert "q=bob" in page.url  # hx-push-url kept the address in step
    assert not watch.take()


def test_api_docs_work_under_their_own_policy(page: Page) -> None:
    """Redoc needs injected styles and a blob: worker; only that page allows them."""
    watch = Watch(page)
    response = page.goto("/api/docs/")
    assert response is not None
    policy = policy_of(response)
    assert "style-src 'self' 'unsafe-inline'" in policy
    assert "script-src 'self'" in policy
    assert "unsafe-eval" not in policy
    expect(page.get_by_role("heading", name="Portcullis entitlement management API")).to_be_visible(timeout=20_000)
    # Redoc links Google Fonts and its logo from its CDN: the policy keeps those out (fine, the
    # page works without them). Nothing of ours is refused.
    outside = ("https://fonts.googleapis.com", "https://cdn.redoc.ly")
    problems = [p for p in watch.take() if not any(host in p for host in outside)]
    assert not problems
