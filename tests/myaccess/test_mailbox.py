"""The development mailbox: only with DEBUG on, so `make run` users can play approver."""

from __future__ import annotations

import pytest
from django.test import Client

from governance import models as m
from governance.services import requests
from tests.myaccess.conftest import approval_link, path_of

pytestmark = pytest.mark.django_db


def test_lists_and_opens_emails_with_their_links(settings, requestor, approver, developer_tools):
    settings.DEBUG = True
    request = requests.submit_request(requestor, developer_tools.pk, justification="Release")
    client = Client()
    listing = client.get("/myaccess/mailbox/").content.decode()
    email = m.OutboundEmail.objects.get(kind="approval_needed")
    assert f'href="/myaccess/mailbox/{email.pk}/"' in listing
    assert email.subject in listing
    assert "Your request for Developer tools was submitted" in listing
    only_approver = client.get("/myaccess/mailbox/", {"to": "approver"}).content.decode()
    assert email.subject in only_approver
    assert "was submitted" not in only_approver

    opened = client.get(f"/myaccess/mailbox/{email.pk}/").content.decode()
    link = approval_link(approver, request)
    assert f'<a href="{link}"' in opened  # clickable
    html = client.get(f"/myaccess/mailbox/{email.pk}/html/")
    assert html["Content-Type"].startswith("text/html")
    assert link in html.content.decode()
    # Following it is the real approval flow (sign in as the approver).
    assert client.get(path_of(link)).status_code == 302


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
