"""Plain words for requestors: what a policy means for them, and what happened to a request."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

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
            return _("No approval needed: access is delivered as soon as you submit.")
        if len(self.stages) == 1:
            return _("Approval by %(names)s.") % {"names": _names(self.stages[0].approvers)}
        steps = _("; then ").join(
            _("stage %(stage)s by %(names)s") % {"stage": s.order, "names": _names(s.approvers)} for s in self.stages
        )
        return _("Approval in %(count)s stages: %(steps)s.") % {"count": len(self.stages), "steps": steps}

    @property
    def duration(self) -> str:
        return _("Access %(period)s.") % {"period": self.policy.describe_expiration()}

    @property
    def nobody_can_approve(self) -> bool:
        return any(not stage.approvers for stage in self.stages)


def _names(people: list[User], limit: int = 4) -> str:
    if not people:
        return _("nobody (contact the package's manager)")
    names = [str(person) for person in people[:limit]]
    if len(people) > limit:
        more = len(people) - limit
        names.append(ngettext("%(count)s more", "%(count)s more", more) % {"count": more})
    if len(names) == 1:
        return names[0]
    return _("%(names)s or %(last)s") % {"names": ", ".join(names[:-1]), "last": names[-1]}


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
    start = data.get("start", "")[:16].replace("T", " ")
    extension = data.get("extension", "")
    waits = ", ".join(data.get("extensions") or [extension])
    delivered = (_("Delivered"), "")
    partly = (_("Partially delivered"), _("Some resources could not be set up."))
    failed = (_("Delivery failed"), _("The resources could not be set up."))
    approved = (_("Approved (stage %(stage)s) by {who}") % {"stage": stage}, data.get("justification", ""))
    texts = {
        "request.submitted": (_("Submitted by {who}"), ""),
        "request.stage_started": (_("Sent to approvers (stage %(stage)s)") % {"stage": stage}, ""),
        "request.stage_approved": approved,
        "request.advance_stage": approved,
        "request.stage_denied": (
            _("Denied (stage %(stage)s) by {who}") % {"stage": stage},
            data.get("justification", ""),
        ),
        "request.approvers_reminded": (_("Approvers reminded (stage %(stage)s)") % {"stage": stage}, ""),
        "request.schedule": (_("Scheduled"), _("Access starts on %(start)s") % {"start": start}),
        "request.await_extension": (_("Waiting for %(names)s") % {"names": waits}, ""),
        "request.extension_continued": (_("%(name)s answered: the request goes on") % {"name": extension}, ""),
        "request.deny_by_extension": (_("Denied by %(name)s") % {"name": extension}, ""),
        "request.start_delivery": (_("Delivery started"), ""),
        # Settled in bulk as "request.<state>", one by one as "request.<transition>".
        "request.delivered": delivered,
        "request.deliver": delivered,
        "request.partiallyDelivered": partly,
        "request.deliver_partially": partly,
        "request.deliveryFailed": failed,
        "request.fail_delivery": failed,
        "request.deny": (_("Denied"), ""),
        "request.cancel_by_requestor": (_("Canceled by {who}"), ""),
        "request.cancel_by_admin": (_("Canceled by {who}"), ""),
        "request.time_out": (_("Canceled: approval timed out"), _("Nobody decided in time.")),
        "request.reprocess": (_("Reprocessed by {who}"), _("Delivery of what failed is tried again.")),
        "request.supersede": (_("Canceled"), _("The access ended before delivery completed.")),
    }
    # An action this page has no words for yet is still shown, in the reader's language.
    return texts.get(event.action, (_("Changed by {who}"), ""))


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
