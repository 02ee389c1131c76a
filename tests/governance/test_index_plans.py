"""The indexes of the hot tables (issue 19, migration 0031): every index costs each row
written an entry (a delivery batch, an expiry, every audit row), so these tables keep only
the indexes some query reads through, and each query keeps one.

Each test leaves the table one index (besides its primary key and unique constraints),
runs what the code runs (captured) or the query a page builds, and EXPLAINs it with
sequential scans priced out: it must be answered through that index, so an index that
could not serve it (a column order, a partial index whose condition the query does not
imply) fails here. Whether the planner *chooses* it among the others at 100,000
assignments was checked with EXPLAIN ANALYZE on generated data (issue 19's note)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import connection, transaction
from django.db.models import ProtectedError
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from governance import models as m
from governance.filters import AuditFilter, has_drift
from governance.services import approvals, assignments, delivery, outbox
from tests import factories as f
from tests.conftest import need

pytestmark = pytest.mark.django_db

ASSIGNMENTS, REQUESTS, GRANTS = "governance_assignment", "governance_assignmentrequest", "governance_rolegrant"


@pytest.fixture(autouse=True)
def _postgresql() -> None:
    need(connection.vendor == "postgresql", "query plans are PostgreSQL's (set DATABASE_URL)")


def plan(sql: str, params: Any = None) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


def captured_plans(run: Callable[[], Any], table: str) -> list[str]:
    """The plans of the statements ``run`` sent that read ``table`` (inserts aside)."""
    with CaptureQueriesContext(connection) as captured:
        run()
    found = [
        plan(query["sql"])
        for query in captured.captured_queries
        if f'"{table}"' in query["sql"] and re.match(r"\s*(SELECT|UPDATE|DELETE|WITH)", query["sql"], re.IGNORECASE)
    ]
    assert found, f"nothing read {table}"
    return found


def queryset_plan(queryset: Any) -> Callable[[], list[str]]:
    def explain() -> list[str]:
        sql, params = queryset.query.sql_with_params()
        return [plan(sql, params)]

    return explain


def indexes_used(text: str) -> set[str]:
    return set(re.findall(r"(?:Index Scan|Index Only Scan|Bitmap Index Scan)(?: Backward)? (?:using |on )(\w+)", text))


def assert_served_by(plans: Callable[[], list[str]], table: str, index: str, *, in_order: bool = False) -> None:
    """With ``index`` the only index of ``table`` (besides those of its primary key and
    unique constraints; the others dropped in a savepoint, undone after), what the code
    runs reads ``table`` through it. ``in_order``: and in the order asked, without a sort."""
    with _rolled_back(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " WHERE i.indrelid = %s::regclass AND c.relname <> %s"
            " AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)",
            [table, index],
        )
        for (other,) in cursor.fetchall():
            cursor.execute(f'DROP INDEX "{other}"')
        if in_order:
            cursor.execute("SET LOCAL enable_sort = off")
            cursor.execute("SET LOCAL enable_bitmapscan = off")
        found = plans()
        every = "\n---\n".join(found)
        assert any(index in indexes_used(p) for p in found), every
        if in_order:
            assert "Sort" not in every, every


def deleting(model: type[Any], pk: Any, protected: bool = False) -> Callable[[], None]:
    def delete() -> None:
        if protected:
            with pytest.raises(ProtectedError):
                model.objects.get(pk=pk).delete()
        else:
            model.objects.get(pk=pk).delete()

    return delete


# --- The work queues: each reads one state, through an index holding only that state ---------


def test_the_delivery_claim_walks_the_work_index() -> None:
    claim = lambda: captured_plans(lambda: delivery.deliver_until_idle(share=lambda: None), GRANTS)  # noqa: E731
    assert_served_by(claim, GRANTS, "grant_work")


def test_approval_time_outs_and_reminders_read_only_pending_requests() -> None:
    time_outs = lambda: captured_plans(approvals.time_out_due_requests, REQUESTS)  # noqa: E731
    assert_served_by(time_outs, REQUESTS, "request_stage_due")
    reminders = lambda: captured_plans(approvals.remind_due_approvers, REQUESTS)  # noqa: E731
    assert_served_by(reminders, REQUESTS, "request_stage_remind")


def test_scheduled_starts_read_only_scheduled_requests() -> None:
    starts = lambda: captured_plans(assignments.start_due_requests, REQUESTS)  # noqa: E731
    assert_served_by(starts, REQUESTS, "request_schedule_start")


def test_the_email_sender_reads_unsent_emails_oldest_first_without_sorting() -> None:
    due = lambda: captured_plans(outbox.unsent_due, "governance_outboundemail")  # noqa: E731
    assert_served_by(due, "governance_outboundemail", "outbox_unsent", in_order=True)


def test_expiry_finds_due_assignments_through_state_and_end() -> None:
    due = queryset_plan(m.Assignment.objects.due_for_expiry(timezone.now()))
    assert_served_by(due, ASSIGNMENTS, "assignment_state_end")


# --- Lookups by a foreign key whose own index was dropped: the composite leads with it -----


def test_a_persons_rows_without_their_key_indexes() -> None:
    grant = f.RoleGrantFactory()
    person = grant.subject
    assert_served_by(queryset_plan(m.RoleGrant.objects.filter(subject=person)), GRANTS, "grant_subject_role_state")
    assert_served_by(queryset_plan(m.Assignment.objects.filter(target=person)), ASSIGNMENTS, "assignment_target_state")
    mine = m.AssignmentRequest.objects.filter(target=person)
    assert_served_by(queryset_plan(mine), REQUESTS, "request_target_package")
    assert_served_by(queryset_plan(grant.assignment.grants.all()), GRANTS, "one_grant_per_role")


def test_deleting_a_person_reaches_their_rows_through_indexes() -> None:
    person = f.UserFactory()
    f.RoleGrantFactory(subject=person, assignment__target=person)
    f.RequestFactory(target=person)
    f.RequestFactory(requestor=person)
    f.AuditEventFactory(actor=person)
    delete = deleting(m.User, person.pk)
    for table, index in (
        (GRANTS, "grant_subject_role_state"),
        (ASSIGNMENTS, "assignment_target_state"),
        (REQUESTS, "request_target_package"),
        (REQUESTS, "request_requestor"),
        ("governance_auditevent", "audit_actor"),
    ):
        assert_served_by(lambda t=table: captured_plans(delete, t), table, index)


def test_deleting_a_package_reaches_its_assignments_and_requests_through_indexes() -> None:
    assignment = f.AssignmentFactory()
    f.RequestFactory(package=assignment.package, policy=assignment.policy, assignment=assignment)
    delete = deleting(m.AccessPackage, assignment.package_id)
    assert_served_by(lambda: captured_plans(delete, ASSIGNMENTS), ASSIGNMENTS, "assignment_package_state")
    assert_served_by(lambda: captured_plans(delete, REQUESTS), REQUESTS, "request_package_state")


def test_a_roles_grants_and_a_groups_members_without_their_key_indexes() -> None:
    grant = f.RoleGrantFactory()
    member = f.GroupMembershipFactory()
    # PROTECT: a role's grants are looked up before anything is deleted.
    delete_role = deleting(m.ResourceRole, grant.resource_role_id, protected=True)
    assert_served_by(lambda: captured_plans(delete_role, GRANTS), GRANTS, "grant_role_subject")
    delete_group = deleting(m.DirectoryGroup, member.group_id)
    members = "governance_groupmembership"
    assert_served_by(lambda: captured_plans(delete_group, members), members, "unique_group_membership")


def test_attempts_of_a_request_and_of_a_connector_without_their_key_indexes() -> None:
    # A connector no resource uses any more (the resources' connector is protected).
    attempt = f.DeliveryAttemptFactory(request=f.RequestFactory(), connector=f.ConnectorFactory(kind="webhook"))
    attempts = "governance_deliveryattempt"
    delete_request = deleting(m.AssignmentRequest, attempt.request_id)
    assert_served_by(lambda: captured_plans(delete_request, attempts), attempts, "attempt_request_outcome")
    delete_connector = deleting(m.Connector, attempt.connector_id)
    assert_served_by(lambda: captured_plans(delete_connector, attempts), attempts, "attempt_connector_recent")
    latest = m.DeliveryAttempt.objects.filter(connector_id=attempt.connector_id).order_by("-started_at")[:1]
    assert_served_by(queryset_plan(latest), attempts, "attempt_connector_recent", in_order=True)


def test_a_role_operations_grants_through_the_partial_operation_index() -> None:
    operation = f.RoleOperationFactory()
    f.RoleGrantFactory(operation=operation)
    delete = deleting(m.RoleOperation, operation.pk)
    assert_served_by(lambda: captured_plans(delete, GRANTS), GRANTS, "grant_operation")
    assert_served_by(queryset_plan(m.RoleGrant.objects.filter(operation=operation)), GRANTS, "grant_operation")


# --- The audit log's filters: one pattern_ops index serves =, IN and a prefix ------------------


@pytest.mark.parametrize("data", [{"action": "request."}, {"activity": "Request submitted"}])
def test_the_audit_logs_action_filters_use_one_index(data: dict[str, str]) -> None:
    filterset = AuditFilter(data, queryset=m.AuditEvent.objects.all())
    assert filterset.is_valid(), filterset.errors
    assert_served_by(queryset_plan(filterset.qs), "governance_auditevent", "audit_action")


# --- helpers --------------------------------------------------------------------------------


class _Rollback(Exception):
    pass


@contextmanager
def _rolled_back() -> Iterator[None]:
    """Undo what the block did (dropped indexes, deleted rows), so the next check finds them."""
    try:
        with transaction.atomic():
            yield
            raise _Rollback
    except _Rollback:
        pass


# --- Drift: rare, and looked up by state -------------------------------------------------------


def test_drifted_grants_are_found_through_the_drifted_index() -> None:
    """The home page's count of drifted access and the lists' "Drifted" filter read the few
    drifted grants, not every grant."""
    f.RoleGrantFactory(state=m.GrantState.DRIFTED)
    f.RoleGrantFactory(state=m.GrantState.GRANTED)
    home = m.RoleGrant.objects.filter(state=m.GrantState.DRIFTED, assignment__state__in=m.AssignmentState.ACTIVE)
    assert_served_by(queryset_plan(home), GRANTS, "grant_drifted")
    drifted = m.Assignment.objects.filter(has_drift())
    assert_served_by(queryset_plan(drifted), GRANTS, "grant_drifted")
