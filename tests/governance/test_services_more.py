"""The remaining services: catalogs and their roles, policy lifecycle, user removal,
extensions, admin updates, scheduled starts overtaken, package edits."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from governance import models as m
from governance.errors import (
    DuplicateRequest,
    InvalidTransition,
    NotFound,
    StillInUse,
    ValidationFailed,
)
from governance.permissions import Action, can_in_catalog
from governance.services import assignments, catalogs, packages, policies, requests
from tests import factories as f
from tests.conftest import members_of

pytestmark = pytest.mark.django_db


class TestCatalogs:
    def test_creator_owns_the_new_catalog(self, user_admin):
        catalog = catalogs.create_catalog(user_admin, display_name="Sales", description="Deals")
        assert catalog.role_assignments.get().user == user_admin
        assert m.AuditEvent.objects.filter(action="catalog.created", object_id=str(catalog.pk)).exists()

    def test_edit_and_rename(self, catalog, other_catalog, catalog_owner):
        catalogs.update_catalog(
            catalog_owner, catalog.pk, display_name="Engineering tools", is_externally_visible=False
        )
        catalog.refresh_from_db()
        assert (catalog.display_name, catalog.is_externally_visible) == ("Engineering tools", False)
        event = m.AuditEvent.objects.get(action="catalog.updated")
        assert event.data["changes"]["display_name"] == ["Engineering", "Engineering tools"]
        with pytest.raises(ValidationFailed, match="already exists"):
            catalogs.update_catalog(catalog_owner, catalog.pk, display_name="finance")
        with pytest.raises(NotFound):
            catalogs.update_catalog(catalog_owner, other_catalog.pk, description="Not mine")

    def test_roles_are_added_once_and_removed_once(self, catalog, catalog_owner, outsider):
        assert not can_in_catalog(outsider, Action.VIEW, catalog.pk)
        first = catalogs.add_catalog_role(catalog_owner, catalog.pk, outsider.pk, m.CatalogRole.READER)
        again = catalogs.add_catalog_role(catalog_owner, catalog.pk, outsider.pk, m.CatalogRole.READER)
        assert first == again
        fresh = m.User.objects.get(pk=outsider.pk)
        assert can_in_catalog(fresh, Action.VIEW, catalog.pk)
        catalogs.remove_catalog_role(catalog_owner, first.pk)
        catalogs.remove_catalog_role(catalog_owner, first.pk)
        assert m.AuditEvent.objects.filter(action="catalog.role_removed").count() == 1
        assert not can_in_catalog(m.User.objects.get(pk=outsider.pk), Action.VIEW, catalog.pk)


class TestPolicyLifecycle:
    def test_disabled_policy_takes_no_new_requests(self, make_package, pkg_manager, requestor):
        package = make_package()
        policy = package.policies.get()
        policies.set_policy_enabled(pkg_manager, policy.pk, False)
        with pytest.raises(NotFound):
            requests.submit_request(requestor, package.pk)
        policies.set_policy_enabled(pkg_manager, policy.pk, True)
        assert requests.submit_request(requestor, package.pk)
        assert [e.action for e in m.AuditEvent.objects.filter(object_id=str(policy.pk))] == [
            "policy.enabled",
            "policy.disabled",
        ]

    def test_delete_only_when_nothing_depends_on_it(self, make_package, pkg_manager, requestor, approver, deliver):
        package = make_package(approvers=[approver])
        policy = package.policies.get()
        request = requests.submit_request(requestor, package.pk)
        with pytest.raises(StillInUse, match="open request"):
            policies.delete_policy(pkg_manager, policy.pk)
        requests.cancel_request_as_requestor(requestor, request.pk)
        other = make_package()
        requests.submit_request(requestor, other.pk)
        deliver()
        with pytest.raises(StillInUse, match="1 active assignment"):
            policies.delete_policy(pkg_manager, other.policies.get().pk)
        policies.delete_policy(pkg_manager, policy.pk)
        assert not m.AssignmentPolicy.objects.filter(pk=policy.pk).exists()

    def test_spec_round_trip(self, make_package, pkg_manager, approver):
        package = make_package(approvers=[approver], requestor_justification_required=True)
        policy = package.policies.get()
        spec = policies.spec_of(policy)
        assert spec.stages[0].approvers[0].user_id == approver.pk
        spec.description = "Now with a description"
        saved = policies.save_policy(pkg_manager, package.pk, spec, policy_id=policy.pk)
        assert saved.description == "Now with a description"
        assert saved.stages.get().approvers.get().user == approver
        event = m.AuditEvent.objects.get(action="policy.updated")
        assert event.data["changes"] == {"description": ["", "Now with a description"]}


class TestUserRemovalAndExtension:
    def test_requestor_gives_up_access(self, make_package, requestor, deliver):
        package = make_package(roles=1)
        request = requests.submit_request(requestor, package.pk)
        deliver()
        removal = requests.request_removal(requestor, request.assignment_id, "Changed teams")
        assert removal.request_type == m.RequestType.USER_REMOVE
        deliver()
        removal.refresh_from_db()
        assert removal.state == m.RequestState.DELIVERED
        assert m.Assignment.objects.get(pk=request.assignment_id).state == m.AssignmentState.REMOVED
        assert members_of(m.ResourceRole.objects.get(package_links__package=package)) == set()
        with pytest.raises(InvalidTransition, match="already ended"):
            requests.request_removal(requestor, request.assignment_id)

    def test_someone_elses_assignment_is_not_found(self, make_package, requestor, outsider, deliver):
        request = requests.submit_request(outsider, make_package().pk)
        deliver()
        with pytest.raises(NotFound):
            requests.request_removal(requestor, request.assignment_id)
        with pytest.raises(NotFound):
            requests.request_extension(requestor, request.assignment_id)

    def test_extension_without_approval_and_with_a_chosen_end(self, make_package, requestor, deliver):
        package = make_package(expiration_days=30, allow_extension=True, allow_custom_schedule=True)
        request = requests.submit_request(requestor, package.pk)
        deliver()
        request.refresh_from_db()
        assignment = request.assignment
        with time_machine.travel(timezone.now() + timedelta(days=20), tick=False):
            with pytest.raises(ValidationFailed, match="at the latest"):
                requests.request_extension(requestor, assignment.pk, end=timezone.now() + timedelta(days=40))
            wanted = timezone.now() + timedelta(days=25)
            extension = requests.request_extension(requestor, assignment.pk, end=wanted)
        assert extension.state == m.RequestState.DELIVERED
        assignment.refresh_from_db()
        assert assignment.end_at == wanted
        assert m.AuditEvent.objects.filter(action="assignment.extended", object_id=str(assignment.pk)).exists()

    def test_extension_requested_twice_is_a_duplicate(self, make_package, requestor, approver, deliver):
        package = make_package(
            approvers=[approver], expiration_days=30, allow_extension=True, extension_requires_approval=True
        )
        request = requests.submit_request(requestor, package.pk)
        from governance.services import approvals

        approvals.decide(approver, request.pk, m.Decision.APPROVE)
        deliver()
        request.refresh_from_db()
        with time_machine.travel(timezone.now() + timedelta(days=20), tick=False):
            requests.request_extension(requestor, request.assignment_id)
            with pytest.raises(DuplicateRequest, match="already asked to extend"):
                requests.request_extension(requestor, request.assignment_id)

    def test_nothing_to_extend_when_access_never_ends(self, make_package, requestor, deliver):
        package = make_package(expiration_type=m.ExpirationType.NEVER, expiration_days=None, allow_extension=True)
        request = requests.submit_request(requestor, package.pk)
        deliver()
        with pytest.raises(ValidationFailed, match="does not expire"):
            requests.request_extension(requestor, request.assignment_id)


class TestAdminUpdateAndSchedule:
    def test_admin_changes_the_end(self, make_package, requestor, assignment_manager, deliver):
        request = requests.submit_request(requestor, make_package().pk)
        deliver()
        new_end = timezone.now() + timedelta(days=3)
        update = assignments.update_assignment_end(assignment_manager, request.assignment_id, new_end)
        assert (update.request_type, update.state) == (m.RequestType.ADMIN_UPDATE, m.RequestState.DELIVERED)
        assert m.Assignment.objects.get(pk=request.assignment_id).end_at == new_end
        with pytest.raises(ValidationFailed, match="in the future"):
            assignments.update_assignment_end(assignment_manager, request.assignment_id, timezone.now())

    def test_scheduled_start_overtaken_by_a_direct_assignment(self, make_package, requestor, admin):
        package = make_package(allow_custom_schedule=True)
        direct = f.PolicyFactory(package=package, allowed_target_scope=m.TargetScope.NO_ONE)
        start = timezone.now() + timedelta(days=2)
        scheduled = requests.submit_request(requestor, package.pk, start=start)
        with pytest.raises(DuplicateRequest):
            assignments.create_direct_assignments(admin, package.pk, policy_id=direct.pk, target_ids=[requestor.pk])
        # The scheduled request is canceled by an administrator, then assigned directly.
        requests.cancel_request_as_admin(admin, scheduled.pk)
        assignments.create_direct_assignments(admin, package.pk, policy_id=direct.pk, target_ids=[requestor.pk])
        with time_machine.travel(start + timedelta(minutes=1), tick=False):
            assert assignments.start_due_requests() == 0


class TestPackageEdits:
    def test_edit_records_what_changed(self, make_package, pkg_manager):
        package = make_package(name="Old name")
        packages.update_package(pkg_manager, package.pk, display_name="New name", description="Better")
        packages.update_package(pkg_manager, package.pk, display_name="New name")  # nothing changed
        events = m.AuditEvent.objects.filter(action="package.updated", object_id=str(package.pk))
        assert events.count() == 1
        assert events.get().data["changes"]["display_name"] == ["Old name", "New name"]

    def test_create_in_a_catalog_one_may_not_manage(self, other_catalog, pkg_manager, catalog_reader, catalog):
        with pytest.raises(ValidationFailed, match="Choose a catalog"):
            packages.create_package(pkg_manager, other_catalog.pk, display_name="X")
        from governance.errors import NotAllowed

        with pytest.raises(NotAllowed):
            packages.create_package(catalog_reader, catalog.pk, display_name="X")
        assert packages.create_package(pkg_manager, catalog.pk, display_name="Mine").catalog == catalog

    def test_removed_then_readded_role_is_granted_again(self, make_package, pkg_manager, requestor, deliver):
        package = make_package(roles=1)
        requests.submit_request(requestor, package.pk)
        deliver()
        role = m.ResourceRole.objects.get(package_links__package=package)
        packages.propagate_role_operation(packages.remove_resource_role(pkg_manager, package.pk, role.pk).pk)
        deliver()
        assert members_of(role) == set()
        assert packages.remove_resource_role(pkg_manager, package.pk, role.pk) is None
        packages.propagate_role_operation(packages.add_resource_role(pkg_manager, package.pk, role.pk).pk)
        deliver()
        assert members_of(role) == {"requestor"}
        assert m.RoleGrant.objects.get(resource_role=role).state == m.GrantState.GRANTED
