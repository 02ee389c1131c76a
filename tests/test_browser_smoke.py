"""The browser harness works: sign in through the real form and land in My Access."""

from __future__ import annotations

import pytest

from tests import factories as f
from tests.browser import screenshot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_sign_in_lands_in_my_access(page):
    f.UserFactory(username="someone", first_name="Some", last_name="One", display_name="Some One")
    sign_in(page, "someone")
    assert page.url.endswith("/myaccess/")
    assert page.get_by_role("heading", name="Request access").is_visible()
    screenshot(page, "smoke-my-access")
