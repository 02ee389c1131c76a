"""Chat notifications: a catalog's channel (Slack, Teams, a generic webhook, through apprise)
tells approvers of a request with the same safe link as the email, through an outbox that
retries; a broken channel never blocks a request. Tested against a local receiver."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from governance import models as m
from governance.errors import ValidationFailed
from governance.services import chat, requests
from tests.myaccess.conftest import content, signed_in
from tests.sod.chat_receiver import ChatReceiver, chat_receiver

pytestmark = pytest.mark.django_db
__all__ = ["chat_receiver"]


@pytest.fixture
def payroll(admin, approver, catalog, make_package, chat_receiver: ChatReceiver) -> m.AccessPackage:
    chat.save_channel(admin, catalog.pk, display_name="#approvals", kind=m.ChannelKind.WEBHOOK, url=chat_receiver.url)
    return make_package(name="Payroll", approvers=[approver])


def test_approvers_are_told_in_chat_with_the_safe_link(requestor, payroll, chat_receiver) -> None:
    made = requests.submit_request(requestor, payroll.pk, justification="Month end")
    assert chat.send_due() == 1
    [post] = chat_receiver.posts
    assert post["title"] == f"Approval needed: {requestor} requests Payroll"
    assert f"/myaccess/approvals/{made.pk}/" in post["message"]
    assert "Business justification: Month end" in post["message"]
    assert "/link/" not in post["message"]  # never an approver's single-use link
    email = m.OutboundEmail.objects.get(kind="approval_needed")
    assert f"/myaccess/approvals/{made.pk}/" in email.body_text  # the same link as the email's
    assert m.ChatMessage.objects.get().sent_at is not None


def test_a_broken_channel_never_blocks_the_request_and_is_retried(requestor, payroll, chat_receiver) -> None:
    chat_receiver.status = 500
    made = requests.submit_request(requestor, payroll.pk)
    assert made.state == m.RequestState.PENDING_APPROVAL
    assert chat.send_due() == 0
    message = m.ChatMessage.objects.get()
    assert (message.attempts, message.sent_at) == (1, None)
    assert message.last_error == "the channel did not accept the message"
    assert chat.send_due() == 0  # backing off
    chat_receiver.status = 200
    assert chat.send_due(timezone.now() + timedelta(minutes=5)) == 1
    assert len(chat_receiver.posts) == 1


def test_an_unreachable_channel_is_recorded_not_raised(admin, requestor, catalog, make_package) -> None:
    chat.save_channel(admin, catalog.pk, display_name="gone", kind=m.ChannelKind.WEBHOOK, url="http://127.0.0.1:9/x")
    package = make_package(name="Wiki", approvers=[admin])
    requests.submit_request(requestor, package.pk)
    assert chat.send_due() == 0
    assert m.ChatMessage.objects.get().attempts == 1


@pytest.mark.parametrize(
    ("kind", "url", "message"),
    [
        (m.ChannelKind.SLACK, "https://example.com/services/x", "hooks.slack.com"),
        (m.ChannelKind.TEAMS, "https://example.com/webhookb2/x", "webhook.office.com"),
        (m.ChannelKind.WEBHOOK, "ftp://example.com/x", "https://"),
        (m.ChannelKind.WEBHOOK, "https://169.254.169.254/latest", "cannot be used"),
    ],
)
def test_bad_channel_urls_are_refused(admin, catalog, kind, url, message) -> None:
    with pytest.raises(ValidationFailed, match=message):
        chat.save_channel(admin, catalog.pk, display_name="x", kind=kind, url=url)
    assert not m.ChatChannel.objects.exists()


def test_slack_and_teams_urls_go_to_apprise_as_they_are() -> None:
    slack = "https://hooks.slack.com/services/T000/B000/XXXX"
    teams = "https://contoso.webhook.office.com/webhookb2/a@b/IncomingWebhook/c/d"
    assert chat.apprise_url(m.ChannelKind.SLACK, slack) == slack
    assert chat.apprise_url(m.ChannelKind.TEAMS, teams) == teams
    assert chat.apprise_url(m.ChannelKind.WEBHOOK, "https://chat.example.com/h") == "jsons://chat.example.com/h"


def test_portal_adds_a_channel_whose_url_is_never_shown(admin, catalog, catalog_reader) -> None:
    client = signed_in(admin)
    assert "Chat channels (0)" in content(client.get(f"/governance/catalogs/{catalog.pk}/"))
    url = "https://hooks.slack.com/services/T000/B000/SECRETPART"
    response = client.post(
        f"/governance/catalogs/{catalog.pk}/chat/add/",
        {"display_name": "#approvals", "kind": m.ChannelKind.SLACK, "url": url},
        follow=True,
    )
    page = content(response)
    assert "Chat channel #approvals added" in page
    assert "SECRETPART" not in page
    assert "SECRETPART" not in m.ChatChannel.objects.get().url_encrypted
    reader = signed_in(catalog_reader)
    assert "Add chat channel" not in content(reader.get(f"/governance/catalogs/{catalog.pk}/chat/"))
    assert reader.post(f"/governance/catalogs/{catalog.pk}/chat/add/", {}).status_code == 404
