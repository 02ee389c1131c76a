"""DESIGN §4, rules 1-12, at the service level: each with the allowed and the refused case."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from governance import models as m
from governance.errors import (
    AlreadyDecided,
    DuplicateRequest,
    InvalidTransition,
    NotAllowed,
    NotFound,
    StillInUse,
    ValidationFailed,
)
from governance.permissions import discoverable_packages, package_by_link
from governance.services import approvals, assignments, catalogs, packages, requests
from tests import factories as f
from tests.approval_setup import approval_stage
from tests.concurrency.invariants import check_invariants
from tests.conftest import members_of, snapshot

pytestmark = pytest.mark.django_db

APPROVE = m.Decision.APPROVE
DENY = m.Decision.DENY


def broken_role(package: m.AccessPackage) -> m.ResourceRole:
    """A role whose group does not exist in the built-in directory (a permanent failure)."""
    role = f.ResourceRoleFactory(resource__catalog=package.catalog, resource__origin_id=str(uuid.uuid4()))
    f.PackageResourceRoleFactory(package=package, resource_role=role)
    return role


def repair(role: m.ResourceRole) -> m.DirectoryGroup:
    return f.DirectoryGroupFactory(id=uuid.UUID(role.resource.origin_id), display_name="Repaired")


def roles_of(package: m.AccessPackage) -> list[m.ResourceRole]:
    return list(m.ResourceRole.objects.filter(package_links__package=package).select_related("resource"))


# --- Rule 1: reprocess a request ---------------------------------------------------------


class TestRule1ReprocessRequest:
    def test_retries_only_the_failed_grants_and_then_delivers(self, make_package, requestor, admin, deliver):
        package = make_package(roles=1)
        good = roles_of(package)[0]
        bad = broken_role(package)
        request = requests.submit_request(requestor, package.pk)
        deliver()
        request.refresh_from_db()
        assert request.state == m.RequestState.PARTIALLY_DELIVERED
        assert request.delivery_attempts.filter(outcome=m.Outcome.PERMANENT).count() == 1
        good_grant = m.RoleGrant.objects.get(resource_role=good)
        granted_at = good_grant.granted_at

        repair(bad)
        requests.reprocess_request(admin, request.pk)
        request.refresh_from_db()
        assert request.state == m.RequestState.DELIVERING
        assert m.RoleGrant.objects.get(resource_role=bad).state == m.GrantState.PENDING
        good_grant.refresh_from_db()
        assert (good_grant.state, good_grant.granted_at) == (m.GrantState.GRANTED, granted_at)

        deliver()
        request.refresh_from_db()
        assert request.state == m.RequestState.DELIVERED
        assert request.assignment.state == m.AssignmentState.DELIVERED
        assert "requestor" in members_of(bad)
        assert m.AuditEvent.objects.filter(action="request.reprocess", object_id=str(request.pk)).exists()
        check_invariants()

    def test_refused_for_a_delivered_request(self, make_package, requestor, admin, deliver):
        request = requests.submit_request(requestor, make_package().pk)
        deliver()
        before = snapshot()
        with pytest.raises(InvalidTransition, match="Delivery failed or Partially delivered"):
            requests.reprocess_request(admin, request.pk)
        assert snapshot() == before

    def test_refused_after_the_reprocess_window(self, make_package, requestor, admin, deliver, settings):
        package = make_package(roles=0)
        broken_role(package)
        request = requests.submit_request(requestor, package.pk)
        deliver()
        request.refresh_from_db()
        assert request.state == m.RequestState.DELIVERY_FAILED
        late = request.completed_at + timedelta(days=settings.REPROCESS_WINDOW_DAYS, minutes=1)
        with time_machine.travel(late, tick=False):
            before = snapshot()
            with pytest.raises(InvalidTransition, match="more than 14 days ago"):
                requests.reprocess_request(admin, request.pk)
            assert snapshot() == before
        within = request.completed_at + timedelta(days=settings.REPROCESS_WINDOW_DAYS - 1)
        with time_machine.travel(within, tick=False):
            assert requests.reprocess_request(admin, request.pk).state == m.RequestState.DELIVERING

    def test_bulk_reprocess_skips_and_reports_ineligible_rows(self, make_package, admin, deliver):
        package = make_package(roles=0)
        broken_role(package)
        failed = [requests.submit_request(f.UserFactory(), package.pk) for _ in range(2)]
        delivered = requests.submit_request(f.UserFactory(), make_package().pk)
        deliver()
        result = requests.reprocess_requests(admin, [r.pk for r in failed] + [delivered.pk, uuid.uuid4()])
        assert sorted(result.done) == sorted(r.pk for r in failed)
        assert len(result.skipped) == 2
        assert result.summary() == (
            "2 queued; 2 skipped (Only requests that are Delivery failed or Partially delivered can be "
            "reprocessed): already Delivered (1), not found (1)."
        )


# --- Rule 2: reprocess an assignment ------------------------------------------------------


class TestRule2ReprocessAssignment:
    def test_regrants_access_removed_outside_the_portal(self, make_package, requestor, assignment_manager, deliver):
        package = make_package(roles=2)
        request = requests.submit_request(requestor, package.pk)
        deliver()
        role = roles_of(package)[0]
        m.GroupMembership.objects.filter(group_id=role.resource.origin_id, user=requestor).delete()
        assert "requestor" not in members_of(role)

        assignment = assignments.reprocess_assignment(assignment_manager, request.assignment_id)
        assert assignment.state == m.AssignmentState.DELIVERING
        deliver()
        assignment.refresh_from_db()
        assert assignment.state == m.AssignmentState.DELIVERED
        assert all("requestor" in members_of(r) for r in roles_of(package))

    def test_refused_for_an_ended_assignment(self, admin):
        assignment = f.AssignmentFactory(state=m.AssignmentState.EXPIRED)
        before = snapshot()
        with pytest.raises(InvalidTransition, match="Only active assignments"):
            assignments.reprocess_assignment(admin, assignment.pk)
        assert snapshot() == before

    def test_bulk_reports_what_it_skipped(self, admin):
        active = f.AssignmentFactory()
        ended = f.AssignmentFactory(state=m.AssignmentState.REMOVED)
        result = assignments.reprocess_assignments(admin, [active.pk, ended.pk])
        assert result.done == [active.pk]
        assert [pk for pk, _ in result.skipped] == [str(ended.pk)]


# --- Rule 3: cancel -----------------------------------------------------------------------


class TestRule3Cancel:
    @pytest.mark.parametrize("state", ["submitted", "pendingApproval", "scheduled"])
    def test_admin_cancels_what_is_not_delivered(self, state, pkg_manager, make_package):
        request = f.RequestFactory(policy__package=make_package(), state=state)
        requests.cancel_request_as_admin(pkg_manager, request.pk, "Not needed")
        request.refresh_from_db()
        assert (request.state, request.cancel_reason) == (m.RequestState.CANCELED, "Not needed")
        # Canceling twice is a no-op.
        requests.cancel_request_as_admin(pkg_manager, request.pk)
        assert m.AuditEvent.objects.filter(action="request.cancel_by_admin", object_id=str(request.pk)).count() == 1

    @pytest.mark.parametrize("state", ["delivering", "delivered", "partiallyDelivered", "denied"])
    def test_admin_cannot_cancel_delivered_or_delivering(self, state, admin, make_package):
        request = f.RequestFactory(policy__package=make_package(), state=state)
        before = snapshot()
        with pytest.raises(InvalidTransition):
            requests.cancel_request_as_admin(admin, request.pk)
        assert snapshot() == before

    def test_canceling_a_failed_delivery_leaves_no_access_behind(self, make_package, requestor, admin, deliver):
        package = make_package(roles=0)
        role = broken_role(package)
        request = requests.submit_request(requestor, package.pk)
        deliver()
        request.refresh_from_db()
        assert request.state == m.RequestState.DELIVERY_FAILED
        # Meanwhile the target got the member after all (a partial apply we never heard of).
        group = repair(role)
        m.GroupMembership.objects.create(group=group, user=requestor)

        requests.cancel_request_as_admin(admin, request.pk)
        deliver()
        request.refresh_from_db()
        assert request.state == m.RequestState.CANCELED
        assert request.assignment.state == m.AssignmentState.REMOVED
        assert members_of(role) == set()
        check_invariants()

    def test_requestor_cancels_only_while_pending_approval(self, make_package, requestor, approver):
        pending = requests.submit_request(requestor, make_package(approvers=[approver]).pk)
        requests.cancel_request_as_requestor(requestor, pending.pk)
        pending.refresh_from_db()
        assert pending.state == m.RequestState.CANCELED

        scheduled = f.RequestFactory(target=requestor, state=m.RequestState.SCHEDULED)
        before = snapshot()
        with pytest.raises(InvalidTransition, match="Scheduled"):
            requests.cancel_request_as_requestor(requestor, scheduled.pk)
        assert snapshot() == before

    def test_requestor_cannot_cancel_someone_elses_request(self, requestor, outsider):
        request = f.RequestFactory(target=outsider)
        with pytest.raises(NotFound):
            requests.cancel_request_as_requestor(requestor, request.pk)


# --- Rule 4: approval ----------------------------------------------------------------------


class TestRule4Approval:
    def test_any_one_approver_decides_and_the_second_sees_who(self, make_package, requestor, approver):
        second = f.UserFactory(username="second")
        request = requests.submit_request(requestor, make_package(approvers=[approver, second]).pk)
        approvals.decide(approver, request.pk, APPROVE)
        with pytest.raises(AlreadyDecided, match=f"Already decided by {re.escape(str(approver))} on"):
            approvals.decide(second, request.pk, DENY)
        # The same approver repeating the same decision is a no-op.
        approvals.decide(approver, request.pk, APPROVE)
        assert m.ApprovalDecision.objects.filter(request=request).count() == 1
        request.refresh_from_db()
        assert request.state == m.RequestState.DELIVERING

    def test_never_approve_your_own_request(self, make_package, requestor, approver):
        package = make_package(approvers=[approver, requestor])
        request = requests.submit_request(requestor, package.pk)
        before = snapshot()
        with pytest.raises(NotAllowed, match="your own request"):
            approvals.decide(requestor, request.pk, APPROVE)
        assert snapshot() == before

    def test_fallback_approvers_when_primaries_resolve_to_nobody(self, make_package, approver):
        lonely = f.UserFactory(manager=None)
        package = make_package()
        stage = approval_stage(package)
        f.StageApproverFactory(stage=stage, kind=m.ApproverKind.MANAGER, user=None)
        f.StageApproverFactory(stage=stage, kind=m.ApproverKind.USER, user=approver, is_fallback=True)
        request = requests.submit_request(lonely, package.pk)
        assert list(m.AssignmentRequest.objects.awaiting_decision_by(approver)) == [request]
        approvals.decide(approver, request.pk, APPROVE)

    def test_manager_and_group_approvers(self, make_package, requestor, approver):
        group = f.DirectoryGroupFactory()
        member = f.GroupMembershipFactory(group=group).user
        package = make_package()
        stage = approval_stage(package)
        f.StageApproverFactory(stage=stage, kind=m.ApproverKind.MANAGER, user=None)
        f.StageApproverFactory(stage=stage, kind=m.ApproverKind.GROUP, user=None, group=group)
        request = requests.submit_request(requestor, package.pk)
        assert request in m.AssignmentRequest.objects.awaiting_decision_by(approver)
        assert request in m.AssignmentRequest.objects.awaiting_decision_by(member)
        assert request not in m.AssignmentRequest.objects.awaiting_decision_by(f.UserFactory())

    def test_someone_not_in_the_stage_cannot_decide(self, make_package, requestor, approver, outsider):
        request = requests.submit_request(requestor, make_package(approvers=[approver]).pk)
        before = snapshot()
        with pytest.raises(NotAllowed, match="not an approver of stage 1"):
            approvals.decide(outsider, request.pk, APPROVE)
        assert snapshot() == before

    def test_deny_at_any_stage_ends_the_request(self, make_package, requestor, approver):
        package = make_package(approvers=[approver])
        second_approver = f.UserFactory()
        stage2 = f.ApprovalStageFactory(policy=package.policies.get(), order=2)
        f.StageApproverFactory(stage=stage2, user=second_approver)
        request = requests.submit_request(requestor, package.pk)
        approvals.decide(approver, request.pk, APPROVE)
        request.refresh_from_db()
        assert (request.state, request.current_stage) == (m.RequestState.PENDING_APPROVAL, 2)
        approvals.decide(second_approver, request.pk, DENY, "Not this quarter")
        request.refresh_from_db()
        assert request.state == m.RequestState.DENIED
        assert request.assignment is None
        assert m.OutboundEmail.objects.filter(kind="request_denied", recipient=requestor).exists()

    def test_three_stages_in_order(self, make_package, requestor):
        people = [f.UserFactory() for _ in range(3)]
        package = make_package(approvers=[people[0]])
        policy = package.policies.get()
        for order in (2, 3):
            f.StageApproverFactory(stage=f.ApprovalStageFactory(policy=policy, order=order), user=people[order - 1])
        request = requests.submit_request(requestor, package.pk)
        with pytest.raises(NotAllowed):
            approvals.decide(people[1], request.pk, APPROVE)  # stage 2's approver is not asked yet
        for person in people:
            approvals.decide(person, request.pk, APPROVE)
        request.refresh_from_db()
        assert request.state == m.RequestState.DELIVERING
        assert list(request.decisions.values_list("stage_order", flat=True)) == [1, 2, 3]
        check_invariants()

    def test_approver_justification_required(self, make_package, requestor, approver):
        request = requests.submit_request(
            requestor, make_package(approvers=[approver], approver_justification_required=True).pk
        )
        before = snapshot()
        with pytest.raises(ValidationFailed) as refused:
            approvals.decide(approver, request.pk, APPROVE, "   ")
        assert refused.value.field == "justification"
        assert snapshot() == before
        approvals.decide(approver, request.pk, APPROVE, "Needed for the release")

    def test_timeout_cancels_and_tells_the_requestor(self, make_package, requestor, approver):
        request = requests.submit_request(requestor, make_package(approvers=[approver]).pk)
        assert approvals.time_out_due_requests() == 0
        with time_machine.travel(timezone.now() + timedelta(days=7, minutes=1), tick=False):
            assert approvals.time_out_due_requests() == 1
            assert approvals.time_out_due_requests() == 0
        request.refresh_from_db()
        assert request.state == m.RequestState.CANCELED
        assert "approval timed out" in request.cancel_reason.lower()
        email = m.OutboundEmail.objects.get(kind="request_timed_out")
        assert "request it again" in email.body_text
        with pytest.raises(InvalidTransition):
            approvals.decide(approver, request.pk, APPROVE)


# --- Rule 5: schedule ------------------------------------------------------------------------


class TestRule5Schedule:
    def test_future_start_is_scheduled_then_delivered_at_the_start(self, make_package, requestor, deliver):
        package = make_package(allow_custom_schedule=True, expiration_days=30)
        start = timezone.now() + timedelta(days=3)
        request = requests.submit_request(requestor, package.pk, start=start)
        assert request.state == m.RequestState.SCHEDULED
        assert request.assignment is None
        assert assignments.start_due_requests() == 0
        with time_machine.travel(start + timedelta(minutes=1), tick=False):
            assert assignments.start_due_requests() == 1
            deliver()
        request.refresh_from_db()
        assert request.state == m.RequestState.DELIVERED
        # No end requested: the policy's 30 days apply from the start.
        assert request.assignment.end_at == request.assignment.start_at + timedelta(days=30)

    def test_requested_period_beyond_the_policy_is_refused(self, make_package, requestor):
        package = make_package(allow_custom_schedule=True, expiration_days=30)
        before = snapshot()
        with pytest.raises(ValidationFailed, match="for 30 days") as refused:
            requests.submit_request(requestor, package.pk, end=timezone.now() + timedelta(days=31))
        assert refused.value.field == "end"
        assert snapshot() == before
        within = requests.submit_request(requestor, package.pk, end=timezone.now() + timedelta(days=29))
        assert within.schedule_end is not None

    def test_a_specific_period_needs_a_policy_that_allows_it(self, make_package, requestor):
        with pytest.raises(ValidationFailed, match="specific period"):
            requests.submit_request(requestor, make_package().pk, end=timezone.now() + timedelta(days=1))

    def test_direct_assignment_with_a_future_start(self, make_package, admin, requestor):
        package = make_package(allowed_target_scope=m.TargetScope.NO_ONE)
        policy = package.policies.get()
        start = timezone.now() + timedelta(days=1)
        [request] = assignments.create_direct_assignments(
            admin, package.pk, policy_id=policy.pk, target_ids=[requestor.pk], start=start
        )
        assert request.state == m.RequestState.SCHEDULED


# --- Rule 6: expiry, reminders, extension ----------------------------------------------------


class TestRule6Expiry:
    def test_expired_at_the_end_and_access_revoked(self, make_package, requestor, deliver):
        package = make_package(roles=2, expiration_days=10)
        request = requests.submit_request(requestor, package.pk)
        deliver()
        assert assignments.expire_due_assignments() == 0
        with time_machine.travel(timezone.now() + timedelta(days=10, minutes=1), tick=False):
            assert assignments.expire_due_assignments() == 1
            deliver()
        assignment = m.Assignment.objects.get(pk=request.assignment_id)
        assert assignment.state == m.AssignmentState.EXPIRED
        assert set(assignment.grants.values_list("state", flat=True)) == {m.GrantState.REVOKED}
        assert all(members_of(role) == set() for role in roles_of(package))
        expiry = m.AssignmentRequest.objects.get(request_type=m.RequestType.SYSTEM_REMOVE)
        assert expiry.state == m.RequestState.DELIVERED
        assert m.OutboundEmail.objects.filter(kind="assignment_expired", recipient=requestor).exists()
        check_invariants()

    def test_reminders_14_and_1_days_before_sent_once(self, make_package, requestor, deliver):
        package = make_package(expiration_days=30, allow_extension=True)
        requests.submit_request(requestor, package.pk)
        deliver()
        now = timezone.now()
        assert assignments.send_expiry_reminders(now) == 0
        assert assignments.send_expiry_reminders(now + timedelta(days=16, hours=1)) == 1
        assert assignments.send_expiry_reminders(now + timedelta(days=17)) == 0
        assert assignments.send_expiry_reminders(now + timedelta(days=29, hours=1)) == 1
        assert assignments.send_expiry_reminders(now + timedelta(days=29, hours=2)) == 0
        kinds = m.OutboundEmail.objects.filter(kind="expiry_reminder").values_list("subject", flat=True)
        assert sorted(kinds) == sorted(
            [f"Your access to {package} expires in 14 days", f"Your access to {package} expires in 1 day"]
        )

    def test_no_reminders_without_extensions(self, make_package, requestor, deliver):
        requests.submit_request(requestor, make_package(expiration_days=30).pk)
        deliver()
        assert assignments.send_expiry_reminders(timezone.now() + timedelta(days=20)) == 0

    def test_extension_with_approval(self, make_package, requestor, approver, deliver):
        package = make_package(
            approvers=[approver], expiration_days=30, allow_extension=True, extension_requires_approval=True
        )
        request = requests.submit_request(requestor, package.pk)
        approvals.decide(approver, request.pk, APPROVE)
        deliver()
        request.refresh_from_db()
        assignment = m.Assignment.objects.get(pk=request.assignment_id)
        old_end = assignment.end_at
        with time_machine.travel(timezone.now() + timedelta(days=20), tick=False):
            extension = requests.request_extension(requestor, assignment.pk, justification="Project runs longer")
            assert extension.state == m.RequestState.PENDING_APPROVAL
            approvals.decide(approver, extension.pk, APPROVE)
        extension.refresh_from_db()
        assignment.refresh_from_db()
        assert extension.state == m.RequestState.DELIVERED
        assert assignment.end_at > old_end + timedelta(days=19)
        check_invariants()

    def test_extension_refused_when_the_policy_does_not_allow_it(self, make_package, requestor, deliver):
        request = requests.submit_request(requestor, make_package(expiration_days=30).pk)
        deliver()
        before = snapshot()
        with pytest.raises(NotAllowed, match="does not allow extensions"):
            requests.request_extension(requestor, request.assignment_id)
        assert snapshot() == before


# --- Rule 8: resource roles ------------------------------------------------------------------


class TestRule8ResourceRoles:
    def test_added_role_reaches_every_active_assignment(self, make_package, pkg_manager, deliver):
        package = make_package(roles=1)
        people = [f.UserFactory() for _ in range(3)]
        for person in people:
            requests.submit_request(person, package.pk)
        deliver()
        new_role = f.ResourceRoleFactory(resource__catalog=package.catalog)
        operation = packages.add_resource_role(pkg_manager, package.pk, new_role.pk)
        assert operation is not None
        assert operation.total == 3
        assert packages.propagate_role_operation(operation.pk) is True
        assert packages.operation_progress(operation) == {"total": 3, "done": 0, "failed": 0, "queued": 3}
        deliver()
        assert members_of(new_role) == {p.username for p in people}
        assert packages.operation_progress(operation)["done"] == 3
        assert set(package.assignments.values_list("state", flat=True)) == {m.AssignmentState.DELIVERED}
        # Adding it again is a no-op.
        assert packages.add_resource_role(pkg_manager, package.pk, new_role.pk) is None

    def test_removed_role_is_revoked_from_every_active_assignment(self, make_package, pkg_manager, deliver):
        package = make_package(roles=2)
        person = f.UserFactory()
        requests.submit_request(person, package.pk)
        deliver()
        kept, removed = roles_of(package)
        operation = packages.remove_resource_role(pkg_manager, package.pk, removed.pk)
        assert operation is not None
        packages.propagate_role_operation(operation.pk)
        deliver()
        assert members_of(removed) == set()
        assert members_of(kept) == {person.username}
        assert packages.operation_progress(operation)["done"] == 1

    def test_a_role_from_another_catalog_is_refused(self, make_package, pkg_manager, other_catalog):
        package = make_package()
        foreign = f.ResourceRoleFactory(resource__catalog=other_catalog)
        before = snapshot()
        with pytest.raises(ValidationFailed, match="this package's catalog"):
            packages.add_resource_role(pkg_manager, package.pk, foreign.pk)
        assert snapshot() == before


# --- Rule 9: hidden packages ---------------------------------------------------------------------


class TestRule9Hidden:
    def test_hidden_is_not_listed_but_its_link_works_for_allowed_people(self, make_package, requestor, outsider):
        visible = make_package(name="Visible")
        hidden = make_package(name="Hidden one")
        packages.set_hidden(f.UserFactory(is_superuser=True), hidden.pk, True)
        assert list(discoverable_packages(requestor)) == [visible]
        assert package_by_link(requestor, hidden.pk) == hidden
        assert requests.submit_request(requestor, hidden.pk).state == m.RequestState.DELIVERING

    def test_hidden_link_is_404_for_people_no_policy_allows(self, make_package, partner):
        hidden = make_package(name="Hidden one")
        hidden.is_hidden = True
        hidden.save()
        with pytest.raises(NotFound):
            package_by_link(partner, hidden.pk)
        with pytest.raises(NotFound):
            requests.submit_request(partner, hidden.pk)


# --- Rule 10: delete ------------------------------------------------------------------------------


class TestRule10Delete:
    def test_package_with_active_assignments_cannot_be_deleted(self, make_package, requestor, pkg_manager, deliver):
        package = make_package()
        request = requests.submit_request(requestor, package.pk)
        deliver()
        before = snapshot()
        with pytest.raises(StillInUse, match="1 active assignment"):
            packages.delete_package(pkg_manager, package.pk)
        assert snapshot() == before
        assignments.remove_assignment(pkg_manager, request.assignment_id)
        with pytest.raises(StillInUse, match="still being removed"):
            packages.delete_package(pkg_manager, package.pk)
        deliver()
        packages.delete_package(pkg_manager, package.pk)
        assert not m.AccessPackage.objects.filter(pk=package.pk).exists()
        assert m.AuditEvent.objects.filter(action="package.deleted", object_id=str(package.pk)).exists()

    def test_catalog_with_packages_or_resources_cannot_be_deleted(self, catalog, catalog_owner, make_package):
        package = make_package(name="Keeps it busy")
        before = snapshot()
        with pytest.raises(StillInUse, match="Keeps it busy"):
            catalogs.delete_catalog(catalog_owner, catalog.pk)
        assert snapshot() == before
        packages.delete_package(catalog_owner, package.pk)
        with pytest.raises(StillInUse, match="resources"):
            catalogs.delete_catalog(catalog_owner, catalog.pk)
        for resource in catalog.resources.all():
            catalogs.delete_resource(catalog_owner, resource.pk)
        catalogs.delete_catalog(catalog_owner, catalog.pk)
        assert not m.Catalog.objects.filter(pk=catalog.pk).exists()

    def test_resource_used_by_a_package_cannot_be_deleted(self, make_package, catalog_owner):
        package = make_package(name="Uses it")
        resource = roles_of(package)[0].resource
        with pytest.raises(StillInUse, match="used by access packages: Uses it"):
            catalogs.delete_resource(catalog_owner, resource.pk)


# --- Rule 11: several policies ---------------------------------------------------------------------


class TestRule11PolicyChoice:
    def test_several_policies_require_a_choice(self, make_package, requestor):
        package = make_package()
        second = f.PolicyFactory(package=package, allowed_target_scope=m.TargetScope.ALL_USERS, expiration_days=2)
        before = snapshot()
        with pytest.raises(ValidationFailed, match="choose one") as refused:
            requests.submit_request(requestor, package.pk)
        assert refused.value.field == "policy"
        assert snapshot() == before
        request = requests.submit_request(requestor, package.pk, policy_id=second.pk)
        assert request.policy == second

    def test_one_policy_is_chosen_silently(self, make_package, requestor):
        package = make_package()
        assert requests.submit_request(requestor, package.pk).policy == package.policies.get()

    def test_no_policy_means_not_requestable(self, make_package, requestor):
        package = make_package(allowed_target_scope=m.TargetScope.NO_ONE)
        with pytest.raises(NotFound):
            requests.submit_request(requestor, package.pk)
        with pytest.raises(NotFound):
            package_by_link(requestor, package.pk)


# --- Rule 12: duplicates -----------------------------------------------------------------------------


class TestRule12Duplicates:
    def test_open_request_blocks_a_second(self, make_package, requestor, approver):
        package = make_package(approvers=[approver])
        first = requests.submit_request(requestor, package.pk)
        before = snapshot()
        with pytest.raises(DuplicateRequest, match="open request") as refused:
            requests.submit_request(requestor, package.pk)
        assert refused.value.details["request_id"] == first.pk
        assert snapshot() == before

    def test_active_assignment_blocks_a_request_and_a_direct_assignment(self, make_package, requestor, admin, deliver):
        package = make_package()
        f.PolicyFactory(package=package, allowed_target_scope=m.TargetScope.NO_ONE)
        request = requests.submit_request(requestor, package.pk)
        deliver()
        with pytest.raises(DuplicateRequest, match="already have access") as refused:
            requests.submit_request(requestor, package.pk)
        assert refused.value.details["assignment_id"] == request.assignment_id
        admin_policy = package.policies.get(allowed_target_scope=m.TargetScope.NO_ONE)
        with pytest.raises(DuplicateRequest, match=str(requestor)):
            assignments.create_direct_assignments(
                admin, package.pk, policy_id=admin_policy.pk, target_ids=[requestor.pk, f.UserFactory().pk]
            )

    def test_after_the_assignment_ends_one_may_request_again(self, make_package, requestor, admin, deliver):
        package = make_package()
        request = requests.submit_request(requestor, package.pk)
        deliver()
        assignments.remove_assignment(admin, request.assignment_id)
        deliver()
        assert requests.submit_request(requestor, package.pk).state == m.RequestState.DELIVERING
