"""Emailed approval links (DESIGN §6): signed, single use, naming one approver, one request
and one stage, and expiring with the stage.

Mail scanners follow links, so opening a link (``open_link`` + ``check_usable``) never
changes anything; only ``decide_by_link`` (a POST) decides. The signature makes a link
unforgeable; the stored :class:`ApprovalLink` row (written with the approver's email,
:func:`governance.services.notifications.issue_link`) makes it single use.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from governance.audit import log_action
from governance.errors import InvalidTransition, NotAllowed, NotFound
from governance.models import ApprovalDecision, ApprovalLink, RequestState, User
from governance.services.approvals import already_decided, decide
from governance.services.notifications import LINK_SALT
from governance.services.wording import local_time


class LinkInvalid(NotFound):
    """Tampered, truncated, or not a link this site issued."""

    code = "invalidLink"


class LinkUsed(InvalidTransition):
    code = "linkUsed"
    http_status = 410


class LinkExpired(InvalidTransition):
    code = "linkExpired"
    http_status = 410


class LinkForSomeoneElse(NotAllowed):
    code = "linkForSomeoneElse"


class SignInRequired(NotAllowed):
    code = "signInRequired"
    http_status = 401


def _local(value: datetime) -> str:
    return local_time(value)


def open_link(token: str, request_id: UUID) -> ApprovalLink:
    """The link behind a token, read only. :class:`LinkInvalid` when it is not genuine."""
    try:
        link_id = UUID(str(signing.loads(token, salt=LINK_SALT)))
    except (signing.BadSignature, ValueError, TypeError) as exc:
        raise LinkInvalid(_("This approval link is not valid. It may have been cut short or changed.")) from exc
    link = (
        ApprovalLink.objects.select_related(
            "approver", "decision", "request__package", "request__target", "request__policy"
        )
        .filter(pk=link_id, request_id=request_id)
        .first()
    )
    if link is None:
        raise LinkInvalid(_("This approval link is not valid. It may have been cut short or changed."))
    return link


def check_usable(link: ApprovalLink, user: User | None, now: datetime | None = None) -> None:
    """Raise why this link cannot decide anything now, or return when it can.

    ``user`` is whoever is signed in (None when nobody is). The person comes first, so a
    link in the wrong hands tells nothing about the request.
    """
    now = now or timezone.now()
    if user is None and settings.APPROVAL_LINK_REQUIRES_LOGIN:
        raise SignInRequired(_("Sign in to approve or deny this request."))
    if user is not None and user.pk != link.approver_id:
        raise LinkForSomeoneElse(
            _(
                "This approval link was sent to %(approver)s, and you are signed in as %(user)s. "
                "Only the person it was sent to can use it."
            )
            % {"approver": link.approver, "user": user}
        )
    if link.used_at is not None:
        used_at = _local(link.used_at)
        if link.decision is not None and link.decision.decision == "Approve":
            used = _("This link has already been used: you approved this request on %(at)s.") % {"at": used_at}
        elif link.decision is not None:
            used = _("This link has already been used: you denied this request on %(at)s.") % {"at": used_at}
        else:
            used = _("This link has already been used: you decided this request on %(at)s.") % {"at": used_at}
        raise LinkUsed(f"{used} {_('Each approval link works once.')}")
    request = link.request
    existing = ApprovalDecision.objects.filter(request_id=link.request_id, stage_order=link.stage_order).first()
    if existing is not None:
        raise already_decided(existing)
    if request.state != RequestState.PENDING_APPROVAL or request.current_stage != link.stage_order:
        reason = f" {_(request.cancel_reason)}" if request.cancel_reason else ""
        waiting = _("This request is no longer waiting for your decision: it is %(state)s.") % {
            "state": request.get_state_display()
        }
        raise InvalidTransition(f"{waiting}{reason}")
    if now >= link.expires_at:
        raise LinkExpired(
            _("This link expired on %(at)s, when the time to decide this approval stage ran out.")
            % {"at": _local(link.expires_at)}
        )


def decide_by_link(
    token: str,
    request_id: UUID,
    user: User | None,
    decision: str,
    justification: str = "",
) -> ApprovalDecision:
    """Approve or deny through an emailed link, once, as the approver it names."""
    with transaction.atomic():
        found = open_link(token, request_id)
        link = (
            ApprovalLink.objects.select_for_update(of=("self",))
            .select_related("approver", "decision", "request__package", "request__target")
            .get(pk=found.pk)
        )
        check_usable(link, user)
        made = decide(link.approver, link.request_id, decision, justification, stage_order=link.stage_order)
        link.used_at = timezone.now()
        link.decision = made
        link.save(update_fields=["used_at", "decision"])
        log_action(
            link.approver,
            "request.approval_link_used",
            link.request,
            stage=link.stage_order,
            decision=decision,
            signed_in=user is not None,
        )
    return made
