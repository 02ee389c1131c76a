"""Sending the outbox: one email at a time, retried with backoff, never twice."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from governance.models import OutboundEmail
from governance.services import notifications

log = logging.getLogger(__name__)

MAX_EMAIL_ATTEMPTS = 8


def send_outbound_email(email_id: UUID, connection: Any = None) -> bool:
    """Send one outbox row (over ``connection`` when the caller holds one open). True when
    it is (now or already) sent."""
    with transaction.atomic():
        email = OutboundEmail.objects.select_for_update(skip_locked=True, of=("self",)).filter(pk=email_id).first()
        if email is None:
            return False
        if email.sent_at is not None:
            return True
        if notifications.is_unrendered(email):
            _give_up([email.pk])  # rendered when read: only its deleted request stops that
            return False
        message = EmailMultiAlternatives(
            subject=email.subject,
            body=email.body_text,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[email.to_address],
            connection=connection,
        )
        if email.body_html:
            message.attach_alternative(email.body_html, "text/html")
        try:
            message.send()
        except Exception as exc:  # noqa: BLE001 - any SMTP failure is retried later
            email.attempts += 1
            email.last_error = str(exc)[:2000]
            email.next_attempt_at = timezone.now() + timedelta(minutes=2 ** min(email.attempts, 8))
            email.save(update_fields=["attempts", "last_error", "next_attempt_at"])
            log.warning("Sending %s to %s failed: %s", email.kind, email.to_address, exc)
            return False
        email.sent_at = timezone.now()
        email.attempts += 1
        email.last_error = ""
        # A row rendered when read (notifications.RENDERED_WHEN_SENT) keeps what was sent.
        email.save(update_fields=["sent_at", "attempts", "last_error", "subject", "body_text", "body_html"])
        return True


def unsent_due(now: datetime | None = None) -> list[UUID]:
    now = now or timezone.now()
    return list(
        OutboundEmail.objects.filter(sent_at__isnull=True, attempts__lt=MAX_EMAIL_ATTEMPTS)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .order_by("created_at")
        .values_list("pk", flat=True)[:500]
    )


def render_batch(email_ids: list[UUID]) -> None:
    """Render the batch's rows that hold only their kind and ids, in bulk, and store them
    (rather than one by one as each is read). A row whose request is gone is given up."""
    waiting = list(
        OutboundEmail.objects.filter(pk__in=email_ids, body_text="", sent_at__isnull=True).defer(
            "subject", "body_text", "body_html"
        )
    )
    if not waiting:
        return
    lost = {email.pk for email in notifications.render_unrendered(waiting)}
    rendered = [email for email in waiting if email.pk not in lost]
    if rendered:
        OutboundEmail.objects.bulk_update(rendered, ["subject", "body_text", "body_html"])
    _give_up(lost)


def _give_up(email_ids: Iterable[UUID]) -> None:
    OutboundEmail.objects.filter(pk__in=list(email_ids)).update(
        attempts=MAX_EMAIL_ATTEMPTS, last_error="Not sent: the request it was about was deleted."
    )


def _open_connection() -> Any:
    """One connection to the mail server for a batch, not one per message. When it cannot
    be opened, each message tries on its own and its failure is recorded and retried."""
    connection = get_connection(fail_silently=False)
    try:
        connection.open()
    except Exception as exc:  # noqa: BLE001 - the per-message path records the error
        log.warning("Could not open a connection to the mail server: %s", exc)
        return None
    return connection


def send_due(max_seconds: float = 60.0) -> tuple[int, bool]:
    """Send due emails until none is left or the time is up: (sent, more left)."""
    deadline = time.monotonic() + max_seconds
    sent = 0
    while time.monotonic() < deadline:
        batch = unsent_due()
        if not batch:
            return sent, False
        render_batch(batch)
        progressed = False
        connection = _open_connection()
        try:
            for email_id in batch:
                if send_outbound_email(email_id, connection):
                    sent += 1
                    progressed = True
                if time.monotonic() >= deadline:
                    return sent, True
        finally:
            if connection is not None:
                connection.close()
        if not progressed:
            return sent, False  # every due email failed: the sweeper retries after backoff
    return sent, True
