"""Every service refuses bad input with a message a person can act on, and writes nothing."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from governance import models as m
from governance.errors import DomainError, NotFound, ValidationFailed
from governance.services import approvals, assignments, catalogs, packages, policies, requests
from tests import factories as f
from tests.approval_setup import approval_stage
from tests.conftest import snapshot

pytestmark = pytest.mark.django_db


def refused(
    call: Any, error: type[DomainError] = ValidationFailed, match: str | None = None, field: str | None = None
) -> None:
    before = snapshot()
    with pytest.raises(error, match=match) as caught:
        call()
    assert snapshot() == before, "a refused call must not write anything"
    if field is not None:
        assert caught.value.field == field


class TestSubmitRequest:
    def test_unknown_package(self, requestor):
        refused(lambda: requests.submit_request(requestor, uuid.uuid4()), NotFound, "Access package not found")
        refused(lambda: requests.submit_request(requestor, "not-a-uuid"), NotFound)

    def test_unknown_policy(self, make_package, requestor):
        package = make_package()
        refused(
            lambda: requests.submit_request(requestor, package.pk, policy_id=uuid.uuid4()),
            match="does not let you request",
            field="policy",
        )
        refused(lambda: requests.submit_request(requestor, package.pk, policy_id="garbage"), field="policy")

    def test_policy_of_another_package(self, make_package, requestor):
        package, other = make_package(), make_package()
        refused(
            lambda: requests.submit_request(requestor, package.pk, policy_id=other.policies.get().pk), field="policy"
        )

    def test_disabled_policy(self, make_package, requestor):
        package = make_package()
        second = f.PolicyFactory(package=package, allowed_target_scope=m.TargetScope.ALL_MEMBERS, enabled=False)
        refused(
            lambda: requests.submit_request(requestor, package.pk, policy_id=second.pk),
            match="no longer accepts requests",
            field="policy",
        )

    def test_package_whose_only_policy_is_disabled_is_not_requestable(self, make_package, requestor):
        package = make_package(enabled=False)
        refused(lambda: requests.submit_request(requestor, package.pk), NotFound)

    def test_justification_missing(self, make_package, requestor):
        package = make_package(requestor_justification_required=True)
        refused(
            lambda: requests.submit_request(requestor, package.pk, justification="  "),
            match="justification is required",
            field="justification",
        )

    def test_period_end_before_start(self, make_package, requestor):
        package = make_package(allow_custom_schedule=True)
        start = timezone.now() + timedelta(days=2)
        refused(
            lambda: requests.submit_request(requestor, package.pk, start=start, end=start - timedelta(hours=1)),
            match="end must be after the start",
            field="end",
        )

    def test_start_in_the_past(self, make_package, requestor):
        package = make_package(allow_custom_schedule=True)
        refused(
            lambda: requests.submit_request(requestor, package.pk, start=timezone.now() - timedelta(days=3)),
            match="cannot be in the past",
            field="start",
        )

    def test_target_not_eligible(self, make_package, partner):
        # The package's policy admits internal members only: for the partner it does not exist.
        package = make_package()
        refused(lambda: requests.submit_request(partner, package.pk), NotFound)

    def test_nobody_can_approve(self, make_package, requestor):
        package = make_package()
        stage = approval_stage(package)
        f.StageApproverFactory(stage=stage, kind=m.ApproverKind.SPONSOR, user=None)
        refused(lambda: requests.submit_request(requestor, package.pk), match="Nobody can approve", field="policy")


class TestDecide:
    def test_unknown_request(self, approver):
        refused(lambda: approvals.decide(approver, uuid.uuid4(), m.Decision.APPROVE), NotFound)

    def test_unknown_decision(self, approver):
        refused(lambda: approvals.decide(approver, uuid.uuid4(), "Maybe"), match="Approve or Deny")


class TestDirectAssignment:
    @pytest.fixture
    def package(self, make_package):
        package = make_package()
        f.PolicyFactory(package=package, allowed_target_scope=m.TargetScope.NO_ONE, display_name="Direct")
        return package

    def test_policy_that_is_not_admin_direct(self, package, admin, requestor):
        requestable = package.policies.get(allowed_target_scope=m.TargetScope.ALL_MEMBERS)
        refused(
            lambda: assignments.create_direct_assignments(
                admin, package.pk, policy_id=requestable.pk, target_ids=[requestor.pk]
            ),
            match="No one",
            field="policy",
        )

    def test_no_users(self, package, admin):
        direct = package.policies.get(display_name="Direct")
        refused(
            lambda: assignments.create_direct_assignments(admin, package.pk, policy_id=direct.pk, target_ids=[]),
            match="at least one user",
            field="users",
        )

    def test_unknown_or_disabled_users(self, package, admin):
        direct = package.policies.get(display_name="Direct")
        disabled = f.UserFactory(is_active=False)
        for ids in ([uuid.uuid4()], [disabled.pk], ["junk"]):
            refused(
                lambda ids=ids: assignments.create_direct_assignments(
                    admin, package.pk, policy_id=direct.pk, target_ids=ids
                ),
                field="users",
            )

    def test_missing_policy(self, package, admin, requestor):
        refused(
            lambda: assignments.create_direct_assignments(admin, package.pk, policy_id=None, target_ids=[requestor.pk]),
            field="policy",
        )


class TestPolicies:
    @pytest.fixture
    def package(self, make_package):
        return make_package()

    def spec(self, **changes: Any) -> policies.PolicySpec:
        values: dict[str, Any] = {"display_name": "New policy", "allowed_target_scope": m.TargetScope.ALL_MEMBERS}
        values.update(changes)
        return policies.PolicySpec(**values)

    @pytest.mark.parametrize(
        ("changes", "field", "message"),
        [
            ({"display_name": " "}, "display_name", "name is required"),
            ({"allowed_target_scope": "everyone"}, "allowed_target_scope", "who can request"),
            ({"allowed_target_scope": m.TargetScope.SPECIFIC_USERS}, "specific_users", "at least one user"),
            (
                {"allowed_target_scope": m.TargetScope.SPECIFIC_ORGANIZATIONS},
                "specific_organizations",
                "connected organization",
            ),
            ({"requires_approval": True}, "stages", "at least one approval stage"),
            (
                {"requires_approval": True, "stages": [policies.StageSpec() for _ in range(4)]},
                "stages",
                "at most 3",
            ),
            (
                {"requires_approval": True, "stages": [policies.StageSpec(approvers=[])]},
                "stages",
                "Stage 1: choose at least one approver",
            ),
            (
                {
                    "requires_approval": True,
                    "stages": [
                        policies.StageSpec(approvers=[policies.ApproverSpec(kind="user", user_id=uuid.uuid4())])
                    ],
                },
                "stages",
                "approver does not exist",
            ),
            (
                {
                    "requires_approval": True,
                    "stages": [policies.StageSpec(timeout_days=30, approvers=[policies.ApproverSpec(kind="manager")])],
                },
                "stages",
                "between 1 and 14 days",
            ),
            (
                {"allow_extension": True, "extension_requires_approval": True},
                "extension_requires_approval",
                "Require approval first",
            ),
            ({"expiration_type": "on_date"}, "expiration_date", "Choose the date"),
            (
                {"expiration_type": "on_date", "expiration_date": timezone.now() - timedelta(days=1)},
                "expiration_date",
                "in the future",
            ),
            ({"expiration_days": 0}, "expiration_days", "between 1 and"),
            ({"expiration_type": "after_hours", "expiration_hours": None}, "expiration_hours", "between 1 and"),
            ({"expiration_type": "never", "allow_extension": True}, "allow_extension", "never expires"),
            (
                {"specific_user_ids": ["nope"], "allowed_target_scope": "specificDirectoryUsers"},
                "specific_users",
                "do not exist",
            ),
        ],
    )
    def test_invalid_policy(self, package, pkg_manager, changes, field, message):
        refused(lambda: policies.save_policy(pkg_manager, package.pk, self.spec(**changes)), match=message, field=field)

    def test_valid_policy_is_saved_with_its_stages(self, package, pkg_manager, approver):
        spec = self.spec(
            requires_approval=True,
            stages=[
                policies.StageSpec(timeout_days=3, approvers=[policies.ApproverSpec(kind="user", user_id=approver.pk)]),
                policies.StageSpec(approvers=[policies.ApproverSpec(kind="manager")]),
            ],
        )
        policy = policies.save_policy(pkg_manager, package.pk, spec)
        assert [(s.order, s.timeout_days) for s in policy.stages.all()] == [(1, 3), (2, 14)]
        assert m.AuditEvent.objects.filter(action="policy.created", object_id=str(policy.pk)).exists()
        spec.stages = spec.stages[:1]
        policies.save_policy(pkg_manager, package.pk, spec, policy_id=policy.pk)
        policy.refresh_from_db()
        # A new generation of stages; the old one stays for requests submitted under it.
        assert policy.current_stages().count() == 1

    def test_admin_direct_policy_drops_request_settings(self, package, pkg_manager, approver):
        spec = self.spec(
            allowed_target_scope=m.TargetScope.NO_ONE,
            requires_approval=True,
            requestor_justification_required=True,
            stages=[policies.StageSpec(approvers=[policies.ApproverSpec(kind="user", user_id=approver.pk)])],
        )
        policy = policies.save_policy(pkg_manager, package.pk, spec)
        assert (policy.requires_approval, policy.requestor_justification_required, policy.stages.count()) == (
            False,
            False,
            0,
        )


class TestCatalogsAndPackages:
    def test_duplicate_catalog_name(self, catalog, admin):
        refused(lambda: catalogs.create_catalog(admin, display_name="engineering"), match="already exists")

    def test_package_in_unknown_catalog(self, admin):
        refused(lambda: packages.create_package(admin, uuid.uuid4(), display_name="X"), field="catalog")

    def test_package_without_a_name(self, catalog, admin):
        refused(lambda: packages.create_package(admin, catalog.pk, display_name=""), field="display_name")

    def test_unknown_fields_are_refused(self, make_package, admin):
        package = make_package()
        refused(lambda: packages.update_package(admin, package.pk, catalog_id=uuid.uuid4()), match="Cannot change")

    def test_resource_twice(self, catalog, catalog_owner):
        group = f.DirectoryGroupFactory(owners=[catalog_owner])  # rule 17
        connector = f.builtin_connector()
        catalogs.add_resource(
            catalog_owner, catalog.pk, connector_id=connector.pk, origin_id=str(group.pk), display_name="G"
        )
        refused(
            lambda: catalogs.add_resource(
                catalog_owner, catalog.pk, connector_id=connector.pk, origin_id=str(group.pk), display_name="G"
            ),
            match="already in the catalog",
        )

    def test_catalog_role_for_unknown_user(self, catalog, catalog_owner):
        refused(lambda: catalogs.add_catalog_role(catalog_owner, catalog.pk, uuid.uuid4(), "reader"), field="user")
        refused(lambda: catalogs.add_catalog_role(catalog_owner, catalog.pk, catalog_owner.pk, "boss"), field="role")
