"""The API's paths: Microsoft Graph v1.0's, under /v1.0/."""

from __future__ import annotations

from django.urls import path, re_path, register_converter

from governance.api import schema  # noqa: F401 - registers the bearer scheme with drf-spectacular
from governance.api.errors import not_found_json
from governance.api.views import approvals, assignments, catalogs, directory, packages, requests, separation


class GraphIdConverter:
    """Any one path segment that could be meant as an id: the view answers 400 for one that
    is not a GUID (Graph's answer), rather than the 404 of an unknown path."""

    regex = r"[^/()$']+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: object) -> str:
        return str(value)


register_converter(GraphIdConverter, "gid")

EM = "identityGovernance/entitlementManagement"
CURRENT_USER = r"filterByCurrentUser\(on='(?P<on>[^']*)'\)"

COUNT = {"count_segment": True}
COUNT_SEGMENTS = [
    path(f"{EM}/catalogs/$count", catalogs.CatalogList.as_view(), COUNT, name="api-catalogs-count"),
    path(
        f"{EM}/catalogs/<gid:pk>/resources/$count",
        catalogs.CatalogResourceList.as_view(),
        COUNT,
        name="api-catalog-resources-count",
    ),
    path(
        f"{EM}/catalogs/<gid:pk>/resourceRoles/$count",
        catalogs.CatalogResourceRoleList.as_view(),
        COUNT,
        name="api-catalog-resource-roles-count",
    ),
    path(f"{EM}/resources/$count", catalogs.ResourceList.as_view(), COUNT, name="api-resources-count"),
    path(f"{EM}/accessPackages/$count", packages.PackageList.as_view(), COUNT, name="api-packages-count"),
    path(
        f"{EM}/accessPackages/<gid:pk>/resourceRoleScopes/$count",
        packages.RoleScopeList.as_view(),
        COUNT,
        name="api-package-scopes-count",
    ),
    path(f"{EM}/assignmentPolicies/$count", packages.PolicyList.as_view(), COUNT, name="api-policies-count"),
    path(f"{EM}/assignmentRequests/$count", requests.RequestList.as_view(), COUNT, name="api-requests-count"),
    path(f"{EM}/assignments/$count", assignments.AssignmentList.as_view(), COUNT, name="api-assignments-count"),
    path(
        f"{EM}/connectedOrganizations/$count",
        directory.OrganizationList.as_view(),
        COUNT,
        name="api-organizations-count",
    ),
    path("users/$count", directory.UserList.as_view(), COUNT, name="api-users-count"),
    path("groups/$count", directory.GroupList.as_view(), COUNT, name="api-groups-count"),
]

urlpatterns = [
    path(f"{EM}/catalogs", catalogs.CatalogList.as_view(), name="api-catalogs"),
    path(f"{EM}/catalogs/<gid:pk>", catalogs.CatalogItem.as_view(), name="api-catalog"),
    path(f"{EM}/catalogs/<gid:pk>/resources", catalogs.CatalogResourceList.as_view(), name="api-catalog-resources"),
    path(
        f"{EM}/catalogs/<gid:pk>/resourceRoles",
        catalogs.CatalogResourceRoleList.as_view(),
        name="api-catalog-resource-roles",
    ),
    path(f"{EM}/resources", catalogs.ResourceList.as_view(), name="api-resources"),
    path(f"{EM}/resources/<gid:pk>", catalogs.ResourceItem.as_view(), name="api-resource"),
    path(f"{EM}/resourceRequests", catalogs.ResourceRequestList.as_view(), name="api-resource-requests"),
    path(f"{EM}/accessPackages", packages.PackageList.as_view(), name="api-packages"),
    path(f"{EM}/accessPackages/<gid:pk>", packages.PackageItem.as_view(), name="api-package"),
    path(f"{EM}/accessPackages/<gid:pk>/resourceRoleScopes", packages.RoleScopeList.as_view(), name="api-scopes"),
    path(
        f"{EM}/accessPackages/<gid:pk>/resourceRoleScopes/<gid:scope_id>",
        packages.RoleScopeItem.as_view(),
        name="api-scope",
    ),
    # Separation of duties (rule 13)
    path(
        f"{EM}/accessPackages/<uuid:pk>/incompatibleAccessPackages",
        separation.IncompatiblePackageList.as_view(),
        name="api-incompatible-packages",
    ),
    path(
        f"{EM}/accessPackages/<uuid:pk>/incompatibleAccessPackages/$ref",
        separation.IncompatiblePackageRef.as_view(),
        name="api-incompatible-package-ref",
    ),
    path(
        f"{EM}/accessPackages/<uuid:pk>/incompatibleAccessPackages/<uuid:other>/$ref",
        separation.IncompatiblePackageItemRef.as_view(),
        name="api-incompatible-package-item-ref",
    ),
    path(
        f"{EM}/accessPackages/<uuid:pk>/accessPackagesIncompatibleWith",
        separation.PackagesIncompatibleWith.as_view(),
        name="api-packages-incompatible-with",
    ),
    path(
        f"{EM}/accessPackages/<uuid:pk>/incompatibleGroups",
        separation.IncompatibleGroupList.as_view(),
        name="api-incompatible-groups",
    ),
    path(
        f"{EM}/accessPackages/<uuid:pk>/incompatibleGroups/$ref",
        separation.IncompatibleGroupRef.as_view(),
        name="api-incompatible-group-ref",
    ),
    path(
        f"{EM}/accessPackages/<uuid:pk>/incompatibleGroups/<uuid:group>/$ref",
        separation.IncompatibleGroupItemRef.as_view(),
        name="api-incompatible-group-item-ref",
    ),
    path(f"{EM}/assignmentPolicies", packages.PolicyList.as_view(), name="api-policies"),
    path(f"{EM}/assignmentPolicies/<gid:pk>", packages.PolicyItem.as_view(), name="api-policy"),
    path(f"{EM}/assignmentRequests", requests.RequestList.as_view(), name="api-requests"),
    re_path(
        rf"^{EM}/assignmentRequests/{CURRENT_USER}$",
        requests.RequestsOfCurrentUser.as_view(),
        name="api-requests-mine",
    ),
    path(f"{EM}/assignmentRequests/<gid:pk>", requests.RequestItem.as_view(), name="api-request"),
    path(f"{EM}/assignmentRequests/<gid:pk>/cancel", requests.RequestCancel.as_view(), name="api-request-cancel"),
    path(
        f"{EM}/assignmentRequests/<gid:pk>/reprocess",
        requests.RequestReprocess.as_view(),
        name="api-request-reprocess",
    ),
    path(f"{EM}/assignmentRequests/<uuid:pk>/resume", requests.RequestResume.as_view(), name="api-request-resume"),
    path(f"{EM}/assignments", assignments.AssignmentList.as_view(), name="api-assignments"),
    re_path(
        rf"^{EM}/assignments/{CURRENT_USER}$",
        assignments.AssignmentsOfCurrentUser.as_view(),
        name="api-assignments-mine",
    ),
    path(f"{EM}/assignments/<gid:pk>", assignments.AssignmentItem.as_view(), name="api-assignment"),
    path(
        f"{EM}/assignments/<gid:pk>/reprocess",
        assignments.AssignmentReprocess.as_view(),
        name="api-assignment-reprocess",
    ),
    re_path(
        rf"^{EM}/accessPackageAssignmentApprovals/{CURRENT_USER}$",
        approvals.ApprovalsOfCurrentUser.as_view(),
        name="api-approvals-mine",
    ),
    path(f"{EM}/accessPackageAssignmentApprovals/<gid:pk>", approvals.ApprovalItem.as_view(), name="api-approval"),
    path(
        f"{EM}/accessPackageAssignmentApprovals/<gid:pk>/stages",
        approvals.ApprovalStageList.as_view(),
        name="api-approval-stages",
    ),
    path(
        f"{EM}/accessPackageAssignmentApprovals/<gid:pk>/stages/<gid:stage_id>",
        approvals.ApprovalStageItem.as_view(),
        name="api-approval-stage",
    ),
    path(f"{EM}/connectedOrganizations", directory.OrganizationList.as_view(), name="api-organizations"),
    path(f"{EM}/connectedOrganizations/<gid:pk>", directory.OrganizationItem.as_view(), name="api-organization"),
    path("users", directory.UserList.as_view(), name="api-users"),
    path("users/<gid:pk>", directory.UserItem.as_view(), name="api-user"),
    path("me", directory.Me.as_view(), name="api-me"),
    path("groups", directory.GroupList.as_view(), name="api-groups"),
    path("groups/<gid:pk>", directory.GroupItem.as_view(), name="api-group"),
    *COUNT_SEGMENTS,
    # Anything else under /v1.0/ answers a Graph-style 404, not the portal's HTML page.
    re_path(r"^(?P<path>[\s\S]*)$", not_found_json),
]
