"""The state machines (request, assignment, grant, access review), each one table of allowed transitions.

A service asks ``MACHINE.next_state(transition, current)``: the new state when allowed,
``None`` when the object is already where the transition leads (doing it twice is a no-op),
and :class:`InvalidTransition` with a human message otherwise. A set-based change asks the
same table for every row at once through :func:`apply_bulk`, which also writes the audit
rows; the table names the audit action of each transition (:meth:`StateMachine.event`), so
a change made one row at a time and one made in bulk leave the same trail.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from django.db import models
from django.utils import timezone
from django.utils.functional import Promise

from governance.audit import build_event
from governance.errors import InvalidTransition
from governance.models import (
    AccessReviewInstance,
    Assignment,
    AssignmentRequest,
    AssignmentState,
    AuditEvent,
    GrantState,
    InstanceState,
    RequestState,
    RoleGrant,
)


@dataclass(frozen=True)
class Transition:
    sources: frozenset[str]
    target: str
    verb: str
    # The audit action's last word, where the machine's rule for naming it does not fit.
    event: str | None = None


def _t(sources: Iterable[str], target: str, verb: str, event: str | None = None) -> Transition:
    return Transition(frozenset(sources), target, verb, event)


class StateMachine:
    def __init__(
        self,
        noun: str,
        labels: Mapping[str, str | Promise],
        transitions: Mapping[str, Transition],
        *,
        audit_prefix: str,
        events_name_state: bool,
    ) -> None:
        self.noun = noun
        self.labels = labels
        self.transitions = dict(transitions)
        self.audit_prefix = audit_prefix
        self.events_name_state = events_name_state

    def allows(self, transition: str, current: str) -> bool:
        return current in self.transitions[transition].sources

    def next_state(self, transition: str, current: str) -> str | None:
        rule = self.transitions[transition]
        if current in rule.sources:
            return rule.target
        if current == rule.target:
            return None
        raise InvalidTransition(
            f"Cannot {rule.verb}: the {self.noun} is {self.labels.get(current, current)}.",
            state=current,
            transition=transition,
        )

    def sources_of(self, transition: str) -> frozenset[str]:
        return self.transitions[transition].sources

    def event(self, transition: str) -> str:
        """The audit action a transition writes: ``request.<transition>``, and
        ``assignment.<state reached>`` or ``grant.<state reached>`` (or the transition's own word)."""
        rule = self.transitions[transition]
        name = rule.event or (rule.target if self.events_name_state else transition)
        return f"{self.audit_prefix}.{name}"


_R = RequestState
REQUEST = StateMachine(
    "request",
    dict(RequestState.choices),
    {
        "await_approval": _t({_R.SUBMITTED}, _R.PENDING_APPROVAL, "send the request for approval"),
        "advance_stage": _t({_R.PENDING_APPROVAL}, _R.PENDING_APPROVAL, "approve"),
        "schedule": _t({_R.SUBMITTED, _R.PENDING_APPROVAL}, _R.SCHEDULED, "schedule"),
        "start_delivery": _t({_R.SUBMITTED, _R.PENDING_APPROVAL, _R.SCHEDULED}, _R.DELIVERING, "start delivery"),
        "deny": _t({_R.PENDING_APPROVAL}, _R.DENIED, "deny"),
        # Approved, and a custom extension of the "request is approved" stage waits for an
        # answer before delivery (rule 16): approved and not delivering, as a scheduled one.
        "await_extension": _t({_R.SUBMITTED, _R.PENDING_APPROVAL}, _R.SCHEDULED, "wait for a custom extension"),
        # A custom extension the request waited for said no, or failed (rule 16).
        "deny_by_extension": _t({_R.SUBMITTED, _R.SCHEDULED}, _R.DENIED, "deny (custom extension)"),
        "cancel_by_admin": _t(RequestState.ADMIN_CANCELABLE, _R.CANCELED, "cancel the request"),
        "cancel_by_requestor": _t(RequestState.REQUESTOR_CANCELABLE, _R.CANCELED, "cancel the request"),
        "time_out": _t({_R.PENDING_APPROVAL}, _R.CANCELED, "time out the approval"),
        "deliver": _t({_R.DELIVERING}, _R.DELIVERED, "mark delivered"),
        "deliver_partially": _t({_R.DELIVERING}, _R.PARTIALLY_DELIVERED, "mark partially delivered"),
        "fail_delivery": _t({_R.DELIVERING}, _R.DELIVERY_FAILED, "mark delivery failed"),
        "reprocess": _t(RequestState.REPROCESSABLE, _R.DELIVERING, "reprocess"),
        # The assignment ended (removed, expired) before this request finished delivering it.
        "supersede": _t({_R.DELIVERING}, _R.CANCELED, "cancel the delivery"),
    },
    audit_prefix="request",
    events_name_state=False,
)

_A = AssignmentState
ASSIGNMENT = StateMachine(
    "assignment",
    dict(AssignmentState.choices),
    {
        "deliver": _t({_A.DELIVERING, _A.PARTIALLY_DELIVERED, _A.DELIVERY_FAILED}, _A.DELIVERED, "mark delivered"),
        "deliver_partially": _t(
            {_A.DELIVERING, _A.DELIVERED, _A.DELIVERY_FAILED}, _A.PARTIALLY_DELIVERED, "mark partially fulfilled"
        ),
        "fail_delivery": _t(
            {_A.DELIVERING, _A.DELIVERED, _A.PARTIALLY_DELIVERED}, _A.DELIVERY_FAILED, "mark delivery failed"
        ),
        "redeliver": _t({_A.DELIVERED, _A.PARTIALLY_DELIVERED, _A.DELIVERY_FAILED}, _A.DELIVERING, "deliver again"),
        "expire": _t(AssignmentState.ACTIVE, _A.EXPIRED, "expire the assignment"),
        "remove": _t(AssignmentState.ACTIVE, _A.REMOVED, "remove the assignment"),
    },
    audit_prefix="assignment",
    events_name_state=True,
)

_G = GrantState
GRANT = StateMachine(
    "role grant",
    dict(GrantState.choices),
    {
        "succeed": _t({_G.PENDING}, _G.GRANTED, "mark granted"),
        "fail": _t({_G.PENDING}, _G.FAILED, "mark failed"),
        "retry": _t({_G.FAILED, _G.DRIFTED, _G.GRANTED}, _G.PENDING, "retry", event="retrying"),
        "drift": _t({_G.GRANTED}, _G.DRIFTED, "mark drifted"),
        "revoke": _t({_G.PENDING, _G.GRANTED, _G.FAILED, _G.DRIFTED}, _G.REVOKING, "revoke"),
        # No call to the target: the access is still justified by another assignment.
        "release": _t({_G.REVOKING}, _G.REVOKED, "release"),
        "revoke_succeed": _t({_G.REVOKING}, _G.REVOKED, "mark revoked"),
        "revoke_fail": _t({_G.REVOKING}, _G.FAILED, "mark revoke failed"),
        "restore": _t({_G.REVOKED, _G.REVOKING}, _G.PENDING, "grant again", event="restored"),
    },
    audit_prefix="grant",
    events_name_state=True,
)

_I = InstanceState
# Access reviews (rule 14): an instance is decided while in progress, ends (at its end time,
# or stopped early), and its results are applied once.
REVIEW = StateMachine(
    "access review",
    dict(InstanceState.choices),
    {
        "end": _t({_I.IN_PROGRESS}, _I.COMPLETED, "stop the review", event="completed"),
        "apply": _t({_I.COMPLETED}, _I.APPLIED, "apply the results", event="applied"),
    },
    audit_prefix="review",
    events_name_state=False,
)

# Derived states map back to the transition that reaches them.
REQUEST_TRANSITION_TO: dict[str, str] = {
    _R.DELIVERED: "deliver",
    _R.PARTIALLY_DELIVERED: "deliver_partially",
    _R.DELIVERY_FAILED: "fail_delivery",
}
ASSIGNMENT_TRANSITION_TO: dict[str, str] = {
    _A.DELIVERED: "deliver",
    _A.PARTIALLY_DELIVERED: "deliver_partially",
    _A.DELIVERY_FAILED: "fail_delivery",
    _A.DELIVERING: "redeliver",
}


MACHINE_OF: dict[type[models.Model], StateMachine] = {
    AssignmentRequest: REQUEST,
    Assignment: ASSIGNMENT,
    RoleGrant: GRANT,
    AccessReviewInstance: REVIEW,
}

_M = TypeVar("_M", bound=models.Model)


def apply_bulk(
    rows: Sequence[_M],
    transition: str,
    actor: Any,
    *,
    now: datetime | None = None,
    changes: Mapping[str, Any] | None = None,
    describe: Callable[[_M], Mapping[str, Any]] | None = None,
    events: list[AuditEvent] | None = None,
) -> list[_M]:
    """Move a set of rows of one model through one transition of its table, at once.

    The caller holds the rows' locks (rows not inserted yet are moved in memory: their
    INSERT, which the caller makes next, carries the new state). Every row must be where
    the transition may start, or already where it leads (a no-op, as for a single row): one
    row anywhere else refuses the whole set with :class:`InvalidTransition` before anything
    is written. The rows that move get one UPDATE (the new state, their ``auto_now`` stamp
    and ``changes``) and one audit row each, named by the table; the audit rows are written
    in one INSERT, or appended to ``events`` for a caller that inserts several kinds at once.

    ``describe`` gives an audit row's ``object_repr``, ``catalog_id`` or ``package_id``
    where working them out from the row would cost a query per row. Returns the rows that
    moved, their ``state`` set to the new one.
    """
    if not rows:
        return []
    model = type(rows[0])
    machine = MACHINE_OF[model]
    rule = machine.transitions[transition]
    for row in rows:
        current: str = row.state  # type: ignore[attr-defined]
        if current not in rule.sources and current != rule.target:
            machine.next_state(transition, current)  # raises, naming the state
    moving = [row for row in rows if row.state in rule.sources]  # type: ignore[attr-defined]
    moment = now or timezone.now()
    stamps = {f.name: moment for f in model._meta.concrete_fields if getattr(f, "auto_now", False)}
    stored = [row.pk for row in moving if not row._state.adding]
    if stored:
        model._default_manager.filter(pk__in=stored).update(**{**stamps, **(changes or {}), "state": rule.target})
    action = machine.event(transition)
    made = []
    for row in moving:
        previous = row.state  # type: ignore[attr-defined]
        row.state = rule.target  # type: ignore[attr-defined]
        extra = dict(describe(row)) if describe is not None else {}
        made.append(build_event(actor, action, row, previous=previous, state=rule.target, **extra))
    if events is None:
        AuditEvent.objects.bulk_create(made)
    else:
        events.extend(made)
    return moving
