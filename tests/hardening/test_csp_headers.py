"""Which policy each kind of page is sent (the browser test checks that pages obey it)."""

from __future__ import annotations

import pytest

from tests import factories as f

pytestmark = pytest.mark.django_db


def directives(response) -> dict[str, str]:
    header = response.headers["Content-Security-Policy"]
    return {part.split()[0]: part.strip() for part in header.split(";") if part.strip()}


def test_portal_pages_get_the_strict_policy(client, admin):
    client.force_login(admin)
    policy = directives(client.get("/governance/"))
    assert policy["script-src"] == "script-src 'self'"
    assert policy["style-src"] == "style-src 'self'"
    assert policy["frame-ancestors"] == "frame-ancestors 'none'"
    assert policy["object-src"] == "object-src 'none'"


def test_an_email_in_the_mailbox_may_style_itself_but_never_script(client, admin, settings):
    settings.DEBUG = True
    email = f.OutboundEmailFactory(recipient=admin, body_html='<p style="color:red">Hi</p>')
    client.force_login(admin)
    response = client.get(f"/myaccess/mailbox/{email.pk}/html/")
    assert response.status_code == 200
    policy = directives(response)
    assert policy["style-src"] == "style-src 'unsafe-inline'"
    assert policy["script-src"] == "script-src 'none'"
    assert policy["default-src"] == "default-src 'self'"


def test_api_docs_relax_styles_only_there(client):
    policy = directives(client.get("/api/docs/"))
    assert policy["style-src"] == "style-src 'self' 'unsafe-inline'"
    assert policy["script-src"] == "script-src 'self'"
    assert policy["worker-src"] == "worker-src 'self' blob:"
