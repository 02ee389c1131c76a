"""The three state machines, each one table of allowed transitions.

A service asks ``MACHINE.next_state(transition, current)``: the new state when allowed,
``None`` when the object is already where the transition leads (doing it twice is a no-op),
and :class:`InvalidTransition` with a human message otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from governance.models import AssignmentState, GrantState, RequestState
from governance.services.errors import InvalidTransition


@dataclass(frozen=True)
class Transition:
    sources: frozenset[str]
    target: str
    verb: str


def _t(sources: Iterable[str], target: str, verb: str) -> Transition:
    return Transition(frozenset(sources), target, verb)


class StateMachine:
    def __init__(self, noun: str, labels: Mapping[str, str], transitions: Mapping[str, Transition]) -> None:
        self.noun = noun
        self.labels = labels
        self.transitions = dict(transitions)

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
)

_G = GrantState
GRANT = StateMachine(
    "role grant",
    dict(GrantState.choices),
    {
        "succeed": _t({_G.PENDING}, _G.GRANTED, "mark granted"),
        "fail": _t({_G.PENDING}, _G.FAILED, "mark failed"),
        "retry": _t({_G.FAILED, _G.DRIFTED, _G.GRANTED}, _G.PENDING, "retry"),
        "drift": _t({_G.GRANTED}, _G.DRIFTED, "mark drifted"),
        "revoke": _t({_G.PENDING, _G.GRANTED, _G.FAILED, _G.DRIFTED}, _G.REVOKING, "revoke"),
        # No call to the target: the access is still justified by another assignment.
        "release": _t({_G.REVOKING}, _G.REVOKED, "release"),
        "revoke_succeed": _t({_G.REVOKING}, _G.REVOKED, "mark revoked"),
        "revoke_fail": _t({_G.REVOKING}, _G.FAILED, "mark revoke failed"),
        "restore": _t({_G.REVOKED, _G.REVOKING}, _G.PENDING, "grant again"),
    },
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
