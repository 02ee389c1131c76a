"""Contract: the unmodified msgraph-sdk drives the whole seed procedure against our server.

A real Celery worker delivers the assignment, exactly as in production.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pytest
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.identity_governance.entitlement_management.assignments.assignments_request_builder import (
    AssignmentsRequestBuilder,
)
from msgraph.generated.identity_governance.entitlement_management.catalogs.item.resource_roles.resource_roles_request_builder import (  # noqa: E501
    ResourceRolesRequestBuilder,
)
from msgraph.generated.models.access_package import AccessPackage
from msgraph.generated.models.access_package_approval_stage import AccessPackageApprovalStage
from msgraph.generated.models.access_package_assignment import AccessPackageAssignment
from msgraph.generated.models.access_package_assignment_approval_settings import (
    AccessPackageAssignmentApprovalSettings,
)
from msgraph.generated.models.access_package_assignment_policy import AccessPackageAssignmentPolicy
from msgraph.generated.models.access_package_assignment_request import AccessPackageAssignmentRequest
from msgraph.generated.models.access_package_assignment_requestor_settings import (
    AccessPackageAssignmentRequestorSettings,
)
from msgraph.generated.models.access_package_catalog import AccessPackageCatalog
from msgraph.generated.models.access_package_request_state import AccessPackageRequestState
from msgraph.generated.models.access_package_request_type import AccessPackageRequestType
from msgraph.generated.models.access_package_resource import AccessPackageResource
from msgraph.generated.models.access_package_resource_request import AccessPackageResourceRequest
from msgraph.generated.models.access_package_resource_role import AccessPackageResourceRole
from msgraph.generated.models.access_package_resource_role_scope import AccessPackageResourceRoleScope
from msgraph.generated.models.access_package_resource_scope import AccessPackageResourceScope
from msgraph.generated.models.allowed_target_scope import AllowedTargetScope
from msgraph.generated.models.expiration_pattern import ExpirationPattern
from msgraph.generated.models.expiration_pattern_type import ExpirationPatternType
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.single_user import SingleUser

from governance import models as m
from governance.services.api_clients import create_api_client
from tests import factories as f
from tests.api.graph import graph_call
from tests.workers import Worker, wait_for

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:msgraph.*")


def _em(client: Any) -> Any:
    return client.identity_governance.entitlement_management


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_seed_procedure_through_msgraph_sdk(live_server: Any, worker: Worker) -> None:
    url = live_server.url
    admin_token = create_api_client(None, "graph-script", role="global_admin").token
    approver = f.UserFactory(username="approver")
    requestor = f.UserFactory(username="requestor", manager=approver)
    member = f.UserFactory(username="newhire")
    group = f.DirectoryGroupFactory(display_name="Developers")

    def call(fn: Any, token: str = admin_token) -> Any:
        return graph_call(url, token, fn)

    # A catalog, and a built-in group added to it as a resource (resourceRequests adminAdd).
    catalog = call(
        lambda c: _em(c).catalogs.post(
            AccessPackageCatalog(display_name="Engineering", description="Dev tools", is_externally_visible=False)
        )
    )
    assert catalog.display_name == "Engineering"
    assert catalog.is_externally_visible is False
    added = call(
        lambda c: _em(c).resource_requests.post(
            AccessPackageResourceRequest(
                request_type=AccessPackageRequestType.AdminAdd,
                resource=AccessPackageResource(origin_id=str(group.pk), origin_system="AadGroup"),
                catalog=AccessPackageCatalog(id=catalog.id),
            )
        )
    )
    assert added.state.value == "delivered"
    assert m.Resource.objects.filter(catalog_id=catalog.id, origin_id=str(group.pk)).exists()

    # The group's Member role, found the way Graph scripts find it.
    roles_query = ResourceRolesRequestBuilder.ResourceRolesRequestBuilderGetQueryParameters(
        filter=f"(originSystem eq 'AadGroup' and resource/originId eq '{group.pk}')", expand=["resource"]
    )
    roles = call(
        lambda c: (
            _em(c)
            .catalogs.by_access_package_catalog_id(catalog.id)
            .resource_roles.get(RequestConfiguration(query_parameters=roles_query))
        )
    )
    assert [r.display_name for r in roles.value] == ["Member"]
    role = roles.value[0]

    # A package with that role (a resourceRoleScope).
    package = call(
        lambda c: _em(c).access_packages.post(
            AccessPackage(
                display_name="Developer tools", description="IDE", catalog=AccessPackageCatalog(id=catalog.id)
            )
        )
    )
    scope = call(
        lambda c: (
            _em(c)
            .access_packages.by_access_package_id(package.id)
            .resource_role_scopes.post(
                AccessPackageResourceRoleScope(
                    role=AccessPackageResourceRole(
                        id=role.id,
                        origin_id=role.origin_id,
                        origin_system="AadGroup",
                        resource=AccessPackageResource(id=role.resource.id),
                    ),
                    scope=AccessPackageResourceScope(origin_id=str(group.pk), origin_system="AadGroup"),
                )
            )
        )
    )
    assert scope.role.id == role.id
    assert scope.scope.is_root_scope is True

    # A requestable policy with one approval stage, and the admin-direct one.
    approval_policy = call(
        lambda c: _em(c).assignment_policies.post(
            AccessPackageAssignmentPolicy(
                display_name="Employees with approval",
                description="Manager approves",
                allowed_target_scope=AllowedTargetScope.AllMemberUsers,
                expiration=ExpirationPattern(type=ExpirationPatternType.AfterDuration, duration=timedelta(days=30)),
                requestor_settings=AccessPackageAssignmentRequestorSettings(
                    enable_targets_to_self_add_access=True,
                    enable_targets_to_self_update_access=False,
                    enable_targets_to_self_remove_access=True,
                ),
                request_approval_settings=AccessPackageAssignmentApprovalSettings(
                    is_approval_required_for_add=True,
                    is_approval_required_for_update=False,
                    stages=[
                        AccessPackageApprovalStage(
                            duration_before_automatic_denial=timedelta(days=7),
                            is_approver_justification_required=False,
                            is_escalation_enabled=False,
                            primary_approvers=[SingleUser(user_id=str(approver.pk))],
                        )
                    ],
                ),
                access_package=AccessPackage(id=package.id),
            )
        )
    )
    assert approval_policy.allowed_target_scope == AllowedTargetScope.AllMemberUsers
    stages = approval_policy.request_approval_settings.stages
    assert len(stages) == 1
    assert stages[0].primary_approvers[0].user_id == str(approver.pk)
    assert stages[0].duration_before_automatic_denial == timedelta(days=7)
    assert approval_policy.expiration.duration == timedelta(days=30)
    direct_policy = call(
        lambda c: _em(c).assignment_policies.post(
            AccessPackageAssignmentPolicy(
                display_name="Admin direct assignment",
                allowed_target_scope=AllowedTargetScope.NotSpecified,
                expiration=ExpirationPattern(type=ExpirationPatternType.NoExpiration),
                access_package=AccessPackage(id=package.id),
            )
        )
    )

    # adminAdd: the real worker delivers it.
    made = call(
        lambda c: _em(c).assignment_requests.post(
            AccessPackageAssignmentRequest(
                request_type=AccessPackageRequestType.AdminAdd,
                justification="Joins the team",
                assignment=AccessPackageAssignment(
                    additional_data={
                        "targetId": str(member.pk),
                        "assignmentPolicyId": direct_policy.id,
                        "accessPackageId": package.id,
                    }
                ),
            )
        )
    )
    assert made.request_type == AccessPackageRequestType.AdminAdd

    def delivered() -> bool:
        state = call(lambda c: _em(c).assignment_requests.by_access_package_assignment_request_id(made.id).get()).state
        return state == AccessPackageRequestState.Delivered

    wait_for(delivered, timeout=60, message=f"the adminAdd request to be delivered\n{worker.log()}")
    assert m.GroupMembership.objects.filter(group=group, user=member).exists()

    # Assignments of the package, filtered the Graph way.
    query = AssignmentsRequestBuilder.AssignmentsRequestBuilderGetQueryParameters(
        filter=f"accessPackage/id eq '{package.id}' and state eq 'delivered'", expand=["target"], count=True
    )
    assignments = call(lambda c: _em(c).assignments.get(RequestConfiguration(query_parameters=query)))
    assert [a.target.object_id for a in assignments.value] == [str(member.pk)]
    assert assignments.odata_count == 1
    assignment_id = assignments.value[0].id

    # Reprocess the assignment (202, audited with the client's name).
    call(lambda c: _em(c).assignments.by_access_package_assignment_id(assignment_id).reprocess.post())
    assert m.AuditEvent.objects.filter(
        action="assignment.reprocessed", object_id=assignment_id, actor_label="api:graph-script"
    ).exists()

    # A request pending approval (the requestor's personal token), canceled by the script.
    personal = create_api_client(None, "requestor-laptop", username="requestor").token
    pending = call(
        lambda c: _em(c).assignment_requests.post(
            AccessPackageAssignmentRequest(
                request_type=AccessPackageRequestType.UserAdd,
                justification="Need the IDE",
                assignment=AccessPackageAssignment(
                    additional_data={"accessPackageId": package.id, "assignmentPolicyId": approval_policy.id}
                ),
            )
        ),
        personal,
    )
    assert pending.state == AccessPackageRequestState.PendingApproval
    call(lambda c: _em(c).assignment_requests.by_access_package_assignment_request_id(pending.id).cancel.post())
    canceled = call(lambda c: _em(c).assignment_requests.by_access_package_assignment_request_id(pending.id).get())
    assert canceled.state == AccessPackageRequestState.Canceled

    # The package still has an active assignment: deleting it is refused with a Graph error.
    with pytest.raises(ODataError) as refused:
        call(lambda c: _em(c).access_packages.by_access_package_id(package.id).delete())
    assert refused.value.response_status_code == 409
    assert refused.value.error.code == "stillInUse"
    assert "active assignment" in refused.value.error.message
    assert m.AccessPackage.objects.filter(pk=package.id).exists()
    assert requestor.pk  # the requestor's token acted as them
    assert m.AssignmentRequest.objects.get(pk=pending.id).requestor_id == requestor.pk
