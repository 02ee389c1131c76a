"""Approval stages (rule 4): who may decide, the first decision wins, timeouts cancel."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from governance import notifications
from governance.models import (
    ApprovalDecision,
    ApprovalStage,
    ApproverKind,
    AssignmentRequest,
    Decision,
    GroupMembership,
    RequestState,
    StageApprover,
    User,
)
from governance.services.audit import actor_label, actor_user, log_action
from governance.services.errors import (
    AlreadyDecided,
    DecisionTooLate,
    InvalidTransition,
    NotAllowed,
    NotFound,
    ValidationFailed,
)
from governance.services.lifecycle import approve_and_proceed, set_request_state
from governance.services.machines import REQUEST
from governance.services.text import clean_text

APPROVAL_TIMED_OUT = "Approval timed out: nobody decided within the stage's time limit. Please request again."


def _resolve_entries(
    entries: Iterable[StageApprover], request: AssignmentRequest, members: Mapping[UUID, set[UUID]]
) -> set[UUID]:
    ids: set[UUID] = set()
    for entry in entries:
        if entry.kind == ApproverKind.USER and entry.user_id:
            ids.add(entry.user_id)
        elif entry.kind == ApproverKind.GROUP and entry.group_id:
            ids |= members.get(entry.group_id, set())
        elif entry.kind == ApproverKind.MANAGER and request.target.manager_id:
            ids.add(request.target.manager_id)
        elif entry.kind == ApproverKind.SPONSOR and request.target.sponsor_id:
            ids.add(request.target.sponsor_id)
    return ids


def _group_members(group_ids: Iterable[UUID | None]) -> dict[UUID, set[UUID]]:
    wanted = {pk for pk in group_ids if pk is not None}
    members: dict[UUID, set[UUID]] = {}
    if wanted:
        for group_id, user_id in GroupMembership.objects.filter(group_id__in=wanted).values_list("group_id", "user_id"):
            members.setdefault(group_id, set()).add(user_id)
    return members


def _decide_approvers(
    entries: list[StageApprover], request: AssignmentRequest, members: Mapping[UUID, set[UUID]], active: set[UUID]
) -> set[UUID]:
    """Primary approvers; the fallback approvers only when the primaries resolve to nobody.
    The requestor and the person the access is for are never approvers of it."""
    excluded = {request.target_id, request.requestor_id}
    primary = (_resolve_entries([e for e in entries if not e.is_fallback], request, members) & active) - excluded
    if primary:
        return primary
    return (_resolve_entries([e for e in entries if e.is_fallback], request, members) & active) - excluded


def stage_approver_ids(request: AssignmentRequest, stage: ApprovalStage) -> set[UUID]:
    """The people who may decide this stage of this request."""
    entries = list(stage.approvers.all())
    members = _group_members(e.group_id for e in entries if e.kind == ApproverKind.GROUP)
    return _decide_approvers(entries, request, members, _active(_resolve_entries(entries, request, members)))


def _active(ids: set[UUID]) -> set[UUID]:
    if not ids:
        return set()
    return set(User.objects.filter(pk__in=ids, is_active=True).values_list("pk", flat=True))


def stage_approvers(request: AssignmentRequest, stage: ApprovalStage) -> list[User]:
    return list(User.objects.filter(pk__in=stage_approver_ids(request, stage)).order_by("username"))


def current_stage(request: AssignmentRequest) -> ApprovalStage | None:
    if request.policy_id is None or not request.current_stage:
        return None
    return request.approval_stages().filter(order=request.current_stage).first()


def enter_stage(request: AssignmentRequest, stage: ApprovalStage, actor: Any, now: datetime | None = None) -> None:
    """Put the request in front of a stage's approvers, with the stage's deadline. The first
    stage fixes the generation of stages the request goes through from then on."""
    now = now or timezone.now()
    request.current_stage = stage.order
    request.stage_generation = stage.generation
    request.stage_due_at = now + timedelta(days=stage.timeout_days)
    request.save(update_fields=["current_stage", "stage_generation", "stage_due_at", "modified_at"])
    log_action(actor, "request.stage_started", request, stage=stage.order, due=request.stage_due_at)
    notifications.approval_needed(request, stage_approvers(request, stage))


def requests_awaiting(user: User) -> QuerySet[AssignmentRequest]:
    """Requests pending in a stage this person may decide now (before its time runs out)."""
    entries = StageApprover.objects.filter(
        stage__policy=OuterRef("policy"),
        stage__generation=OuterRef("stage_generation"),
        stage__order=OuterRef("current_stage"),
    )
    in_group = GroupMembership.objects.filter(user=user).values("group_id")
    candidate = (
        Exists(entries.filter(kind=ApproverKind.USER, user=user))
        | Exists(entries.filter(kind=ApproverKind.GROUP, group__in=in_group))
        | (Q(target__manager=user) & Exists(entries.filter(kind=ApproverKind.MANAGER)))
        | (Q(target__sponsor=user) & Exists(entries.filter(kind=ApproverKind.SPONSOR)))
    )
    candidates = (
        AssignmentRequest.objects.filter(state=RequestState.PENDING_APPROVAL)
        # A stage whose time ran out waits for the time-out job, not for a decision.
        .filter(Q(stage_due_at__isnull=True) | Q(stage_due_at__gt=timezone.now()))
        .filter(candidate)
        .exclude(target=user)
        .exclude(requestor=user)
        .select_related("target", "policy")
    )
    # Fallback approvers count only when the primaries resolve to nobody: settle it exactly,
    # with the same rule as stage_approver_ids but in a constant number of queries.
    pending = [request for request in candidates if request.policy_id is not None and request.current_stage]
    if not pending:
        return AssignmentRequest.objects.none()
    by_stage: dict[tuple[UUID, int, int], list[StageApprover]] = {}
    stages = ApprovalStage.objects.filter(
        policy_id__in={r.policy_id for r in pending}, generation__in={r.stage_generation for r in pending}
    )
    for stage in stages.prefetch_related("approvers"):
        by_stage[(stage.policy_id, stage.generation, stage.order)] = list(stage.approvers.all())
    members = _group_members(e.group_id for listed in by_stage.values() for e in listed)
    wanted: dict[UUID, list[StageApprover]] = {}
    everyone: set[UUID] = set()
    for request in pending:
        assert request.policy_id is not None
        of_stage = by_stage.get((request.policy_id, request.stage_generation, request.current_stage))
        if of_stage:
            wanted[request.pk] = of_stage
            everyone |= _resolve_entries(of_stage, request, members)
    active = _active(everyone)
    ids = [r.pk for r in pending if r.pk in wanted and user.pk in _decide_approvers(wanted[r.pk], r, members, active)]
    return AssignmentRequest.objects.filter(pk__in=ids)


def already_decided(existing: ApprovalDecision) -> AlreadyDecided:
    """What a second approver is told: who decided, when, and what."""
    return AlreadyDecided(
        f"Already decided by {existing.approver_label} on "
        f"{timezone.localtime(existing.decided_at):%Y-%m-%d %H:%M}: {existing.get_decision_display().lower()}.",
        decided_by=existing.approver_label,
        decided_at=existing.decided_at,
    )


def too_late(request: AssignmentRequest, now: datetime | None = None) -> DecisionTooLate | None:
    """The refusal a decision on the request's current stage gets once the stage's time ran
    out (DESIGN §11: decisions re-check their deadline), even before the time-out job ran."""
    now = now or timezone.now()
    if request.stage_due_at is None or now < request.stage_due_at:
        return None
    return DecisionTooLate(
        f"The time to decide stage {request.current_stage} of this request ran out on "
        f"{timezone.localtime(request.stage_due_at):%Y-%m-%d %H:%M %Z}: it can no longer be approved or denied, "
        "and it will be canceled (approval timed out). The requestor can ask again."
    )


def _stage_for(request: AssignmentRequest, approver: User) -> ApprovalStage:
    """The stage ``approver`` may decide now, or why they may not."""
    if approver.pk in (request.target_id, request.requestor_id):
        raise NotAllowed("You cannot approve or deny your own request.")
    stage = current_stage(request)
    if stage is None or approver.pk not in stage_approver_ids(request, stage):
        raise NotAllowed(f"You are not an approver of stage {request.current_stage} of this request.")
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
    approver = actor_user(actor)
    if approver is None:
        raise NotAllowed("Only a person can approve or deny a request.")
    if decision not in Decision.values:
        raise ValidationFailed("Choose Approve or Deny.", field="decision")
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
                f"This request is {request.get_state_display().lower()}; it is not waiting for this decision."
            )
        stage = _stage_for(request, approver)
        if request.policy is not None and request.policy.approver_justification_required and not justification:
            raise ValidationFailed("A justification is required for this decision.", field="justification")

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
            raise AlreadyDecided("Already decided by another approver.") from exc
        action = "request.stage_approved" if decision == Decision.APPROVE else "request.stage_denied"
        log_action(actor, action, request, stage=order, justification=justification)

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
