"""Chat channels reach their webhooks through governance.outbound like every outbound call
(DESIGN §11): apprise formats the message, outbound.py sends it, so a channel that points at
a metadata or link-local address, or at loopback when loopback is not allowed, is refused
and the outbox row records the refusal; nothing reaches the address."""

from __future__ import annotations

import ast
from pathlib import Path

import apprise.plugins.custom_json
import apprise.plugins.slack
import apprise.plugins.workflows
import pytest

from governance import encryption
from governance import models as m
from governance.outbound import REQUESTS_LIKE
from governance.services import chat, requests
from tests.sod.chat_receiver import ChatReceiver, chat_receiver

pytestmark = pytest.mark.django_db
__all__ = ["chat_receiver"]


def channel_at(catalog: m.Catalog, url: str) -> m.ChatChannel:
    """A channel row as stored (the address check at saving is not what is tested here)."""
    return m.ChatChannel.objects.create(
        catalog=catalog, display_name="#ops", kind=m.ChannelKind.WEBHOOK, url_encrypted=encryption.encrypt(url)
    )


@pytest.fixture
def asked(requestor, approver, catalog, make_package):
    """A request that tells the catalog's channels (approval needed)."""

    def ask() -> m.ChatMessage:
        requests.submit_request(requestor, make_package(name="Payroll", approvers=[approver]).pk)
        return m.ChatMessage.objects.get()

    return ask


def test_a_metadata_address_is_refused_and_recorded(catalog, asked) -> None:
    channel_at(catalog, "http://169.254.169.254/latest/meta-data/")
    message = asked()
    assert chat.send_due() == 0
    message.refresh_from_db()
    assert (message.attempts, message.sent_at) == (1, None)
    assert message.last_error == "address not allowed: cloud metadata (169.254.169.254)"


def test_loopback_is_refused_unless_allowed(settings, admin, catalog, asked, chat_receiver: ChatReceiver) -> None:
    # Saved while loopback was allowed; sent when it is not: the sending refuses it, by name
    # too (localhost resolves to loopback), and the receiver gets nothing.
    url = chat_receiver.url.replace("127.0.0.1", "localhost")
    chat.save_channel(admin, catalog.pk, display_name="#approvals", kind=m.ChannelKind.WEBHOOK, url=url)
    settings.OUTBOUND_ALLOW_LOOPBACK = False
    message = asked()
    assert chat.send_due() == 0
    message.refresh_from_db()
    assert message.sent_at is None
    assert message.last_error.startswith("address not allowed: loopback")
    assert chat_receiver.posts == []
    # Allowed again: the retry goes out through the same client.
    settings.OUTBOUND_ALLOW_LOOPBACK = True
    message.next_attempt_at = None
    message.save()
    assert chat.send_due() == 1
    assert [post["title"] for post in chat_receiver.posts] == [message.title]


def test_the_notifiers_chat_uses_send_through_outbound() -> None:
    for module in (apprise.plugins.slack, apprise.plugins.workflows, apprise.plugins.custom_json):
        assert module.requests is REQUESTS_LIKE, module.__name__


def test_a_notifier_that_would_send_on_its_own_is_refused(catalog, asked, monkeypatch) -> None:
    """A channel kind whose apprise notifier has not been given outbound.py is never let out."""
    monkeypatch.setattr(apprise.plugins.custom_json, "requests", __import__("requests"))
    channel_at(catalog, "https://chat.example.com/hook")
    message = asked()
    assert chat.send_due() == 0
    message.refresh_from_db()
    assert message.last_error == "this kind of channel cannot be reached through the outbound client"


def test_only_chat_uses_apprise() -> None:
    root = Path(__file__).resolve().parents[2]
    users = set()
    for folder in ("governance", "portal", "myaccess"):
        for path in (root / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
                if isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                if any(n.split(".")[0] == "apprise" for n in names):
                    users.add(str(path.relative_to(root)))
    assert users == {"governance/services/chat.py"}
