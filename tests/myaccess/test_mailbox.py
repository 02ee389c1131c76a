"""The development mailbox: only with DEBUG on, so `make run` users can play approver; only
signed in, and each person sees their own emails (administrators everyone's)."""

from __future__ import annotations

import pytest
from django.test import Client

from governance import models as m
from governance.services import requests
from tests import factories as f
from tests.clients import signed_in
from tests.myaccess.conftest import approval_link, path_of

pytestmark = pytest.mark.django_db


def test_lists_and_opens_emails_with_their_links(settings, requestor, approver, developer_tools):
    """`make run`'s way to play approver: sign in as the approver, open their email, follow it."""
    settings.DEBUG = True
    request = requests.submit_request(requestor, developer_tools.pk, justification="Release")
    client = signed_in(approver)
    listing = client.get("/myaccess/mailbox/").content.decode()
    email = m.OutboundEmail.objects.get(kind="approval_needed")
    assert f'href="/myaccess/mailbox/{email.pk}/"' in listing
    assert email.subject in listing

    opened = client.get(f"/myaccess/mailbox/{email.pk}/").content.decode()
    link = approval_link(approver, request)
    assert f'<a href="{link}"' in opened  # clickable
    html = client.get(f"/myaccess/mailbox/{email.pk}/html/")
    assert html["Content-Type"].startswith("text/html")
    assert link in html.content.decode()
    # Following it is the real approval flow.
    assert client.get(path_of(link)).status_code == 200


@pytest.mark.parametrize("persona", ["admin", "governance_admin"])
def test_administrators_read_everyones_emails(request, settings, requestor, developer_tools, persona):
    settings.DEBUG = True
    requests.submit_request(requestor, developer_tools.pk, justification="Release")
    client = signed_in(request.getfixturevalue(persona))
    approval = m.OutboundEmail.objects.get(kind="approval_needed")
    listing = client.get("/myaccess/mailbox/").content.decode()
    assert approval.subject in listing
    assert "Your request for Developer tools was submitted" in listing
    only_approver = client.get("/myaccess/mailbox/", {"to": "approver"}).content.decode()
    assert approval.subject in only_approver
    assert "was submitted" not in only_approver
    for path in ("", "html/"):
        assert client.get(f"/myaccess/mailbox/{approval.pk}/{path}").status_code == 200


@pytest.mark.parametrize("persona", ["requestor", "user_admin", "catalog_owner"])
def test_everyone_else_reads_only_their_own(request, settings, requestor, approver, developer_tools, persona):
    """The outbox holds everyone's approval links: a person sees what was sent to them."""
    settings.DEBUG = True
    reader = request.getfixturevalue(persona)
    requests.submit_request(requestor, developer_tools.pk, justification="Release")
    mine = f.OutboundEmailFactory(recipient=None, to_address=reader.email.upper(), subject="Sent to my address")
    for_me = f.OutboundEmailFactory(recipient=reader, to_address=reader.email, subject="Sent to me")
    approval = m.OutboundEmail.objects.get(kind="approval_needed")
    client = signed_in(reader)

    listing = client.get("/myaccess/mailbox/").content.decode()
    assert mine.subject in listing
    assert for_me.subject in listing
    assert approval.subject not in listing
    assert approval.subject not in client.get("/myaccess/mailbox/", {"to": "approver"}).content.decode()
    for path in ("", "html/"):
        assert client.get(f"/myaccess/mailbox/{approval.pk}/{path}").status_code == 404
    assert client.get(f"/myaccess/mailbox/{mine.pk}/").status_code == 200


@pytest.mark.parametrize("path", ["", "{pk}/", "{pk}/html/"])
def test_signing_in_is_required_even_in_development(settings, requestor, developer_tools, path):
    settings.DEBUG = True
    requests.submit_request(requestor, developer_tools.pk, justification="Release")
    email = m.OutboundEmail.objects.get(kind="approval_needed")
    response = Client().get("/myaccess/mailbox/" + path.format(pk=email.pk))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")
    assert email.subject.encode() not in response.content


def test_menu_shows_it_only_with_debug(settings, requestor):
    client = Client()
    client.force_login(requestor)
    settings.DEBUG = True
    assert 'href="/myaccess/mailbox/"' in client.get("/myaccess/").content.decode()
    settings.DEBUG = False
    assert 'href="/myaccess/mailbox/"' not in client.get("/myaccess/").content.decode()


@pytest.mark.parametrize("path", ["", "{pk}/", "{pk}/html/"])
def test_404_without_debug(settings, requestor, developer_tools, admin, path):
    settings.DEBUG = False
    requests.submit_request(requestor, developer_tools.pk, justification="Release")
    email = m.OutboundEmail.objects.first()
    client = Client()
    client.force_login(admin)
    assert client.get("/myaccess/mailbox/" + path.format(pk=email.pk)).status_code == 404
