"""Every (state, transition) pair of each machine: allowed, a no-op, or refused.

The expected tables are written out here by hand from DESIGN §3/§4, not read from the
code, so a wrong entry in the code's table fails a test.
"""

from __future__ import annotations

import itertools

import pytest

from governance import models as m
from governance.errors import InvalidTransition
from governance.machines import ASSIGNMENT, GRANT, REQUEST, StateMachine, apply_bulk
from governance.models import AssignmentState, GrantState, RequestState, RequestType
from governance.services.grants import derived_assignment_state, derived_request_state
from tests import factories as f

R = RequestState
REQUEST_ALLOWED = {
    ("submitted", "await_approval"): "pendingApproval",
    ("pendingApproval", "advance_stage"): "pendingApproval",
    ("submitted", "schedule"): "scheduled",
    ("pendingApproval", "schedule"): "scheduled",
    ("submitted", "start_delivery"): "delivering",
    ("pendingApproval", "start_delivery"): "delivering",
    ("scheduled", "start_delivery"): "delivering",
    ("pendingApproval", "deny"): "denied",
    # Rule 16: approved, waiting for a custom extension of the "request is approved" stage
    # before delivery (approved and not delivering: scheduled).
    ("submitted", "await_extension"): "scheduled",
    ("pendingApproval", "await_extension"): "scheduled",
    # Rule 16: a custom extension the request waited for (created or approved) denied it, or failed it.
    ("submitted", "deny_by_extension"): "denied",
    ("scheduled", "deny_by_extension"): "denied",
    # Rule 3: administrators cancel anything not yet delivered, or whose delivery failed.
    ("submitted", "cancel_by_admin"): "canceled",
    ("pendingApproval", "cancel_by_admin"): "canceled",
    ("scheduled", "cancel_by_admin"): "canceled",
    ("deliveryFailed", "cancel_by_admin"): "canceled",
    # Rule 3: the requestor while pending approval, and a failed delivery once the reprocess
    # window has passed (the service checks the window; seed 001).
    ("pendingApproval", "cancel_by_requestor"): "canceled",
    ("deliveryFailed", "cancel_by_requestor"): "canceled",
    ("partiallyDelivered", "cancel_by_requestor"): "canceled",
    # Rule 4: no decision in time.
    ("pendingApproval", "time_out"): "canceled",
    ("delivering", "deliver"): "delivered",
    ("delivering", "deliver_partially"): "partiallyDelivered",
    ("delivering", "fail_delivery"): "deliveryFailed",
    # Rule 1.
    ("deliveryFailed", "reprocess"): "delivering",
    ("partiallyDelivered", "reprocess"): "delivering",
    ("delivering", "supersede"): "canceled",
}

A = AssignmentState
ASSIGNMENT_ALLOWED = {
    **{(s, "deliver"): "delivered" for s in ("delivering", "partiallyDelivered", "deliveryFailed")},
    **{(s, "deliver_partially"): "partiallyDelivered" for s in ("delivering", "delivered", "deliveryFailed")},
    **{(s, "fail_delivery"): "deliveryFailed" for s in ("delivering", "delivered", "partiallyDelivered")},
    **{(s, "redeliver"): "delivering" for s in ("delivered", "partiallyDelivered", "deliveryFailed")},
    **{(s, "expire"): "expired" for s in ("delivering", "delivered", "partiallyDelivered", "deliveryFailed")},
    **{(s, "remove"): "removed" for s in ("delivering", "delivered", "partiallyDelivered", "deliveryFailed")},
}

GRANT_ALLOWED = {
    ("pending", "succeed"): "granted",
    ("pending", "fail"): "failed",
    ("failed", "retry"): "pending",
    ("drifted", "retry"): "pending",
    ("granted", "retry"): "pending",
    ("granted", "drift"): "drifted",
    **{(s, "revoke"): "revoking" for s in ("pending", "granted", "failed", "drifted")},
    ("revoking", "release"): "revoked",
    ("revoking", "revoke_succeed"): "revoked",
    ("revoking", "revoke_fail"): "failed",
    ("revoked", "restore"): "pending",
    ("revoking", "restore"): "pending",
}

CASES = [
    (REQUEST, RequestState.values, REQUEST_ALLOWED),
    (ASSIGNMENT, AssignmentState.values, ASSIGNMENT_ALLOWED),
    (GRANT, GrantState.values, GRANT_ALLOWED),
]


def _pairs() -> list[tuple[StateMachine, str, str, dict[tuple[str, str], str]]]:
    pairs = []
    for machine, states, allowed in CASES:
        for state, transition in itertools.product(states, machine.transitions):
            pairs.append((machine, state, transition, allowed))
    return pairs


@pytest.mark.parametrize(
    ("machine", "state", "transition", "allowed"),
    _pairs(),
    ids=lambda v: v.noun if isinstance(v, StateMachine) else (v if isinstance(v, str) else ""),
)
def test_every_state_and_transition(
    machine: StateMachine, state: str, transition: str, allowed: dict[tuple[str, str], str]
) -> None:
    target = {t: to for (_, t), to in allowed.items()}.get(transition)
    if (state, transition) in allowed:
        assert machine.next_state(transition, state) == allowed[(state, transition)]
    elif state == target:
        # Doing the same transition twice is a no-op, not an error.
        assert machine.next_state(transition, state) is None
    else:
        with pytest.raises(InvalidTransition) as refused:
            machine.next_state(transition, state)
        assert machine.noun in refused.value.message


def test_tables_have_no_transition_the_design_does_not_name() -> None:
    for machine, _, allowed in CASES:
        assert set(machine.transitions) == {t for (_, t) in allowed}


def test_refusal_reads_like_a_sentence() -> None:
    with pytest.raises(InvalidTransition, match=r"Cannot cancel the request: the request is Delivered\."):
        REQUEST.next_state("cancel_by_admin", RequestState.DELIVERED)


G = GrantState


@pytest.mark.parametrize(
    ("grants", "expected"),
    [
        ([], A.DELIVERED),
        ([G.GRANTED, G.GRANTED], A.DELIVERED),
        ([G.GRANTED, G.PENDING], A.DELIVERING),
        ([G.FAILED, G.PENDING], A.DELIVERING),
        ([G.GRANTED, G.FAILED], A.PARTIALLY_DELIVERED),
        ([G.GRANTED, G.DRIFTED], A.PARTIALLY_DELIVERED),
        ([G.FAILED, G.FAILED], A.DELIVERY_FAILED),
        ([G.DRIFTED], A.DELIVERY_FAILED),
        # Grants being taken away do not count towards what the assignment delivers.
        ([G.GRANTED, G.REVOKING, G.REVOKED], A.DELIVERED),
    ],
)
def test_assignment_state_is_derived_from_grants(grants: list[str], expected: str) -> None:
    assert derived_assignment_state(grants) == expected


@pytest.mark.parametrize(
    ("request_type", "grants", "expected"),
    [
        (RequestType.USER_ADD, [G.GRANTED, G.GRANTED], R.DELIVERED),
        (RequestType.USER_ADD, [G.GRANTED, G.FAILED], R.PARTIALLY_DELIVERED),
        (RequestType.ADMIN_ADD, [G.FAILED], R.DELIVERY_FAILED),
        (RequestType.ADMIN_ADD, [G.PENDING, G.FAILED], R.DELIVERING),
        (RequestType.ADMIN_REMOVE, [G.REVOKING, G.REVOKED], R.DELIVERING),
        (RequestType.ADMIN_REMOVE, [G.REVOKED, G.REVOKED], R.DELIVERED),
        (RequestType.SYSTEM_REMOVE, [G.REVOKED, G.FAILED], R.PARTIALLY_DELIVERED),
        (RequestType.USER_REMOVE, [G.FAILED], R.DELIVERY_FAILED),
        (RequestType.USER_EXTEND, [], R.DELIVERED),
    ],
)
def test_request_state_is_derived_from_grants(request_type: str, grants: list[str], expected: str) -> None:
    assert derived_request_state(request_type, grants) == expected


# --- apply_bulk: a set of rows through the same table ---------------------------------------


@pytest.mark.django_db
class TestApplyBulk:
    def test_moves_the_set_with_one_audit_row_each(self, admin: m.User) -> None:
        failed = [f.AssignmentFactory(state=A.DELIVERY_FAILED) for _ in range(3)]
        moved = apply_bulk(failed, "redeliver", admin)
        assert moved == failed
        assert {a.state for a in m.Assignment.objects.all()} == {A.DELIVERING}
        events = m.AuditEvent.objects.filter(action="assignment.delivering")
        assert sorted(e.object_id for e in events) == sorted(str(a.pk) for a in failed)
        assert {(e.actor, e.data["previous"], e.data["state"]) for e in events} == {
            (admin, A.DELIVERY_FAILED, A.DELIVERING)
        }
        assert {e.catalog_id for e in events} == {a.package.catalog_id for a in failed}

    def test_one_row_in_the_wrong_state_refuses_the_whole_set(self) -> None:
        rows = [f.AssignmentFactory(state=A.DELIVERED), f.AssignmentFactory(state=A.EXPIRED)]
        with pytest.raises(InvalidTransition, match="Cannot deliver again: the assignment is Expired"):
            apply_bulk(rows, "redeliver", None)
        assert list(m.Assignment.objects.order_by("state").values_list("state", flat=True)) == [A.DELIVERED, A.EXPIRED]
        assert not m.AuditEvent.objects.exists()

    def test_rows_already_there_are_a_no_op(self) -> None:
        there, moving = f.AssignmentFactory(state=A.DELIVERING), f.AssignmentFactory(state=A.DELIVERED)
        assert apply_bulk([there, moving], "redeliver", None) == [moving]
        assert m.AuditEvent.objects.get().object_id == str(moving.pk)

    def test_names_its_audit_rows_as_the_table_does(self) -> None:
        grants = [f.RoleGrantFactory(state=G.FAILED), f.RoleGrantFactory(state=G.REVOKED)]
        events: list[m.AuditEvent] = []
        apply_bulk(grants[:1], "retry", None, changes={"attempts": 0}, events=events)
        apply_bulk(grants[1:], "restore", None, events=events)
        assert [e.action for e in events] == [GRANT.event("retry"), GRANT.event("restore")]
        assert [e.action for e in events] == ["grant.retrying", "grant.restored"]
        assert not m.AuditEvent.objects.exists()  # the caller writes them, with its own rows
        assert REQUEST.event("reprocess") == "request.reprocess"
        assert ASSIGNMENT.event("expire") == "assignment.expired"

    def test_stamps_the_row_and_applies_the_changes(self) -> None:
        grant = f.RoleGrantFactory(state=G.FAILED, attempts=4, last_error="refused")
        before = grant.updated_at
        apply_bulk([grant], "retry", None, changes={"attempts": 0, "last_error": ""})
        grant.refresh_from_db()
        assert (grant.state, grant.attempts, grant.last_error) == (G.PENDING, 0, "")
        assert grant.updated_at > before

    def test_rows_not_inserted_yet_move_in_memory(self) -> None:
        assignment = f.AssignmentFactory()
        removal = m.AssignmentRequest(
            request_type=m.RequestType.SYSTEM_REMOVE,
            package=assignment.package,
            assignment=assignment,
            target=assignment.target,
        )
        events: list[m.AuditEvent] = []
        apply_bulk([removal], "start_delivery", None, events=events)
        assert removal.state == R.DELIVERING
        assert not m.AssignmentRequest.objects.exists()
        assert [e.action for e in events] == ["request.start_delivery"]
