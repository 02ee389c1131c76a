"""Email: written to the outbox with the change, sent once, retried on failure."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import mail
from django.core.mail.backends import locmem

from governance import models as m
from governance.services import outbox, requests
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _locmem(settings: Any) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def test_approval_request_emails_the_approver_with_a_link(make_package, requestor, approver, settings):
    request = requests.submit_request(requestor, make_package(approvers=[approver]).pk, justification="Release")
    email = m.OutboundEmail.objects.get(kind="approval_needed")
    assert email.to_address == approver.email
    assert f"{settings.SITE_URL}/myaccess/approvals/{request.pk}/" in email.body_text
    assert "Release" in email.body_text

    assert outbox.send_outbound_email(email.pk) is True
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [approver.email]
    assert mail.outbox[0].subject == email.subject
    # Sending again does not send twice.
    assert outbox.send_outbound_email(email.pk) is True
    assert len(mail.outbox) == 1


def test_a_failed_send_is_kept_for_a_retry(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 1, 1
    email = f.OutboundEmailFactory()
    assert outbox.send_outbound_email(email.pk) is False
    email.refresh_from_db()
    assert email.sent_at is None
    assert email.attempts == 1
    assert email.last_error
    assert email.next_attempt_at is not None
    assert email.pk not in outbox.unsent_due()


def test_people_without_an_address_or_disabled_get_nothing(make_package, approver):
    mute = f.UserFactory(email="")
    requests.submit_request(mute, make_package(approvers=[approver]).pk)
    assert not m.OutboundEmail.objects.filter(recipient=mute).exists()


def test_a_requestor_who_cancels_gets_a_confirmation(make_package, requestor, approver):
    from governance.services import requests as request_service

    request = request_service.submit_request(requestor, make_package(approvers=[approver]).pk)
    request_service.cancel_request_as_requestor(requestor, request.pk)
    email = m.OutboundEmail.objects.get(kind="request_canceled", recipient=requestor)
    assert "Canceled by the requestor." in email.body_text


def test_decisions_are_audited_by_name(make_package, requestor, approver):
    from governance.services import approvals
    from governance.services import requests as request_service

    first = request_service.submit_request(requestor, make_package(approvers=[approver]).pk)
    approvals.decide(approver, first.pk, m.Decision.DENY, "No")
    assert m.AuditEvent.objects.filter(action="request.stage_denied", object_id=str(first.pk)).exists()


def test_a_batch_with_the_mail_server_down_records_each_failure(settings):
    """send_due opens one connection per batch; when it cannot, every message still tries,
    fails, and is kept for a retry — nothing is lost and the task does not crash."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 1, 1
    emails = f.OutboundEmailFactory.create_batch(3)
    assert outbox.send_due(max_seconds=30) == (0, False)
    for email in emails:
        email.refresh_from_db()
        assert email.sent_at is None
        assert email.attempts == 1
        assert email.last_error


class CountingBackend(locmem.EmailBackend):
    """The in-memory backend, counting the connections opened (one per SMTP session)."""

    opened = 0

    def open(self) -> bool:
        CountingBackend.opened += 1
        return True


def test_a_batch_goes_out_over_one_connection(settings):
    settings.EMAIL_BACKEND = "tests.governance.test_outbox.CountingBackend"
    CountingBackend.opened = 0
    emails = f.OutboundEmailFactory.create_batch(4)
    assert outbox.send_due(max_seconds=30) == (4, False)
    assert sorted(message.to[0] for message in mail.outbox) == sorted(e.to_address for e in emails)
    assert CountingBackend.opened == 1
    assert not outbox.unsent_due()
