"""Overview > "Email this link": send a package's My Access link to named people."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from django.db import transaction

from governance.audit import log_action
from governance.errors import NotAllowed, NotFound, ValidationFailed
from governance.ids import is_uuid
from governance.models import AccessPackage, AssignmentPolicy, User
from governance.models.identity import person_of
from governance.permissions import Action, get_for
from governance.services import notifications
from governance.services.text import clean_text

MAX_RECIPIENTS = 100
MAX_NOTE = 2000


def email_package_link(actor: Any, package_id: UUID | str, recipient_ids: Sequence[UUID | str], note: str = "") -> int:
    """Email the link to each recipient (through the outbox); returns how many were sent.

    People who may assign a package may invite others to request it, as in Entra. Whether a
    recipient may then request it is decided by the package's policies, not here.
    """
    if not is_uuid(package_id):
        raise NotFound("Access package not found.")
    sender = person_of(actor)
    if sender is None:
        raise NotAllowed("Only a person can share a link.")
    ids = list(dict.fromkeys(str(pk) for pk in recipient_ids if pk))
    if not ids:
        raise ValidationFailed("Choose at least one person.", field="recipients")
    if len(ids) > MAX_RECIPIENTS:
        raise ValidationFailed(f"Choose at most {MAX_RECIPIENTS} people at a time.", field="recipients")
    if not all(is_uuid(pk) for pk in ids):
        raise ValidationFailed("Some chosen people do not exist.", field="recipients")
    note = clean_text(note, "note", max_length=MAX_NOTE, what="message")
    with transaction.atomic():
        package: AccessPackage = get_for(
            actor, Action.ASSIGN, AccessPackage.objects.all(), package_id, "access package"
        )
        recipients = list(User.objects.filter(pk__in=ids, is_active=True).order_by("username"))
        if len(recipients) != len(ids):
            raise ValidationFailed("Some chosen people do not exist or are disabled.", field="recipients")
        without_email = [str(u) for u in recipients if not u.email]
        if without_email:
            raise ValidationFailed(f"No email address: {', '.join(without_email)}.", field="recipients")
        sent = notifications.share_package_link(package, recipients, sender, note)
        log_action(actor, "package.link_shared", package, recipients=[u.username for u in recipients])
    return sent


def recipients_no_policy_allows(package: AccessPackage, recipients: Sequence[User]) -> list[User]:
    """Who of ``recipients`` no enabled policy of the package lets request it: the link would
    only tell them they can't ("Email this link" warns before sending to them)."""
    return [
        person
        for person in recipients
        if not AssignmentPolicy.objects.requestable_by(person).filter(package=package).exists()
    ]
