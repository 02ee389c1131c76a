"""Ending many assignments at once (expiry, rule 6; access-review results, rule 14), set-based.

Each ended assignment gets a systemRemove request, delivering from the start; its grants go
to be revoked on behalf of that request (whether the target really loses the access is the
delivery engine's decision at execution time: rule 7). The audit trail is the one a single
change writes, row for row: ``request.submitted`` and ``request.start_delivery`` for each
request, ``assignment.expired``/``assignment.removed`` for each assignment and
``grant.revoking`` for each grant, with the same fields.

Nothing here builds a model instance per row. A batch is read as tuples, the requests and
audit rows are written as tuples (COPY on PostgreSQL, :mod:`governance.services.bulk_sql`), the
assignments and grants change in one UPDATE each, and every transition is asked of its
machine's table (:mod:`governance.machines`): rows are selected by the transition's sources,
and a row anywhere else refuses the batch as a single change would. A fixed number of
queries per batch, whatever its size.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from django.db import connection
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from governance.audit import SYSTEM_LABEL
from governance.machines import ASSIGNMENT, GRANT, REQUEST
from governance.models import (
    Assignment,
    AssignmentRequest,
    GrantState,
    RequestState,
    RequestType,
    RoleGrant,
)
from governance.services.bulk_sql import among, array, audit_row, insert_audit_rows, insert_rows
from governance.services.dispatch import wake_delivery
from governance.services.grants import AssignmentRow, back_to_work, complete_requests, read_requests
from governance.services.lifecycle import set_request_state

REQUEST_COLUMNS = (
    "id",
    "request_type",
    "state",
    "package",
    "policy",
    "assignment",
    "target",
    "requestor_label",
    "justification",
    "removal_reason",
)


def end_in_bulk(
    batch: Sequence[AssignmentRow], transition: str, reason: str, now: datetime, *, removal_reason: str
) -> dict[UUID, UUID]:
    """End locked active assignments (``expire`` or ``remove``), each through a systemRemove
    request delivering from the start, recording why (``removal_reason``, a ``RemovalReason``).
    Returns each ended assignment's removal request id."""
    moving = _moving(batch, transition)
    if not moving:
        return {}
    _commit_without_waiting()
    ids = [a.pk for a in moving]
    stamp = timezone.now()

    # Each end is a systemRemove request: submitted, and delivering from the start.
    delivering = REQUEST.next_state("start_delivery", RequestState.SUBMITTED)
    removal_of = {a.pk: uuid.uuid4() for a in moving}
    kind = str(RequestType.SYSTEM_REMOVE.label)
    insert_rows(
        AssignmentRequest,
        REQUEST_COLUMNS,
        (
            (
                removal_of[a.pk],
                RequestType.SYSTEM_REMOVE,
                delivering,
                a.package_id,
                a.policy_id,
                a.pk,
                a.target_id,
                SYSTEM_LABEL,
                reason,
                removal_reason,
            )
            for a in moving
        ),
        now=stamp,
    )

    ended = ASSIGNMENT.transitions[transition].target
    # Ids as one array parameter (bulk_sql.among), not a placeholder per id: Django and
    # psycopg built and parsed the 1,000-id IN lists of a batch, three times, in Python.
    Assignment.objects.filter(among(Assignment, ids), state__in=ASSIGNMENT.sources_of(transition)).update(
        state=ended, ended_at=now, modified_at=now
    )

    # Their grants go to be revoked, on behalf of the new request.
    grants = list(
        RoleGrant.objects.select_for_update(of=("self",))
        .filter(among(RoleGrant, ids, "assignment"))
        .values_list("pk", "assignment_id", "state")
    )
    revoke_from = GRANT.sources_of("revoke")
    revoking = [(pk, assignment_id, state) for pk, assignment_id, state in grants if state in revoke_from]
    if revoking:
        _revoke(revoking, removal_of, now)

    # The trail, in the order one change at a time writes it.
    by_id = {a.pk: a for a in moving}
    request_label = {a.pk: f"{kind} · {a.label}" for a in moving}
    started = REQUEST.event("start_delivery")
    revoked_to = GRANT.transitions["revoke"].target
    events = [
        audit_row(
            None,
            "request.submitted",
            "assignmentrequest",
            removal_of[a.pk],
            request_label[a.pk],
            a.catalog_id,
            a.package_id,
        )
        for a in moving
    ]
    events += [
        audit_row(
            None,
            started,
            "assignmentrequest",
            removal_of[a.pk],
            request_label[a.pk],
            a.catalog_id,
            a.package_id,
            previous=RequestState.SUBMITTED,
            state=delivering,
        )
        for a in moving
    ]
    events += [
        audit_row(
            None,
            ASSIGNMENT.event(transition),
            "assignment",
            a.pk,
            a.label or "",
            a.catalog_id,
            a.package_id,
            previous=a.state,
            state=ended,
        )
        for a in moving
    ]
    events += [
        audit_row(
            None,
            GRANT.event("revoke"),
            "rolegrant",
            pk,
            f"grant of {by_id[assignment_id].label}",
            by_id[assignment_id].catalog_id,
            by_id[assignment_id].package_id,
            previous=state,
            state=revoked_to,
        )
        for pk, assignment_id, state in revoking
    ]
    insert_audit_rows(events, now=stamp)

    # A request still delivering one of these assignments is overtaken by its end.
    for overtaken in AssignmentRequest.objects.select_for_update(of=("self",)).filter(
        among(AssignmentRequest, ids, "assignment"),
        state__in=REQUEST.sources_of("supersede"),
        request_type__in=RequestType.ADDS,
    ):
        overtaken.cancel_reason = f"The assignment {ended} before delivery completed."
        overtaken.save(update_fields=["cancel_reason", "modified_at"])
        set_request_state(overtaken, "supersede", None)

    # Settled per batch: an assignment with nothing left to revoke (a package without roles,
    # or grants already gone) has its removal delivered at once; the others settle in the
    # worker as their revocations finish.
    states: dict[UUID, list[str]] = defaultdict(list)
    moved = {pk for pk, _, _ in revoking}
    for pk, assignment_id, state in grants:
        states[assignment_id].append(revoked_to if pk in moved else state)
    done = [pk for pk in ids if not any(s in GrantState.WORK for s in states[pk])]
    if done:
        settling = read_requests(
            AssignmentRequest.objects.select_for_update(of=("self",)).filter(
                among(AssignmentRequest, done, "assignment"), state=RequestState.DELIVERING
            )
        )
        complete_requests([(request, states[request.assignment_id or request.pk]) for request in settling])
    if revoking:
        wake_delivery()
    return removal_of


# A run that ended at least this many assignments refreshes the grant table's statistics.
STATISTICS_AFTER = 10_000


def refresh_grant_statistics() -> None:
    """PostgreSQL: ANALYZE the grant table after a run that sent many grants to be revoked.

    The planner knows how many grants are ``revoking`` from the last ANALYZE: none, before an
    expiry of 100,000. Until autovacuum notices (a minute or more), the delivery engine's
    claim expects one row from each work state and joins its 500 claims to their people and
    assignments in nested loops (EXPLAIN ANALYZE at 10,000: 250,000 rows removed by the join
    filter twice, 40 ms a claim; 12 ms once analyzed). Sampling the table costs a few tens
    of milliseconds, once a run."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(RoleGrant._meta.db_table)}")


def _commit_without_waiting() -> None:
    """PostgreSQL: this transaction's commit does not wait for its WAL to reach the disk.
    A crash in that instant loses the whole batch and nothing else: the assignments are
    still due (or the review's decisions still unapplied), so the next run ends them again.
    Waiting for the disk once per batch was a tenth of an expiry's time."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")


def _revoke(revoking: Sequence[tuple[UUID, UUID, str]], removal_of: dict[UUID, UUID], now: datetime) -> None:
    """Send the grants to be revoked (fresh attempts, due now) on behalf of their assignment's
    removal request, in one UPDATE."""
    target = GRANT.transitions["revoke"].target
    sources = GRANT.sources_of("revoke")
    if connection.vendor != "postgresql":
        RoleGrant.objects.filter(pk__in=[pk for pk, _, _ in revoking], state__in=sources).update(
            state=target,
            updated_at=now,
            **back_to_work(now),
            request_id=Subquery(
                AssignmentRequest.objects.filter(
                    assignment_id=OuterRef("assignment_id"), request_type=RequestType.SYSTEM_REMOVE
                ).values("pk")[:1]
            ),
        )
        return
    # Each grant's request joined from the pairs, not looked up per row: a correlated
    # subquery made the planner walk the request_type index, 12 ms a row at 100,000.
    grants = [pk for pk, _, _ in revoking]
    owners = [assignment_id for _, assignment_id, _ in revoking]
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE governance_rolegrant AS g SET state = %s, updated_at = %s, attempts = 0,"
            " generation = g.generation + 1, next_attempt_at = %s, last_error = '', request_id = v.request_id"
            " FROM unnest(%s::uuid[], %s::uuid[]) AS v(grant_id, request_id)"
            " WHERE g.id = v.grant_id AND g.state = ANY(%s::varchar[])",
            [
                target,
                now,
                now,
                array(grants),
                array(removal_of[a] for a in owners),
                "{" + ",".join(sorted(sources)) + "}",
            ],
        )


def _moving(batch: Sequence[AssignmentRow], transition: str) -> list[AssignmentRow]:
    """The rows the transition moves; one anywhere else but its target refuses the batch."""
    rule = ASSIGNMENT.transitions[transition]
    for row in batch:
        if row.state not in rule.sources and row.state != rule.target:
            ASSIGNMENT.next_state(transition, row.state)  # raises, naming the state
    return [row for row in batch if row.state in rule.sources]
