"""Playwright driving Debian's chromium against pytest-django's live_server."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
# Debian's chromium-headless-shell: the same Blink and V8 as its chromium, without the desktop
# browser around them (Playwright's own default for headless runs). The browser tests cost it
# ~36 s of CPU where the full chromium cost ~58 s (tests/portal/test_browser_seeds.py, axe on).
HEADLESS_SHELL = "/usr/lib/chromium/chromium-headless-shell"
CHROMIUM = os.environ.get("CHROMIUM") or (HEADLESS_SHELL if Path(HEADLESS_SHELL).exists() else "/usr/bin/chromium")
# Playwright's sync API keeps an event loop on the test's thread; the ORM calls the tests
# make around it are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from tests.conftest import need

    need(Path(CHROMIUM).exists(), f"browser tests need Debian's chromium-headless-shell (or chromium): {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield launched
        launched.close()


# axe-core checks every page a browser test visits: once it has loaded, after each htmx swap,
# and where the test ends. The pages' own Content-Security-Policy does not apply to an init
# script, so nothing is relaxed for it. Pages that are not the portal's (the Django admin, the
# API's documentation, the identity provider's pages in the SSO tests) are not checked: their
# markup is not ours to fix. Nor is an email shown as the recipient's mail program shows it.
AXE_RUNNER = """
(() => {
  if (window.top !== window || !window.axe) return;
  if (location.origin !== OURS || NOT_OURS.some((path) => new RegExp(path).test(location.pathname))) return;
  const options = {resultTypes: ["violations"]};
  let chain = Promise.resolve();
  let timer = null;
  const check = () => {
    chain = chain
      .then(() => window.axe.run(document, options))
      .then((result) => {
        const found = result.violations.map((v) => ({
          id: v.id, impact: v.impact, help: v.help,
          nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ") + " | " + n.failureSummary),
        }));
        // Ours on top of axe's rules: every data table says what it lists.
        const named = (t) => (t.caption && t.caption.textContent.trim())
          || t.getAttribute("aria-label") || t.getAttribute("aria-labelledby");
        const unnamed = [...document.querySelectorAll("table:not([role=presentation]):not([role=none])")]
          .filter((t) => !named(t));
        if (unnamed.length) found.push({
          id: "table-caption", impact: "moderate", help: "Tables have a caption or a label",
          nodes: unnamed.slice(0, 5).map((t) => t.outerHTML.slice(0, 120)),
        });
        return window.__axeReport(location.pathname + location.search, found);
      })
      .catch(() => null);
    return chain;
  };
  const soon = () => { clearTimeout(timer); timer = setTimeout(check, 30); };
  window.__axeCheck = () => { clearTimeout(timer); return check(); };
  window.addEventListener("load", soon);
  document.addEventListener("htmx:afterSettle", soon);
})();
"""
NOT_OURS = (r"^/django-admin/", r"^/api/", r"^/myaccess/mailbox/[^/]+/html/$")


class AxeViolations:
    """What axe found, by page and rule, without repeats."""

    def __init__(self) -> None:
        self.found: dict[tuple[str, str], str] = {}

    def report(self, source: Any, path: str, violations: list[dict[str, Any]]) -> None:
        if any(re.match(pattern, path) for pattern in NOT_OURS):
            return
        for violation in violations:
            nodes = "\n      ".join(violation["nodes"])
            self.found.setdefault(
                (path, violation["id"]),
                f"{path}: {violation['id']} ({violation['impact']}) {violation['help']}\n      {nodes}",
            )

    def check_now(self, tab: Any) -> None:
        if tab.is_closed() or not tab.url.startswith("http"):
            return
        try:
            tab.evaluate("() => window.__axeCheck && window.__axeCheck()")
        except Exception:  # noqa: BLE001 - a page closing or navigating away is not a finding
            return

    def take(self) -> list[str]:
        found = list(self.found.values())
        self.found.clear()
        return found


@pytest.fixture
def page(browser: Any, live_server: Any) -> Iterator[Any]:
    """A fresh browser context on the live server, 1280 px wide; axe checks every page it shows."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    axe = AxeViolations()
    context.expose_binding("__axeReport", axe.report)
    setup = f"const OURS = {json.dumps(live_server.url)}; const NOT_OURS = {json.dumps(NOT_OURS)};"
    # axe is only parsed where it runs: a heavy page of someone else's (the API reference)
    # does not pay for it.
    ours = (
        "window.top === window && location.origin === OURS"
        " && !NOT_OURS.some((p) => new RegExp(p).test(location.pathname))"
    )
    context.add_init_script(script=f"{setup}\nif ({ours}) {{\n{AXE.read_text()}\n{AXE_RUNNER}\n}}")
    tab = context.new_page()
    tab.axe = axe
    go = tab.goto

    def goto(url: str, **kwargs: Any) -> Any:
        # The page being left is checked to the end first: a test that only passes through
        # a page (goto, goto) would otherwise leave before axe has finished with it.
        axe.check_now(tab)
        return go(url, **kwargs)

    tab.goto = goto
    yield tab
    axe.check_now(tab)
    context.close()
    found = axe.take()
    if found:
        pytest.fail("axe-core found accessibility violations:\n  " + "\n  ".join(found), pytrace=False)


def sign_in(page: Any, username: str, password: str = "pw") -> None:
    """Sign in through the real login form."""
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
