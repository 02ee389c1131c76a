"""My Access > Access I have > "Why do I have this?" (issue 22): how the access came, what
justifies each resource, and what ending it would take away."""

from __future__ import annotations

import html

import pytest

from tests.portal.conftest import text
from tests.portal.explain_scene import otto_scene

pytestmark = pytest.mark.django_db


def test_why_do_i_have_this(client, catalog, admin, deliver):
    otto = otto_scene(catalog, admin, deliver)
    client.force_login(otto.person)
    listing = text(client.get("/myaccess/access/"))
    assert "Why do I have this?" in listing
    body = html.unescape(text(client.get(f"/myaccess/access/{otto.dev_assignment.pk}/?why=1")))
    assert f"{admin} assigned it to you on" in body
    assert "through the policy Admin direct." in body
    assert "Member of the group Builders: given by Developer tools and Production on-call; you keep it" in body
    assert "Member of the group Developers: given by Developer tools only." in body
    ends = "If this access ends, you lose Developers and Support queue; you keep Builders through Production on-call."
    assert ends in body


def test_someone_else_cannot_read_why(client, catalog, admin, deliver, outsider):
    otto = otto_scene(catalog, admin, deliver)
    client.force_login(outsider)
    assert client.get(f"/myaccess/access/{otto.dev_assignment.pk}/?why=1").status_code == 404
