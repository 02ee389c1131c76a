"""The lifecycle of external users (Entra's "Manage the lifecycle of external users").

When an external user's last assignment ends, their sign-in is blocked; some days later
(30 by default) the account is removed. Both per connected organization
(:class:`ExternalUserLifecycle`, defaults from settings), both audited. A new assignment or
an open request in between keeps the account (and lets them sign in again).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, Max, OuterRef, Q
from django.db.models.deletion import ProtectedError
from django.utils import timezone

from governance.audit import log_action
from governance.errors import NotFound, ValidationFailed
from governance.ids import is_uuid
from governance.models import (
    Assignment,
    AssignmentRequest,
    AssignmentState,
    AuditEvent,
    ConnectedOrganization,
    ExternalUserLifecycle,
    ExternalUserOffboarding,
    GrantState,
    RequestState,
    RequestType,
    RoleGrant,
    User,
    UserType,
)
from governance.permissions import Action, can_globally


@dataclass(frozen=True)
class LifecycleSettings:
    block_sign_in: bool
    remove_account: bool
    remove_after_days: int


@dataclass
class LifecycleReport:
    blocked: int = 0
    marked: int = 0
    kept: int = 0
    removed: int = 0
    postponed: int = 0


def default_settings() -> LifecycleSettings:
    return LifecycleSettings(
        block_sign_in=settings.EXTERNAL_USER_BLOCK_SIGN_IN,
        remove_account=settings.EXTERNAL_USER_REMOVE_AFTER_DAYS > 0,
        remove_after_days=max(settings.EXTERNAL_USER_REMOVE_AFTER_DAYS, 0),
    )


def settings_for(organization_id: UUID | None) -> LifecycleSettings:
    row = ExternalUserLifecycle.objects.filter(organization_id=organization_id).first() if organization_id else None
    if row is None:
        return default_settings()
    return LifecycleSettings(row.block_sign_in, row.remove_account, row.remove_after_days)


def update_settings(
    actor: User, organization_id: UUID | str, *, block_sign_in: bool, remove_account: bool, remove_after_days: int
) -> ExternalUserLifecycle:
    """An administrator changes what happens to one organization's external users."""
    if not can_globally(actor, Action.MANAGE_ORGANIZATIONS):
        raise NotFound("Connected organization not found.")
    if remove_after_days < 1 or remove_after_days > 3650:
        raise ValidationFailed("Between 1 and 3650 days.", field="remove_after_days")
    with transaction.atomic():
        organization = (
            ConnectedOrganization.objects.filter(pk=organization_id).first() if is_uuid(organization_id) else None
        )
        if organization is None:
            raise NotFound("Connected organization not found.")
        row, _ = ExternalUserLifecycle.objects.select_for_update().get_or_create(organization=organization)
        previous = LifecycleSettings(row.block_sign_in, row.remove_account, row.remove_after_days)
        row.block_sign_in = block_sign_in
        row.remove_account = remove_account
        row.remove_after_days = remove_after_days
        row.save()
        log_action(
            actor,
            "organization.lifecycle_changed",
            organization,
            previous=previous.__dict__,
            block_sign_in=block_sign_in,
            remove_account=remove_account,
            remove_after_days=remove_after_days,
        )
    return row


def _has_access_or_request() -> Q:
    active = Assignment.objects.filter(target=OuterRef("pk"), state__in=AssignmentState.ACTIVE)
    # A removal still delivering is no reason to stay; a request for new access is.
    open_request = AssignmentRequest.objects.filter(
        target=OuterRef("pk"), state__in=RequestState.OPEN, request_type__in=RequestType.ADDS | RequestType.UPDATES
    )
    return Q(Exists(active)) | Q(Exists(open_request))


def run_external_user_lifecycle(now: datetime | None = None) -> LifecycleReport:
    """The beat job: keep those who got access again, block those whose last assignment
    ended, remove those whose days are up. Idempotent."""
    now = now or timezone.now()
    report = LifecycleReport()
    kept = ExternalUserOffboarding.objects.filter(
        user__in=User.objects.filter(_has_access_or_request()).values("pk")
    ).values_list("user_id", flat=True)
    for user_id in list(kept):
        report.kept += _keep(user_id)
    ended = (
        User.objects.filter(user_type=UserType.GUEST, offboarding__isnull=True)
        .filter(Exists(Assignment.objects.filter(target=OuterRef("pk"), state__in=AssignmentState.ENDED)))
        .exclude(_has_access_or_request())
        .values_list("pk", flat=True)
    )
    for user_id in list(ended):
        report.marked += 1
        report.blocked += _mark(user_id, now)
    for user_id in list(ExternalUserOffboarding.objects.filter(remove_at__lte=now).values_list("user_id", flat=True)):
        removed = _remove(user_id, now)
        report.removed += removed
        report.postponed += 1 - removed
    return report


def _lock_guest(user_id: UUID) -> User | None:
    return User.objects.select_for_update(of=("self",)).filter(pk=user_id, user_type=UserType.GUEST).first()


def _keep(user_id: UUID) -> int:
    """They have access again: no removal, and they may sign in (if we were the ones who blocked them)."""
    with transaction.atomic():
        user = _lock_guest(user_id)
        offboarding = ExternalUserOffboarding.objects.select_for_update().filter(user_id=user_id).first()
        if user is None or offboarding is None:
            return 0
        if offboarding.blocked_at is not None and not user.is_active:
            user.is_active = True
            user.save(update_fields=["is_active"])
            log_action(None, "user.sign_in_unblocked", user, reason="New access.")
        offboarding.delete()
        log_action(None, "user.removal_canceled", user, reason="New access.")
        return 1


def _last_end(user_id: UUID) -> datetime | None:
    return Assignment.objects.filter(target_id=user_id, state__in=AssignmentState.ENDED).aggregate(
        last=Max("ended_at")
    )["last"]


def _mark(user_id: UUID, now: datetime) -> int:
    with transaction.atomic():
        user = _lock_guest(user_id)
        if user is None or ExternalUserOffboarding.objects.filter(user_id=user_id).exists():
            return 0
        if User.objects.filter(pk=user_id).filter(_has_access_or_request()).exists():
            return 0
        rules = settings_for(user.connected_organization_id)
        last_end = _last_end(user_id) or now
        blocked = rules.block_sign_in and user.is_active
        ExternalUserOffboarding.objects.create(
            user=user,
            last_assignment_ended_at=last_end,
            blocked_at=now if blocked else None,
            remove_at=last_end + timedelta(days=rules.remove_after_days) if rules.remove_account else None,
        )
        if blocked:
            user.is_active = False
            user.save(update_fields=["is_active"])
            log_action(
                None,
                "user.sign_in_blocked",
                user,
                reason="The external user's last assignment ended.",
                last_assignment_ended_at=last_end,
            )
        return int(blocked)


def _remove(user_id: UUID, now: datetime) -> int:
    """Remove the account, unless access came back or a revocation is still in flight
    (deleting the person would forget what still has to be taken away)."""
    with transaction.atomic():
        user = _lock_guest(user_id)
        offboarding = ExternalUserOffboarding.objects.select_for_update().filter(user_id=user_id).first()
        if user is None or offboarding is None or offboarding.remove_at is None or offboarding.remove_at > now:
            return 0
        if User.objects.filter(pk=user_id).filter(_has_access_or_request()).exists():
            return 0
        last_end = _last_end(user_id)
        rules = settings_for(user.connected_organization_id)
        if last_end and last_end > offboarding.last_assignment_ended_at:
            # Another assignment ended meanwhile: the days count from that one.
            offboarding.last_assignment_ended_at = last_end
            offboarding.remove_at = last_end + timedelta(days=rules.remove_after_days)
            offboarding.save(update_fields=["last_assignment_ended_at", "remove_at"])
            if offboarding.remove_at > now:
                return 0
        if RoleGrant.objects.filter(subject_id=user_id, state__in=GrantState.WORK | {GrantState.FAILED}).exists():
            return 0
        data = {
            "username": user.username,
            "email": user.email,
            "organization": str(user.connected_organization) if user.connected_organization_id else "",
            "last_assignment_ended_at": offboarding.last_assignment_ended_at,
            "reason": f"The external user's last assignment ended {rules.remove_after_days} days ago.",
        }
        event = AuditEvent(
            actor_label="external user lifecycle",
            action="user.removed",
            object_type="user",
            object_id=str(user.pk),
            object_repr=str(user)[:512],
            data=data,
        )
        try:
            with transaction.atomic():
                user.delete()
        except ProtectedError:
            return 0
        event.save()
        return 1
