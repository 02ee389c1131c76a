"""What must hold over the whole database after any interleaving of service calls.

One function, :func:`check_invariants`, run after every race (and at the end of some
ordinary service tests). It reads everything and lists every violation it finds, so a
failure says all that is wrong at once, not only the first thing.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from uuid import UUID

from django.db.models import Count

from governance import models as m
from governance.machines import ASSIGNMENT, GRANT, REQUEST
from governance.services.grants import derived_assignment_state

_R = m.RequestState
_A = m.AssignmentState
_G = m.GrantState


def _replayed_states(object_type: str, actions: dict[str, frozenset[str]]) -> dict[str, list[frozenset[str]]]:
    """Per object, the states its audit trail says it went through, oldest first.

    ``actions`` maps an audit action to the states it may leave the object in; actions
    that change no state (a stage decision, a reminder) are not in it.
    """
    trail: dict[str, list[frozenset[str]]] = defaultdict(list)
    rows = m.AuditEvent.objects.filter(object_type=object_type).order_by("id").values_list("object_id", "action")
    for object_id, action in rows:
        if action in actions:
            trail[object_id].append(actions[action])
    return trail


def _actions_of(
    prefix: str, machine: object, states: Iterable[str], **extra: frozenset[str]
) -> dict[str, frozenset[str]]:
    """``prefix.<transition>`` and ``prefix.<state>`` both name the state reached."""
    actions = {f"{prefix}.{state}": frozenset({state}) for state in states}
    for name, transition in machine.transitions.items():  # type: ignore[attr-defined]
        actions.setdefault(f"{prefix}.{name}", frozenset({transition.target}))
    actions.update(extra)
    return actions


REQUEST_ACTIONS = _actions_of("request", REQUEST, _R.values, **{"request.submitted": frozenset({_R.SUBMITTED})})
# An extension or removal request changes no state of its own when submitted; advance_stage
# leaves the request pending.
ASSIGNMENT_ACTIONS = _actions_of(
    "assignment", ASSIGNMENT, _A.values, **{"assignment.created": frozenset({_A.DELIVERING})}
)
GRANT_ACTIONS = _actions_of(
    "grant",
    GRANT,
    _G.values,
    **{
        "grant.created": frozenset({_G.PENDING}),
        "grant.restored": frozenset({_G.PENDING}),
        # Reprocess sends a failed grant back: to be granted, or (ended access) to be revoked.
        "grant.retrying": frozenset({_G.PENDING, _G.REVOKING}),
    },
)


def violations() -> list[str]:  # noqa: C901 - one block per invariant, in the brief's order
    problems: list[str] = []

    requests = {r.pk: r for r in m.AssignmentRequest.objects.select_related("policy")}
    assignments = {a.pk: a for a in m.Assignment.objects.all()}
    grants = list(m.RoleGrant.objects.all())
    grants_of: dict[UUID, list[m.RoleGrant]] = defaultdict(list)
    for grant in grants:
        grants_of[grant.assignment_id].append(grant)
    decisions: dict[UUID, list[m.ApprovalDecision]] = defaultdict(list)
    for decision in m.ApprovalDecision.objects.order_by("stage_order"):
        decisions[decision.request_id].append(decision)
    # Per (policy, generation): a request routes by the generation it was submitted under.
    stages_of_generation = Counter(m.ApprovalStage.objects.values_list("policy_id", "generation"))
    with_primary_approvers = set(
        m.StageApprover.objects.filter(is_fallback=False).values_list(
            "stage__policy_id", "stage__generation", "stage__order"
        )
    )

    # 1. One winning decision per approval stage; decisions agree with the request's stage.
    for row in m.ApprovalDecision.objects.values("request_id", "stage_order").annotate(n=Count("id")).filter(n__gt=1):
        problems.append(f"request {row['request_id']}: {row['n']} decisions on stage {row['stage_order']}")
    for request_id, made in decisions.items():
        request = requests[request_id]
        orders = [d.stage_order for d in made]
        if orders != list(range(1, len(made) + 1)):
            problems.append(f"request {request_id}: decisions on stages {orders}, not 1..n in order")
        denials = [d for d in made if d.decision == m.Decision.DENY]
        if denials and (made[-1].decision != m.Decision.DENY or len(denials) > 1):
            problems.append(f"request {request_id}: a stage was decided after a denial")
        if denials and request.state != _R.DENIED:
            problems.append(f"request {request_id}: denied at stage {denials[0].stage_order} but {request.state}")
        if request.state == _R.PENDING_APPROVAL and len(made) != request.current_stage - 1:
            problems.append(
                f"request {request_id}: pending at stage {request.current_stage} with {len(made)} decisions"
            )
    for request in requests.values():
        made = decisions.get(request.pk, [])
        if request.state == _R.DENIED and (not made or made[-1].decision != m.Decision.DENY):
            problems.append(f"request {request.pk}: denied without a Deny decision")
        generation = (request.policy_id, request.stage_generation)
        if (
            request.request_type == m.RequestType.USER_ADD
            and request.state in {_R.SCHEDULED, _R.DELIVERING, _R.DELIVERED, _R.PARTIALLY_DELIVERED}
            and request.policy_id is not None
            and request.policy.requires_approval
            and len(made) != stages_of_generation[generation]
        ):
            problems.append(
                f"request {request.pk}: {request.state} after {len(made)} of "
                f"{stages_of_generation[generation]} approval stages"
            )
        # 1b. A pending request is never left without approvers: its stage exists in the
        #     generation it was submitted under, with at least one primary approver.
        if request.state == _R.PENDING_APPROVAL and (*generation, request.current_stage) not in with_primary_approvers:
            problems.append(
                f"request {request.pk}: pending at stage {request.current_stage} of stage generation "
                f"{request.stage_generation}, which has no approvers"
            )

    # 2. At most one active assignment per person and package; one open add-request.
    active = Counter((a.target_id, a.package_id) for a in assignments.values() if a.state in _A.ACTIVE)
    problems += [f"{n} active assignments of package {p} to {t}" for (t, p), n in active.items() if n > 1]
    open_adds = Counter(
        (r.target_id, r.package_id)
        for r in requests.values()
        if r.state in _R.OPEN and r.request_type in m.RequestType.ADDS
    )
    problems += [f"{n} open add-requests of package {p} for {t}" for (t, p), n in open_adds.items() if n > 1]

    # 3. No duplicate role grants per (assignment, role); a grant's subject is its assignment's target.
    per_role = Counter((g.assignment_id, g.resource_role_id) for g in grants)
    problems += [f"assignment {a}: {n} grants of role {r}" for (a, r), n in per_role.items() if n > 1]
    for grant in grants:
        if grant.subject_id != assignments[grant.assignment_id].target_id:
            problems.append(f"grant {grant.pk}: subject is not the assignment's target")

    # 4. An active assignment's state is what its grants say (the engine settled it);
    #    a delivered one has every wanted grant granted; an ended one wants nothing.
    for assignment in assignments.values():
        states = [g.state for g in grants_of[assignment.pk]]
        if assignment.state in _A.ACTIVE:
            derived = derived_assignment_state(states)
            if derived != assignment.state:
                problems.append(f"assignment {assignment.pk}: {assignment.state}, its grants say {derived} ({states})")
            if assignment.state == _A.DELIVERED and any(s != _G.GRANTED for s in states if s in _G.WANTED):
                problems.append(f"assignment {assignment.pk}: delivered with grants {states}")
        elif any(s in _G.WANTED for s in states):
            problems.append(f"assignment {assignment.pk}: {assignment.state} but still wants grants {states}")

    # 4b. Rule 8: once no role operation is propagating, an active assignment wants exactly
    #     the roles of its package, no more and no fewer.
    if not m.RoleOperation.objects.filter(state=m.RoleOperationState.PROPAGATING).exists():
        package_roles: dict[UUID, set[UUID]] = defaultdict(set)
        for package_id, role_id in m.PackageResourceRole.objects.values_list("package_id", "resource_role_id"):
            package_roles[package_id].add(role_id)
        for assignment in assignments.values():
            if assignment.state not in _A.ACTIVE:
                continue
            wanted = {g.resource_role_id for g in grants_of[assignment.pk] if g.state in _G.WANTED}
            if wanted != package_roles[assignment.package_id]:
                missing = len(package_roles[assignment.package_id] - wanted)
                extra = len(wanted - package_roles[assignment.package_id])
                problems.append(
                    f"assignment {assignment.pk}: lacks {missing} and has {extra} roles its package does not"
                )

    # 5. Request states agree with their assignments (DESIGN §3).
    for request in requests.values():
        assignment = assignments.get(request.assignment_id) if request.assignment_id else None
        if request.request_type in m.RequestType.ADDS:
            if request.state in {_R.SUBMITTED, _R.PENDING_APPROVAL, _R.SCHEDULED, _R.DENIED} and assignment:
                problems.append(f"request {request.pk}: {request.state} but has assignment {assignment.pk}")
            if request.state in {_R.DELIVERING, _R.DELIVERED, _R.PARTIALLY_DELIVERED} and assignment is None:
                problems.append(f"request {request.pk}: {request.state} without an assignment")
            if request.state == _R.DELIVERING and assignment is not None and assignment.state not in _A.ACTIVE:
                problems.append(f"request {request.pk}: delivering an assignment that is {assignment.state}")
            if request.state == _R.CANCELED and assignment is not None and assignment.state in _A.ACTIVE:
                problems.append(f"request {request.pk}: canceled but its assignment is {assignment.state}")
        if request.state == _R.DELIVERING and assignment is not None:
            states = [g.state for g in grants_of[assignment.pk]]
            if not any(s in _G.WORK for s in states):
                problems.append(f"request {request.pk}: delivering with no grant left to deliver ({states})")

    # 6. No lost delivery: work the engine must do is due at some time.
    for grant in grants:
        if grant.state in _G.WORK and grant.next_attempt_at is None:
            problems.append(f"grant {grant.pk}: {grant.state} with no next attempt")

    # 7. Every state change has its audit row: replaying the trail ends in today's state.
    for object_type, rows, actions in (
        ("assignmentrequest", requests.values(), REQUEST_ACTIONS),
        ("assignment", assignments.values(), ASSIGNMENT_ACTIONS),
        ("rolegrant", grants, GRANT_ACTIONS),
    ):
        trail = _replayed_states(object_type, actions)
        for row in rows:
            steps = trail.get(str(row.pk))
            if not steps:
                problems.append(f"{object_type} {row.pk}: {row.state} with no audit row")
            elif row.state not in steps[-1]:
                problems.append(f"{object_type} {row.pk}: {row.state}, its last audit row says {sorted(steps[-1])}")

    return problems


def check_invariants() -> None:
    """Assert every invariant over the whole database; the message lists all violations."""
    problems = violations()
    assert not problems, "invariants violated:\n  " + "\n  ".join(problems)
