"""Catalog resources, package role scopes (rule 8), policies and connected organizations."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from governance import models as m
from governance.services import packages as package_services
from governance.services.assignments import create_direct_assignments
from tests import factories as f
from tests.api.conftest import Api, ApiMaker
from tests.conftest import PackageMaker, members_of, snapshot

pytestmark = pytest.mark.django_db


def _add_group(api: Api, catalog: m.Catalog, group: m.DirectoryGroup) -> dict:
    return api.post(
        "resourceRequests",
        {
            "requestType": "adminAdd",
            "resource": {"originId": str(group.pk), "originSystem": "AadGroup"},
            "catalog": {"id": str(catalog.pk)},
        },
    ).body


def test_resource_requests_add_and_remove(admin_api: Api, catalog: m.Catalog) -> None:
    group = f.DirectoryGroupFactory(display_name="Developers", description="Devs")
    added = _add_group(admin_api, catalog, group)
    assert (added["requestType"], added["state"]) == ("adminAdd", "delivered")
    assert added["resource"]["displayName"] == "Developers"
    resources = admin_api.get(f"catalogs/{catalog.pk}/resources", **{"$expand": "roles"}).body["value"]
    assert [(r["originId"], [x["displayName"] for x in r["roles"]]) for r in resources] == [(str(group.pk), ["Member"])]
    again = admin_api.post(
        "resourceRequests",
        {"requestType": "adminAdd", "resource": {"originId": str(group.pk)}, "catalog": {"id": str(catalog.pk)}},
    )
    assert again.status == 400
    assert again.error["message"] == "This resource is already in the catalog."

    removed = admin_api.post(
        "resourceRequests",
        {"requestType": "adminRemove", "resource": {"id": resources[0]["id"]}, "catalog": {"id": str(catalog.pk)}},
    )
    assert removed.status == 201, removed.body
    assert not m.Resource.objects.exists()


@pytest.mark.parametrize(
    ("resource", "message"),
    [
        ({"originId": "x", "originSystem": "SharePointOnline"}, "Only groups of the built-in directory"),
        ({"originId": "6d0f1a0e-1111-4c7e-9a55-0123456789ab"}, "No group of the built-in directory"),
        ({"originId": "x", "attributes": []}, "Property 'attributes' in resource is not supported."),
    ],
)
def test_resource_requests_refuse_what_we_cannot_do(
    admin_api: Api, catalog: m.Catalog, resource: dict, message: str
) -> None:
    before = snapshot()
    answer = admin_api.post(
        "resourceRequests", {"requestType": "adminAdd", "resource": resource, "catalog": {"id": str(catalog.pk)}}
    )
    assert answer.status == 400
    assert message in answer.error["message"]
    assert snapshot() == before


def test_a_resource_a_package_uses_cannot_be_removed(admin_api: Api, make_package: PackageMaker) -> None:
    package = make_package()
    resource = package.resource_roles.get().resource
    answer = admin_api.post(
        "resourceRequests",
        {
            "requestType": "adminRemove",
            "resource": {"id": str(resource.pk)},
            "catalog": {"id": str(resource.catalog_id)},
        },
    )
    assert answer.status == 409
    assert "is used by access packages" in answer.error["message"]


def test_role_scopes_propagate_to_active_assignments(
    admin_api: Api, admin: m.User, make_package: PackageMaker, catalog: m.Catalog, deliver
) -> None:
    package = make_package(roles=0, allowed_target_scope=m.TargetScope.NO_ONE)
    person = f.UserFactory()
    create_direct_assignments(admin, package.pk, policy_id=package.policies.get().pk, target_ids=[person.pk])
    deliver()
    group = f.DirectoryGroupFactory(display_name="Wiki editors")
    _add_group(admin_api, catalog, group)
    role = m.ResourceRole.objects.get(resource__origin_id=str(group.pk))

    made = admin_api.post(
        f"accessPackages/{package.pk}/resourceRoleScopes",
        {
            "role": {"originId": "member", "resource": {"id": str(role.resource_id)}},
            "scope": {"originId": str(group.pk)},
        },
    )
    assert made.status == 201, made.body
    assert made.body["role"]["id"] == str(role.pk)
    operation = m.RoleOperation.objects.get(package=package, kind=m.RoleOperationKind.ADD)
    package_services.propagate_role_operation(operation.pk)  # what the background task does
    deliver()
    assert person.username in members_of(role)

    listed = admin_api.get(f"accessPackages/{package.pk}/resourceRoleScopes").body["value"]
    assert [s["id"] for s in listed] == [made.body["id"]]
    assert admin_api.delete(f"accessPackages/{package.pk}/resourceRoleScopes/{made.body['id']}").status == 204
    operation = m.RoleOperation.objects.get(package=package, kind=m.RoleOperationKind.REMOVE)
    package_services.propagate_role_operation(operation.pk)
    deliver()
    assert person.username not in members_of(role)
    assert admin_api.get(f"accessPackages/{package.pk}/resourceRoleScopes/{made.body['id']}").status == 404


def test_a_role_of_another_catalog_is_refused(admin_api: Api, make_package: PackageMaker, other_catalog) -> None:
    package = make_package(roles=0)
    foreign_role = f.ResourceRoleFactory(resource__catalog=other_catalog)
    answer = admin_api.post(f"accessPackages/{package.pk}/resourceRoleScopes", {"role": {"id": str(foreign_role.pk)}})
    assert answer.status == 400
    assert answer.error["message"] == "Choose a role of a resource in this package's catalog."


POLICY = {
    "displayName": "Contractors",
    "description": "Two stages",
    "allowedTargetScope": "specificDirectoryUsers",
    "expiration": {"type": "afterDuration", "duration": "PT8H"},
    "requestorSettings": {
        "enableTargetsToSelfAddAccess": True,
        "enableTargetsToSelfUpdateAccess": True,
        "allowCustomAssignmentSchedule": True,
    },
}


def test_policy_create_put_patch_delete(admin_api: Api, make_package: PackageMaker, approver: m.User) -> None:
    package = make_package()
    group = f.DirectoryGroupFactory()
    body = {
        **POLICY,
        "accessPackage": {"id": str(package.pk)},
        "specificAllowedTargets": [{"@odata.type": "#microsoft.graph.groupMembers", "groupId": str(group.pk)}],
        "requestApprovalSettings": {
            "isApprovalRequiredForAdd": True,
            "isApprovalRequiredForUpdate": True,
            "isRequestorJustificationRequired": True,
            "stages": [
                {
                    "durationBeforeAutomaticDenial": "P3D",
                    "isApproverJustificationRequired": True,
                    "isEscalationEnabled": False,
                    "primaryApprovers": [{"@odata.type": "#microsoft.graph.requestorManager", "managerLevel": 1}],
                    "fallbackPrimaryApprovers": [
                        {"@odata.type": "#microsoft.graph.singleUser", "userId": str(approver.pk)}
                    ],
                },
                {
                    "durationBeforeAutomaticDenial": "P7D",
                    "isApproverJustificationRequired": True,
                    "primaryApprovers": [{"@odata.type": "#microsoft.graph.targetUserSponsors"}],
                },
            ],
        },
    }
    made = admin_api.post("assignmentPolicies", body)
    assert made.status == 201, made.body
    policy = m.AssignmentPolicy.objects.get(pk=made.body["id"])
    assert (policy.expiration_type, policy.expiration_hours) == (m.ExpirationType.AFTER_HOURS, 8)
    assert (policy.allow_extension, policy.extension_requires_approval, policy.approver_justification_required) == (
        True,
        True,
        True,
    )
    assert list(policy.specific_groups.all()) == [group]
    kinds = [(a.kind, a.is_fallback) for s in policy.stages.order_by("order") for a in s.approvers.all()]
    assert sorted(kinds) == [("manager", False), ("sponsor", False), ("user", True)]
    shown = made.body
    assert shown["expiration"] == {"type": "afterDuration", "endDateTime": None, "duration": "PT8H"}
    assert shown["requestApprovalSettings"]["stages"][1]["durationBeforeAutomaticDenial"] == "P7D"
    assert shown["specificAllowedTargets"][0]["groupId"] == str(group.pk)

    renamed = admin_api.patch(f"assignmentPolicies/{policy.pk}", {"displayName": "Renamed"})
    assert renamed.status == 204, renamed.body
    patched = admin_api.get(f"assignmentPolicies/{policy.pk}")
    assert patched.body["displayName"] == "Renamed"
    assert len(patched.body["requestApprovalSettings"]["stages"]) == 2, "PATCH keeps what it does not name"

    replaced = admin_api.put(
        f"assignmentPolicies/{policy.pk}",
        {
            "displayName": "Everyone",
            "allowedTargetScope": "allMemberUsers",
            "expiration": {"type": "noExpiration"},
            "requestorSettings": {"enableTargetsToSelfAddAccess": False},
        },
    )
    assert replaced.status == 200, replaced.body
    assert replaced.body["requestApprovalSettings"]["stages"] == []
    assert replaced.body["requestorSettings"]["enableTargetsToSelfAddAccess"] is False
    assert m.AssignmentPolicy.objects.get(pk=policy.pk).enabled is False

    assert admin_api.delete(f"assignmentPolicies/{policy.pk}").status == 204
    assert not m.AssignmentPolicy.objects.filter(pk=policy.pk).exists()


def test_admin_direct_policy_is_not_specified(admin_api: Api, make_package: PackageMaker) -> None:
    package = make_package(allowed_target_scope=m.TargetScope.NO_ONE)
    [policy] = admin_api.get("assignmentPolicies", **{"$filter": f"accessPackage/id eq '{package.pk}'"}).body["value"]
    assert policy["allowedTargetScope"] == "notSpecified"
    assert policy["requestorSettings"]["enableTargetsToSelfAddAccess"] is False


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"requestApprovalSettings": {"stages": [{"isEscalationEnabled": True}]}}, "Escalation is not supported"),
        ({"requestorSettings": {"enableOnBehalfRequestorsToAddAccess": True}}, "is not supported"),
        ({"expiration": {"type": "afterDuration", "duration": "P1M"}}, "ISO-8601 duration in days or hours"),
        ({"allowedTargetScope": "allDirectoryServicePrincipals"}, "'allowedTargetScope' is one of"),
        (
            {
                "questions": [
                    {
                        "@odata.type": "#microsoft.graph.accessPackageMultipleChoiceQuestion",
                        "text": "Which?",
                        "isMultipleSelectionAllowed": True,
                        "choices": [{"actualValue": "a"}],
                    }
                ]
            },
            "'isMultipleSelectionAllowed' is not supported",
        ),
        ({"reviewSettings": {"isEnabled": True}}, "'reviewSettings' is not supported: access reviews"),
        (
            {
                "requestApprovalSettings": {
                    "isApprovalRequiredForAdd": True,
                    "stages": [
                        {"isApproverJustificationRequired": True, "primaryApprovers": []},
                        {"isApproverJustificationRequired": False, "primaryApprovers": []},
                    ],
                }
            },
            "give every stage the same value",
        ),
    ],
)
def test_policy_features_we_do_not_have_are_refused(
    admin_api: Api, make_package: PackageMaker, change: dict, message: str
) -> None:
    package = make_package()
    before = snapshot()
    answer = admin_api.post("assignmentPolicies", {**POLICY, "accessPackage": {"id": str(package.pk)}, **change})
    assert answer.status == 400, answer.body
    assert message in answer.error["message"]
    assert snapshot() == before


def test_connected_organizations_crud(admin_api: Api, api_as: ApiMaker, catalog: m.Catalog) -> None:
    made = admin_api.post(
        "connectedOrganizations",
        {
            "displayName": "Fabrikam",
            "description": "Supplier",
            "identitySources": [
                {"@odata.type": "#microsoft.graph.domainIdentitySource", "domainName": "Fabrikam.example"}
            ],
        },
    )
    assert made.status == 201, made.body
    assert made.body["identitySources"][0]["domainName"] == "fabrikam.example"
    assert made.body["state"] == "configured"
    org_id = made.body["id"]
    changed = admin_api.patch(f"connectedOrganizations/{org_id}", {"state": "proposed", "displayName": "Fabrikam Ltd"})
    assert changed.status == 202, changed.body  # as connectedorganization-update.md documents
    patched = admin_api.get(f"connectedOrganizations/{org_id}")
    assert (patched.body["state"], patched.body["displayName"]) == ("proposed", "Fabrikam Ltd")

    owner = api_as(role="catalog_owner", catalog=catalog)
    assert owner.get(f"connectedOrganizations/{org_id}").status == 404
    assert owner.post("connectedOrganizations", {"displayName": "X", "identitySources": []}).status == 403
    clash = admin_api.post(
        "connectedOrganizations", {"displayName": "Other", "identitySources": [{"domainName": "fabrikam.example"}]}
    )
    assert clash.status == 400
    assert "already belongs to Fabrikam Ltd" in clash.error["message"]

    assert admin_api.delete(f"connectedOrganizations/{org_id}").status == 204
    assert not m.ConnectedOrganization.objects.exists()


def test_a_connected_organization_cannot_claim_the_tenants_domains(admin_api: Api, contoso, settings) -> None:
    settings.OIDC_MEMBER_DOMAINS = ["portcullis.example"]
    before = snapshot()
    made = admin_api.post(
        "connectedOrganizations",
        {"displayName": "Impostor", "identitySources": [{"domainName": "sso.portcullis.example"}]},
    )
    assert made.status == 400
    assert made.error["code"]
    assert "sso.portcullis.example is one of this organization's own domains" in made.error["message"]
    patched = admin_api.patch(
        f"connectedOrganizations/{contoso.pk}", {"identitySources": [{"domainName": "portcullis.example"}]}
    )
    assert patched.status == 400
    assert snapshot() == before
    assert list(contoso.domains.values_list("domain", flat=True)) == ["contoso.example"]


def test_admin_update_and_request_reprocess(admin_api: Api, admin: m.User, make_package: PackageMaker, deliver) -> None:
    package = make_package(allowed_target_scope=m.TargetScope.NO_ONE)
    person = f.UserFactory()
    [request] = create_direct_assignments(
        admin, package.pk, policy_id=package.policies.get().pk, target_ids=[person.pk]
    )
    deliver()
    request.refresh_from_db()
    end = (timezone.now() + timedelta(days=10)).replace(microsecond=0)
    updated = admin_api.post(
        "assignmentRequests",
        {
            "requestType": "adminUpdate",
            "assignment": {"id": str(request.assignment_id)},
            "schedule": {
                "expiration": {"endDateTime": end.isoformat().replace("+00:00", "Z"), "type": "afterDateTime"}
            },
        },
    )
    assert updated.status == 201, updated.body
    assert m.Assignment.objects.get(pk=request.assignment_id).end_at == end

    delivered = admin_api.post(f"assignmentRequests/{request.pk}/reprocess")
    assert delivered.status == 409
    assert "Only requests that are Delivery failed or Partially delivered" in delivered.error["message"]
    m.AssignmentRequest.objects.filter(pk=request.pk).update(state=m.RequestState.DELIVERY_FAILED)
    m.RoleGrant.objects.filter(assignment_id=request.assignment_id).update(state=m.GrantState.FAILED)
    assert admin_api.post(f"assignmentRequests/{request.pk}/reprocess").status == 202
    assert m.AssignmentRequest.objects.get(pk=request.pk).state == m.RequestState.DELIVERING
