"""Approval stages (rule 4): enter a stage, decide it (the first decision wins), time out.

Who may decide a stage is the domain's rule (``AssignmentRequest.stage_approver_ids``, and
``awaiting_decision_by`` for a person's inbox); this module changes state by it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from governance.audit import actor_label, log_action
from governance.errors import (
    AlreadyDecided,
    DecisionTooLate,
    InvalidTransition,
    NotAllowed,
    NotFound,
    ValidationFailed,
)
from governance.machines import REQUEST
from governance.models import (
    ApprovalDecision,
    ApprovalReminder,
    ApprovalStage,
    AssignmentRequest,
    Decision,
    RequestState,
    User,
)
from governance.models.identity import person_of
from governance.services import notifications
from governance.services.lifecycle import approve_and_proceed, set_request_state
from governance.services.text import clean_text
from governance.services.wording import local_time

# Stored as the cancel reason; pages and emails translate it when they show it.
APPROVAL_TIMED_OUT = gettext_noop(
    "Approval timed out: nobody decided within the stage's time limit. Please request again."
)

log = logging.getLogger(__name__)


def enter_stage(request: AssignmentRequest, stage: ApprovalStage, actor: Any, now: datetime | None = None) -> None:
    """Put the request in front of a stage's approvers, with the stage's deadline. The first
    stage fixes the generation of stages the request goes through from then on."""
    now = now or timezone.now()
    request.current_stage = stage.order
    request.stage_generation = stage.generation
    request.stage_due_at = now + timedelta(days=stage.timeout_days)
    request.stage_remind_at = now + timedelta(days=stage.timeout_days) / 2
    request.save(update_fields=["current_stage", "stage_generation", "stage_due_at", "stage_remind_at", "modified_at"])
    log_action(actor, "request.stage_started", request, stage=stage.order, due=request.stage_due_at)
    notifications.approval_needed(request, request.stage_approvers(stage))


def already_decided(existing: ApprovalDecision) -> AlreadyDecided:
    """What a second approver is told: who decided (by name), when, and what."""
    who = str(existing.approver) if existing.approver_id and existing.approver else existing.approver_label
    at = local_time(existing.decided_at)
    if existing.decision == Decision.APPROVE:
        text = _("Already decided by %(person)s on %(at)s: approved.") % {"person": who, "at": at}
    else:
        text = _("Already decided by %(person)s on %(at)s: denied.") % {"person": who, "at": at}
    return AlreadyDecided(
        text,
        decided_by=who,
        decided_at=existing.decided_at,
    )


def too_late(request: AssignmentRequest, now: datetime | None = None) -> DecisionTooLate | None:
    """The refusal a decision on the request's current stage gets once the stage's time ran
    out (DESIGN §11: decisions re-check their deadline), even before the time-out job ran."""
    now = now or timezone.now()
    if request.stage_due_at is None or now < request.stage_due_at:
        return None
    return DecisionTooLate(
        _(
            "The time to decide stage %(stage)s of this request ran out on %(at)s: it can no longer be approved "
            "or denied, and it will be canceled (approval timed out). The requestor can ask again."
        )
        % {"stage": request.current_stage, "at": local_time(request.stage_due_at, zone=True)}
    )


def _stage_for(request: AssignmentRequest, approver: User) -> ApprovalStage:
    """The stage ``approver`` may decide now, or why they may not."""
    if approver.pk in (request.target_id, request.requestor_id):
        raise NotAllowed(_("You cannot approve or deny your own request."))
    stage = request.current_approval_stage()
    if stage is None or approver.pk not in request.stage_approver_ids(stage):
        raise NotAllowed(
            _("You are not an approver of stage %(stage)s of this request.") % {"stage": request.current_stage}
        )
    late = too_late(request)
    if late is not None:
        raise late
    return stage


def decide(
    actor: Any,
    request_id: UUID,
    decision: str,
    justification: str = "",
    *,
    stage_order: int | None = None,
) -> ApprovalDecision:
    """Approve or deny the current stage of a request as ``actor``.

    The first decision on a stage wins; a second approver gets :class:`AlreadyDecided`
    naming who decided. Repeating one's own decision is a no-op.
    """
    approver = person_of(actor)
    if approver is None:
        raise NotAllowed("Only a person can approve or deny a request.")
    if decision not in Decision.values:
        raise ValidationFailed(_("Choose Approve or Deny."), field="decision")
    justification = clean_text(justification, "justification")
    try:
        request_id = UUID(str(request_id))
    except ValueError:  # a mangled link or API path: nothing by that id
        raise NotFound("Request not found.") from None

    with transaction.atomic():
        request = (
            AssignmentRequest.objects.select_for_update(of=("self",))
            .select_related("policy", "package", "target")
            .filter(pk=request_id)
            .first()
        )
        if request is None:
            raise NotFound("Request not found.")
        order = stage_order or request.current_stage
        existing = ApprovalDecision.objects.filter(request=request, stage_order=order).first()
        if existing is not None:
            if existing.approver_id == approver.pk and existing.decision == decision:
                return existing
            raise already_decided(existing)
        if request.state != RequestState.PENDING_APPROVAL or order != request.current_stage:
            raise InvalidTransition(
                _("This request is %(state)s; it is not waiting for this decision.")
                % {"state": request.get_state_display().lower()}
            )
        stage = _stage_for(request, approver)
        if request.policy is not None and request.policy.approver_justification_required and not justification:
            raise ValidationFailed(_("A justification is required for this decision."), field="justification")

        try:
            with transaction.atomic():
                made = ApprovalDecision.objects.create(
                    request=request,
                    stage_order=order,
                    stage=stage,
                    approver=approver,
                    approver_label=actor_label(actor),
                    decision=decision,
                    justification=justification,
                )
        except IntegrityError as exc:  # a racing approver won between our check and insert
            raise AlreadyDecided(_("Already decided by another approver.")) from exc
        action = "request.stage_approved" if decision == Decision.APPROVE else "request.stage_denied"
        log_action(actor, action, request, stage=order, justification=justification)
        log.info(
            "Approval decision: %s on stage %s",
            decision,
            order,
            extra={
                "event": "approval_decision",
                "assignment_request": str(request.pk),
                "approver": str(approver.pk),
                "decision": decision,
                "stage": order,
            },
        )

        if decision == Decision.DENY:
            set_request_state(request, "deny", actor, stage=order)
            notifications.request_denied(request, made)
            return made
        next_stage = request.approval_stages().filter(order__gt=order).first()
        if next_stage is not None:
            REQUEST.next_state("advance_stage", request.state)
            enter_stage(request, next_stage, actor)
        else:
            approve_and_proceed(request, actor)
        return made


def time_out_request(request_id: UUID, now: datetime | None = None) -> bool:
    """Cancel one request whose stage deadline passed (rule 4). False if not (or no longer) due."""
    now = now or timezone.now()
    with transaction.atomic():
        request = (
            AssignmentRequest.objects.select_for_update(of=("self",))
            .select_related("package", "target")
            .filter(pk=request_id, state=RequestState.PENDING_APPROVAL, stage_due_at__lte=now)
            .first()
        )
        if request is None:
            return False
        request.cancel_reason = APPROVAL_TIMED_OUT
        request.save(update_fields=["cancel_reason", "modified_at"])
        set_request_state(request, "time_out", None, stage=request.current_stage)
        notifications.request_timed_out(request)
        return True


def time_out_due_requests(now: datetime | None = None, limit: int = 1000) -> int:
    now = now or timezone.now()
    due = AssignmentRequest.objects.filter(state=RequestState.PENDING_APPROVAL, stage_due_at__lte=now).values_list(
        "pk", flat=True
    )[:limit]
    return sum(1 for pk in list(due) if time_out_request(pk, now))


def remind_approvers(request_id: UUID, now: datetime | None = None) -> int:
    """Halfway through a stage (DESIGN §6): each of its approvers gets one reminder with a
    safe link, recorded so that it is never sent twice. Returns how many were sent."""
    now = now or timezone.now()
    with transaction.atomic():
        request = (
            AssignmentRequest.objects.select_for_update(of=("self",))
            .select_related("package", "target", "policy")
            .filter(pk=request_id, state=RequestState.PENDING_APPROVAL, stage_remind_at__lte=now, stage_due_at__gt=now)
            .first()
        )
        if request is None:
            return 0
        stage = request.current_approval_stage()
        sent = 0
        for approver in request.stage_approvers(stage) if stage is not None else []:
            try:
                with transaction.atomic():
                    ApprovalReminder.objects.create(
                        request=request, approver=approver, stage_order=request.current_stage
                    )
            except IntegrityError:
                continue
            if notifications.approval_reminder(request, approver):
                sent += 1
        request.stage_remind_at = None
        request.save(update_fields=["stage_remind_at", "modified_at"])
        log_action(None, "request.approvers_reminded", request, stage=request.current_stage, sent=sent)
    return sent


def remind_due_approvers(now: datetime | None = None, limit: int = 1000) -> int:
    """The beat job: every request halfway through its stage whose approvers were not reminded."""
    now = now or timezone.now()
    due = AssignmentRequest.objects.filter(
        state=RequestState.PENDING_APPROVAL, stage_remind_at__lte=now, stage_due_at__gt=now
    ).values_list("pk", flat=True)[:limit]
    return sum(remind_approvers(pk, now) for pk in list(due))
