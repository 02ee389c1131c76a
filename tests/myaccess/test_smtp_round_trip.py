"""A real SMTP round trip: the approval email arrives, its link is followed, the requestor hears back."""

from __future__ import annotations

import email
import email.policy
import re
import socket
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from django.test import Client

from governance import models as m
from governance.services import outbox
from tests.myaccess.conftest import everything, path_of

pytestmark = pytest.mark.django_db


class Inbox:
    """The aiosmtpd handler: keeps every message it is given."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 Message accepted for delivery"

    def to(self, address: str, subject_contains: str) -> EmailMessage:
        found = [msg for msg in self.messages if msg["To"] == address and subject_contains in str(msg["Subject"])]
        assert len(found) == 1, [(msg["To"], msg["Subject"]) for msg in self.messages]
        return found[0]


def free_port() -> int:
    # aiosmtpd connects to its own port to check it started, so it needs a real number.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def smtp_inbox(settings: Any) -> Iterator[Inbox]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    try:
        yield inbox
    finally:
        controller.stop()


def send_outbox() -> int:
    """What the worker does after the commit: send every unsent outbox row."""
    return sum(1 for pk in outbox.unsent_due() if outbox.send_outbound_email(pk))


def test_approval_by_email_end_to_end(smtp_inbox, requestor, approver, developer_tools, settings):
    settings.SITE_URL = "http://portal.test"
    browser = Client()
    browser.force_login(requestor)
    browser.post(f"/myaccess/packages/{developer_tools.pk}/request/", {"justification": "Release 4.2"})
    request = m.AssignmentRequest.objects.get(target=requestor, package=developer_tools)
    assert send_outbox() == 2  # the approver's "approval needed" and the requestor's "submitted"

    message = smtp_inbox.to(approver.email, "Approval needed")
    assert message["From"] == settings.DEFAULT_FROM_EMAIL
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    link = re.search(r"http://portal\.test/myaccess/approvals/[0-9a-f-]{36}/link/[^/\s]+/", text).group(0)
    assert f'href="{link}"' in html
    assert "Release 4.2" in text

    # The approver's mail client (or a scanner) opens it: nothing is decided.
    mail_client = Client()
    before = everything()
    opened = mail_client.get(path_of(link))
    assert opened.status_code == 302  # sign in first (APPROVAL_LINK_REQUIRES_LOGIN)
    mail_client.post("/accounts/login/", {"username": approver.username, "password": "pw", "next": path_of(link)})
    page = mail_client.get(path_of(link))
    assert page.status_code == 200
    assert "Release 4.2" in page.content.decode()
    assert everything() == before

    decided = mail_client.post(path_of(link), {"decision": "Approve", "stage": 1, "justification": "Go"})
    assert decided.status_code == 200
    request.refresh_from_db()
    assert request.state == m.RequestState.DELIVERING

    assert send_outbox() == 1
    approved = smtp_inbox.to(requestor.email, "was approved")
    assert (
        f"http://portal.test/myaccess/requests/{request.pk}/"
        in approved.get_body(preferencelist=("plain",)).get_content()
    )

    # Replaying the emailed link is refused, and changes nothing.
    before = everything()
    replay = mail_client.post(path_of(link), {"decision": "Deny", "stage": 1})
    assert replay.status_code == 410
    assert "This link has already been used" in replay.content.decode()
    assert everything() == before
    assert send_outbox() == 0


def test_a_mail_server_that_is_down_never_blocks_the_request(settings, requestor, developer_tools):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 1
    browser = Client()
    browser.force_login(requestor)
    response = browser.post(f"/myaccess/packages/{developer_tools.pk}/request/", {"justification": "x"})
    assert response.status_code == 302
    assert send_outbox() == 0
    unsent = m.OutboundEmail.objects.filter(sent_at__isnull=True)
    assert unsent.count() == 2
    assert all(row.attempts == 1 and row.last_error for row in unsent)
