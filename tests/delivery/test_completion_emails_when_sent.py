"""Completion emails (request delivered, access given, delivery failed) are written as their
kind and ids in the delivery transaction and rendered when sent (notifications
RENDERED_WHEN_SENT), as the ended-access emails of an expiry are. What is sent is what
rendering at once would have sent: subject, text and HTML, in the recipient's language and
time zone, and as of the state the request completed in even when it moved on since."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import mail

from governance import models as m
from governance.services import assignments, notifications, outbox, requests
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _mail(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SITE_URL = "https://portcullis.example"


def stored(kind: str, recipient: m.User) -> dict[str, Any]:
    """The outbox row as the delivery transaction wrote it (read without rendering it)."""
    [row] = m.OutboundEmail.objects.filter(kind=kind, recipient=recipient).values(
        "subject", "body_text", "body_html", "request_id", "request_state"
    )
    return row


def at_once(request_id: Any) -> m.OutboundEmail:
    """The email rendering at the moment of completion makes (the request as it is now)."""
    request = m.AssignmentRequest.objects.select_related("package", "target", "assignment").get(pk=request_id)
    email = notifications.request_completed(request, save=False)
    assert email is not None
    return email


def sent_to(person: m.User) -> list[Any]:
    return [message for message in mail.outbox if message.to == [person.email]]


def assert_sent_as(expected: m.OutboundEmail, person: m.User) -> None:
    outbox.send_due(max_seconds=30)
    [message] = sent_to(person)
    assert message.subject == expected.subject
    assert message.body == expected.body_text
    assert message.alternatives[0][0] == expected.body_html
    kept = m.OutboundEmail.objects.filter(recipient=person, kind=expected.kind).values(
        "subject", "body_text", "body_html", "sent_at"
    )
    [row] = kept
    assert (row["subject"], row["body_text"], row["body_html"]) == (
        expected.subject,
        expected.body_text,
        expected.body_html,
    )
    assert row["sent_at"] is not None


class TestRenderedWhenSentEqualsRenderedAtOnce:
    def test_request_delivered_in_german_with_the_end_in_the_persons_zone(self, make_package, deliver):
        person = f.UserFactory(preferred_language="de", time_zone="America/New_York")
        package = make_package(name="Wiki", expiration_days=30)
        made = requests.submit_request(person, package.pk)
        deliver()

        row = stored("request_delivered", person)
        assert (row["body_text"], row["request_id"], row["request_state"]) == ("", made.pk, "delivered")
        expected = at_once(made.pk)
        assert expected.subject == "Sie haben jetzt Zugriff auf Wiki"
        assert "EST" in expected.body_text or "EDT" in expected.body_text  # the end, in their zone
        assert_sent_as(expected, person)

    def test_access_given_in_french_names_the_giver_and_the_reason(self, make_package, deliver, admin):
        person = f.UserFactory(preferred_language="fr", time_zone="Europe/Paris")
        package = make_package(name="Paie", allowed_target_scope=m.TargetScope.NO_ONE, expiration_days=10)
        [made] = assignments.create_direct_assignments(
            admin, package.pk, policy_id=package.policies.get().pk, target_ids=[person.pk], justification="Arrivée"
        )
        deliver()

        row = stored("access_given", person)
        assert (row["body_text"], row["request_state"]) == ("", "delivered")
        expected = at_once(made.pk)
        assert "Paie" in expected.subject
        assert str(admin) in expected.body_text
        assert "Arrivée" in expected.body_text
        assert "CET" in expected.body_text or "CEST" in expected.body_text
        assert_sent_as(expected, person)

    def test_partially_delivered_is_told_as_partial_even_after_a_reprocess_moved_the_request(
        self, make_package, deliver, admin
    ):
        person = f.UserFactory(preferred_language="de")
        package = make_package(name="Wiki", roles=2)
        broken = package.resource_roles.select_related("resource").order_by("pk").first()
        assert broken is not None
        m.DirectoryGroup.objects.filter(pk=broken.resource.origin_id).delete()
        made = requests.submit_request(person, package.pk)
        deliver()

        row = stored("request_delivery_failed", person)
        assert (row["body_text"], row["request_state"]) == ("", "partiallyDelivered")
        expected = at_once(made.pk)  # rendered as it completed: partially delivered
        assert "teilweise" in expected.body_text
        # Reprocessed before the sender came round: the request is delivering again ...
        requests.reprocess_request(admin, made.pk)
        assert m.AssignmentRequest.objects.get(pk=made.pk).state == m.RequestState.DELIVERING
        # ... and the email still says what happened when it was written.
        assert_sent_as(expected, person)


class TestTheDeliveryTransactionRendersNothing:
    def test_a_batch_of_completions_writes_unrendered_rows_only(self, make_package, deliver):
        who = [f.UserFactory() for _ in range(4)]
        package = make_package(name="Wiki")
        for person in who:
            requests.submit_request(person, package.pk)
        deliver()
        rows = m.OutboundEmail.objects.filter(kind="request_delivered").values_list("body_text", "subject")
        assert sorted(rows) == [("", "")] * 4
        outbox.send_due(max_seconds=30)
        assert sorted(message.to[0] for message in mail.outbox if "Wiki" in message.subject) == sorted(
            p.email for p in who
        )
