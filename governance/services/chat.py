"""Chat notifications: approvers and access reviewers are also told in a catalog's chat channels (Slack, Microsoft
Teams, a generic JSON webhook), through ``apprise`` rather than hand-written clients.

A message carries the same safe link as the approval email's "Approvals" link (the request's
page in My Access, behind sign-in; never the approver's single-use link). Messages are
queued in the transaction of the change they tell about and sent by a worker, retried with
backoff like the email outbox: a broken channel never blocks or fails a request.

apprise formats each message for its service (Slack, Teams Workflows, JSON); the HTTP call
itself goes through :mod:`governance.outbound` like every outbound call (DESIGN §11: no
link-local or metadata addresses, loopback only when configured, DNS pinned, no redirects,
capped answers): the notifiers used here get :data:`governance.outbound.REQUESTS_LIKE` as
their ``requests``, and a notifier that does not is refused rather than let out on its own.
"""

from __future__ import annotations

import logging
import sys
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

import apprise
import apprise.plugins.custom_json
import apprise.plugins.slack
import apprise.plugins.workflows
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from governance import encryption
from governance.audit import log_action
from governance.errors import NotFound, ValidationFailed
from governance.ids import is_uuid
from governance.models import AssignmentRequest, Catalog, ChannelKind, ChatChannel, ChatMessage
from governance.outbound import REQUESTS_LIKE, OutboundError, check_url, one_line
from governance.permissions import Action, get_for
from governance.services import dispatch
from governance.services.text import clean_name

log = logging.getLogger(__name__)

MAX_CHAT_ATTEMPTS = 8
SLACK_HOSTS = ("hooks.slack.com",)
TEAMS_SUFFIXES = (".webhook.office.com", "outlook.office.com", ".logic.azure.com")


# The notifiers chat uses (Slack, Teams Workflows, generic JSON) send through outbound.py.
NOTIFIER_MODULES = (apprise.plugins.slack, apprise.plugins.workflows, apprise.plugins.custom_json)
for _module in NOTIFIER_MODULES:
    _module.requests = REQUESTS_LIKE  # type: ignore[attr-defined]


def _notifier(kind: str, url: str) -> Any:
    """apprise's notifier for a channel, only if its calls go through outbound.py."""
    notifier = apprise.Apprise.instantiate(apprise_url(kind, url))
    if notifier is None:
        raise OutboundError("the channel URL is not one apprise can use")
    module = sys.modules.get(type(notifier).__module__)
    if getattr(module, "requests", None) is not REQUESTS_LIKE:
        raise OutboundError("this kind of channel cannot be reached through the outbound client")
    return notifier


def _loopback_allowed(host: str) -> bool:
    return host in {"127.0.0.1", "localhost", "::1"} and bool(settings.OUTBOUND_ALLOW_LOOPBACK)


def _check_channel_url(kind: str, url: str) -> str:
    url = (url or "").strip()
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if len(url) > 2000 or not host:
        raise ValidationFailed("Enter the channel's webhook URL.", field="url")
    if parts.scheme != "https" and not (parts.scheme == "http" and _loopback_allowed(host)):
        raise ValidationFailed("The webhook URL must be an https:// URL.", field="url")
    if kind == ChannelKind.SLACK and host not in SLACK_HOSTS and not _loopback_allowed(host):
        raise ValidationFailed("A Slack incoming webhook starts with https://hooks.slack.com/.", field="url")
    if kind == ChannelKind.TEAMS and not host.endswith(TEAMS_SUFFIXES) and not _loopback_allowed(host):
        raise ValidationFailed("A Teams incoming webhook is on webhook.office.com.", field="url")
    try:
        check_url(url)
    except OutboundError as exc:
        raise ValidationFailed(f"This URL cannot be used: {exc}.", field="url") from None
    return url


def apprise_url(kind: str, url: str) -> str:
    """The URL apprise understands: Slack and Teams webhooks as they are (apprise reads their
    native form); a generic webhook as apprise's JSON notifier."""
    if kind == ChannelKind.WEBHOOK or _loopback_allowed((urlsplit(url).hostname or "").lower()):
        scheme, rest = url.split("://", 1)
        return ("jsons://" if scheme == "https" else "json://") + rest
    return url


def save_channel(actor: Any, catalog_id: UUID | str, *, display_name: str, kind: str, url: str) -> ChatChannel:
    display_name = clean_name(display_name, "display_name")
    if kind not in ChannelKind.values:
        raise ValidationFailed("Choose Slack, Microsoft Teams or a generic webhook.", field="kind")
    url = _check_channel_url(kind, url)
    with transaction.atomic():
        catalog: Catalog = get_for(actor, Action.MANAGE_CATALOG, Catalog.objects.all(), catalog_id, "catalog")
        parts = urlsplit(url)
        channel = ChatChannel.objects.create(
            catalog=catalog,
            display_name=display_name,
            kind=kind,
            url_encrypted=encryption.encrypt(url),
            url_hint=f"{parts.scheme}://{parts.hostname}/…",
        )
        log_action(actor, "chat_channel.created", channel, kind=kind)
    return channel


def delete_channel(actor: Any, catalog_id: UUID | str, channel_id: UUID | str) -> None:
    with transaction.atomic():
        catalog: Catalog = get_for(actor, Action.MANAGE_CATALOG, Catalog.objects.all(), catalog_id, "catalog")
        channel = ChatChannel.objects.filter(pk=channel_id, catalog=catalog).first() if is_uuid(channel_id) else None
        if channel is None:
            raise NotFound("Channel not found.")
        log_action(actor, "chat_channel.deleted", channel, name=channel.display_name)
        channel.delete()


# --- Queuing and sending ----------------------------------------------------------------------


def announce(request: AssignmentRequest, kind: str, title: str, body: str) -> int:
    """Queue one message per channel of the request's catalog (in the caller's transaction)."""
    return announce_in_catalog(request.package.catalog_id, kind, title, body, request=request)


def announce_in_catalog(
    catalog_id: UUID, kind: str, title: str, body: str, *, request: AssignmentRequest | None = None
) -> int:
    """Queue one message per channel of a catalog (in the caller's transaction)."""
    channels = list(ChatChannel.objects.filter(catalog_id=catalog_id))
    ChatMessage.objects.bulk_create(
        ChatMessage(channel=channel, kind=kind, title=title[:300], body=body, request=request) for channel in channels
    )
    if channels:
        dispatch.send_on_commit(dispatch.SEND_CHAT_MESSAGES)
    return len(channels)


def send_message(message_id: UUID, now: datetime | None = None) -> bool:
    """Send one queued message; True when it is (now or already) sent."""
    with transaction.atomic():
        message = (
            ChatMessage.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("channel")
            .filter(pk=message_id)
            .first()
        )
        if message is None:
            return False
        if message.sent_at is not None:
            return True
        now = now or timezone.now()
        try:
            url = encryption.decrypt(message.channel.url_encrypted)
            notifier = _notifier(message.channel.kind, url)
            with REQUESTS_LIKE.watch() as failures:
                delivered = bool(notifier.notify(title=message.title, body=message.body))
            # A refusal by outbound.py (address not allowed, connection refused) is recorded
            # as such; an answer that is not a success, as the channel not accepting it.
            refused = [reason for reason in failures if not reason.startswith("HTTP ")]
            error = "" if delivered else (refused[-1] if refused else "the channel did not accept the message")
        except (OutboundError, encryption.SecretsUnavailable) as exc:
            delivered, error = False, str(exc)
        message.attempts += 1
        if delivered:
            message.sent_at = now
            message.last_error = ""
            message.next_attempt_at = None
        else:
            message.last_error = one_line(error, 480)
            message.next_attempt_at = now + timedelta(minutes=2 ** min(message.attempts, 8))
            log.warning("Chat message to %s failed: %s", message.channel, message.last_error)
        message.save(update_fields=["attempts", "sent_at", "last_error", "next_attempt_at"])
        return delivered


def unsent_due(now: datetime | None = None, limit: int = 200) -> list[UUID]:
    now = now or timezone.now()
    return list(
        ChatMessage.objects.filter(sent_at__isnull=True, attempts__lt=MAX_CHAT_ATTEMPTS)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    )


def send_due(now: datetime | None = None) -> int:
    return sum(1 for pk in unsent_due(now) if send_message(pk, now))
