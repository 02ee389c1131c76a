"""Access reviewers are told in chat too: when an instance starts, and at its reminder, the
catalog's channels get one message (per channel) naming the package, the reviewers, the
deadline and the same safe link as the reviewers' email (Access reviews in My Access, behind
sign-in; never a reviewer's single-use link). Sent through the outbox to a local receiver."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from governance import models as m
from governance.services import chat, reviews
from tests import factories as f
from tests.governance.test_reviews import assign, start_now, turn_on
from tests.myaccess.conftest import content, signed_in
from tests.sod.chat_receiver import ChatReceiver, chat_receiver

pytestmark = pytest.mark.django_db
__all__ = ["chat_receiver"]


@pytest.fixture
def boss() -> m.User:
    return f.UserFactory(username="boss", display_name="Bo Boss")


@pytest.fixture
def team(boss) -> list[m.User]:
    return [
        f.UserFactory(username=name.split()[0].lower(), display_name=name, manager=boss)
        for name in ("Alice Adams", "Bob Brown")
    ]


@pytest.fixture
def reviewed(admin, catalog, make_package, team, chat_receiver: ChatReceiver) -> m.AssignmentPolicy:
    """A package whose policy is reviewed by the people's manager, in a catalog with a channel."""
    chat.save_channel(admin, catalog.pk, display_name="#reviews", kind=m.ChannelKind.WEBHOOK, url=chat_receiver.url)
    package = make_package(name="Payroll")
    assign(package, *team)
    policy = package.policies.get()
    turn_on(policy, justification_required=False, expiration_behavior=m.ExpirationBehavior.REMOVE)
    return policy


def test_reviewers_are_told_in_chat_when_a_review_starts(reviewed, boss, chat_receiver) -> None:
    instance = start_now(reviewed)
    assert chat.send_due() == 1
    [post] = chat_receiver.posts
    assert post["title"] == "Access review of Payroll started"
    assert 'An access review of the access package "Payroll" has started: 2 decisions to make by' in post["message"]
    assert "Without a decision, access is removed." in post["message"]
    assert "Reviewers: Bo Boss." in post["message"]
    email = m.OutboundEmail.objects.get(kind="review_started", recipient=boss)
    link = post["message"].rsplit("Review in My Access: ", 1)[1].strip()
    assert link.endswith("/myaccess/reviews/")
    assert link in email.body_text  # the same link as the email's "Access reviews in My Access"
    assert "/link/" not in post["message"]  # never a reviewer's single-use link
    message = m.ChatMessage.objects.get()
    assert (message.kind, message.request, message.sent_at is not None) == ("review_started", None, True)
    # The link opens the reviewer's own list, behind sign-in.
    page = content(signed_in(boss).get("/myaccess/reviews/"))
    assert "Alice Adams" in page
    assert "Bob Brown" in page
    assert instance.state == m.InstanceState.IN_PROGRESS


def test_the_reminder_is_told_in_chat_with_what_is_left(reviewed, boss, team, chat_receiver) -> None:
    instance = start_now(reviewed)
    reviews.decide(boss, [instance.decisions.get(target=team[0]).pk], m.ReviewDecision.APPROVE)
    halfway = instance.start_at + (instance.end_at - instance.start_at) / 2 + timedelta(minutes=1)
    with time_machine.travel(halfway, tick=False):
        assert reviews.send_reminders() == 1
    assert chat.send_due() == 2
    titles = [post["title"] for post in chat_receiver.posts]
    assert titles == ["Access review of Payroll started", "Reminder: access review of Payroll has 1 decision left"]
    assert "has not finished: 1 decision to make by" in chat_receiver.posts[1]["message"]
    assert m.ChatMessage.objects.filter(kind="review_reminder").count() == 1


def test_nothing_left_to_review_means_no_reminder_in_chat(reviewed, boss, chat_receiver) -> None:
    instance = start_now(reviewed)
    reviews.decide(boss, list(instance.decisions.values_list("pk", flat=True)), m.ReviewDecision.APPROVE)
    halfway = instance.start_at + (instance.end_at - instance.start_at) / 2 + timedelta(minutes=1)
    with time_machine.travel(halfway, tick=False):
        reviews.send_reminders()
    assert not m.ChatMessage.objects.filter(kind="review_reminder").exists()


def test_a_catalog_without_a_channel_writes_no_message(admin, make_package, team) -> None:
    package = make_package(name="Wiki")
    assign(package, *team)
    policy = package.policies.get()
    turn_on(policy, justification_required=False)
    start_now(policy)
    assert not m.ChatMessage.objects.exists()
    assert m.OutboundEmail.objects.filter(kind="review_started").exists()


def test_a_broken_channel_never_blocks_the_review(reviewed, chat_receiver) -> None:
    chat_receiver.status = 500
    instance = start_now(reviewed)
    assert instance.decisions.count() == 2
    assert chat.send_due() == 0
    assert m.ChatMessage.objects.get().last_error == "the channel did not accept the message"
