"""Plain words for requestors: what a policy means for them, and what happened to a request."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from governance.audit import SYSTEM_LABEL
from governance.models import AssignmentPolicy, AssignmentRequest, AuditEvent, User


@dataclass(frozen=True)
class StageSummary:
    order: int
    approvers: list[User]
    timeout_days: int


@dataclass(frozen=True)
class PolicyExplanation:
    policy: AssignmentPolicy
    stages: list[StageSummary] = field(default_factory=list)

    @property
    def approval(self) -> str:
        if not self.stages:
            return "No approval needed: access is delivered as soon as you submit."
        if len(self.stages) == 1:
            return f"Approval by {_names(self.stages[0].approvers)}."
        steps = "; then ".join(f"stage {s.order} by {_names(s.approvers)}" for s in self.stages)
        return f"Approval in {len(self.stages)} stages: {steps}."

    @property
    def duration(self) -> str:
        return f"Access {self.policy.describe_expiration()}."

    @property
    def nobody_can_approve(self) -> bool:
        return any(not stage.approvers for stage in self.stages)


def _names(people: list[User], limit: int = 4) -> str:
    if not people:
        return "nobody (contact the package's manager)"
    names = [str(person) for person in people[:limit]]
    if len(people) > limit:
        names.append(f"{len(people) - limit} more")
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def explain_policy(policy: AssignmentPolicy, user: User) -> PolicyExplanation:
    """What requesting through ``policy`` means for ``user``: who approves, for how long."""
    if not policy.requires_approval:
        return PolicyExplanation(policy)
    probe = AssignmentRequest(target=user, requestor=user, policy=policy)
    stages = [
        StageSummary(stage.order, probe.stage_approvers(stage), stage.timeout_days)
        for stage in policy.current_stages().prefetch_related("approvers")
    ]
    return PolicyExplanation(policy, stages)


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    text: str
    who: str
    detail: str = ""


HIDDEN_EVENTS = {"request.approval_link_used", "request.await_approval"}


def _history_text(event: AuditEvent) -> tuple[str, str]:
    """The line's words and detail; ``{who}`` stands where the person who acted is named."""
    data: dict[str, Any] = event.data or {}
    stage = data.get("stage")
    texts = {
        "request.submitted": ("Submitted by {who}", ""),
        "request.stage_started": (f"Sent to approvers (stage {stage})", ""),
        "request.stage_approved": (f"Approved (stage {stage}) by {{who}}", data.get("justification", "")),
        "request.stage_denied": (f"Denied (stage {stage}) by {{who}}", data.get("justification", "")),
        "request.schedule": ("Scheduled", f"Access starts on {data.get('start', '')[:16].replace('T', ' ')}"),
        "request.start_delivery": ("Delivery started", ""),
        "request.delivered": ("Delivered", ""),
        "request.partiallyDelivered": ("Partially delivered", "Some resources could not be set up."),
        "request.deliveryFailed": ("Delivery failed", "The resources could not be set up."),
        "request.deny": ("Denied", ""),
        "request.cancel_by_requestor": ("Canceled by {who}", ""),
        "request.cancel_by_admin": ("Canceled by {who}", ""),
        "request.time_out": ("Canceled: approval timed out", "Nobody decided in time."),
        "request.reprocess": ("Reprocessed by {who}", "Delivery of what failed is tried again."),
        "request.supersede": ("Canceled", "The access ended before delivery completed."),
    }
    return texts.get(event.action, (event.action.removeprefix("request.").replace("_", " ").capitalize(), ""))


def history_of(request: AssignmentRequest) -> list[HistoryEntry]:
    """The request's audit trail, oldest first, as sentences a requestor understands
    ("Canceled by Rita Requestor"): people by their display name."""
    events = (
        AuditEvent.objects.filter(object_type="assignmentrequest", object_id=str(request.pk))
        .exclude(action__in=HIDDEN_EVENTS)
        .select_related("actor")
        .order_by("created_at", "id")
    )
    entries = []
    for event in events:
        text, detail = _history_text(event)
        if event.actor is not None:
            who = str(event.actor)
        else:
            who = "Portcullis" if event.actor_label == SYSTEM_LABEL else event.actor_label
        entries.append(HistoryEntry(event.created_at, text.replace("{who}", who), who, detail))
    return entries
