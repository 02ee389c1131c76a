"""The API's paths: Microsoft Graph v1.0's, under /v1.0/."""

from __future__ import annotations

from django.urls import path, re_path

from governance.api import schema  # noqa: F401 - registers the bearer scheme with drf-spectacular
from governance.api.errors import not_found_json
from governance.api.views import approvals, assignments, catalogs, directory, packages, requests, reviews

EM = "identityGovernance/entitlementManagement"
CURRENT_USER = r"filterByCurrentUser\(on='(?P<on>[^']*)'\)"
AR = "identityGovernance/accessReviews/definitions/<uuid:definition_id>/instances/<uuid:instance_id>"
UUID_RE = r"[0-9a-fA-F-]{36}"

urlpatterns = [
    path(f"{EM}/catalogs", catalogs.CatalogList.as_view(), name="api-catalogs"),
    path(f"{EM}/catalogs/<uuid:pk>", catalogs.CatalogItem.as_view(), name="api-catalog"),
    path(f"{EM}/catalogs/<uuid:pk>/resources", catalogs.CatalogResourceList.as_view(), name="api-catalog-resources"),
    path(
        f"{EM}/catalogs/<uuid:pk>/resourceRoles",
        catalogs.CatalogResourceRoleList.as_view(),
        name="api-catalog-resource-roles",
    ),
    path(f"{EM}/resources", catalogs.ResourceList.as_view(), name="api-resources"),
    path(f"{EM}/resources/<uuid:pk>", catalogs.ResourceItem.as_view(), name="api-resource"),
    path(f"{EM}/resourceRequests", catalogs.ResourceRequestList.as_view(), name="api-resource-requests"),
    path(f"{EM}/accessPackages", packages.PackageList.as_view(), name="api-packages"),
    path(f"{EM}/accessPackages/<uuid:pk>", packages.PackageItem.as_view(), name="api-package"),
    path(f"{EM}/accessPackages/<uuid:pk>/resourceRoleScopes", packages.RoleScopeList.as_view(), name="api-scopes"),
    path(
        f"{EM}/accessPackages/<uuid:pk>/resourceRoleScopes/<uuid:scope_id>",
        packages.RoleScopeItem.as_view(),
        name="api-scope",
    ),
    path(f"{EM}/assignmentPolicies", packages.PolicyList.as_view(), name="api-policies"),
    path(f"{EM}/assignmentPolicies/<uuid:pk>", packages.PolicyItem.as_view(), name="api-policy"),
    path(f"{EM}/assignmentRequests", requests.RequestList.as_view(), name="api-requests"),
    re_path(
        rf"^{EM}/assignmentRequests/{CURRENT_USER}$",
        requests.RequestsOfCurrentUser.as_view(),
        name="api-requests-mine",
    ),
    path(f"{EM}/assignmentRequests/<uuid:pk>", requests.RequestItem.as_view(), name="api-request"),
    path(f"{EM}/assignmentRequests/<uuid:pk>/cancel", requests.RequestCancel.as_view(), name="api-request-cancel"),
    path(
        f"{EM}/assignmentRequests/<uuid:pk>/reprocess",
        requests.RequestReprocess.as_view(),
        name="api-request-reprocess",
    ),
    path(f"{EM}/assignments", assignments.AssignmentList.as_view(), name="api-assignments"),
    re_path(
        rf"^{EM}/assignments/{CURRENT_USER}$",
        assignments.AssignmentsOfCurrentUser.as_view(),
        name="api-assignments-mine",
    ),
    path(f"{EM}/assignments/<uuid:pk>", assignments.AssignmentItem.as_view(), name="api-assignment"),
    path(
        f"{EM}/assignments/<uuid:pk>/reprocess",
        assignments.AssignmentReprocess.as_view(),
        name="api-assignment-reprocess",
    ),
    re_path(
        rf"^{EM}/accessPackageAssignmentApprovals/{CURRENT_USER}$",
        approvals.ApprovalsOfCurrentUser.as_view(),
        name="api-approvals-mine",
    ),
    path(f"{EM}/accessPackageAssignmentApprovals/<uuid:pk>", approvals.ApprovalItem.as_view(), name="api-approval"),
    path(
        f"{EM}/accessPackageAssignmentApprovals/<uuid:pk>/stages",
        approvals.ApprovalStageList.as_view(),
        name="api-approval-stages",
    ),
    path(
        f"{EM}/accessPackageAssignmentApprovals/<uuid:pk>/stages/<uuid:stage_id>",
        approvals.ApprovalStageItem.as_view(),
        name="api-approval-stage",
    ),
    path(f"{AR}/decisions", reviews.DecisionList.as_view(), name="api-review-decisions"),
    re_path(
        rf"^identityGovernance/accessReviews/definitions/(?P<definition_id>{UUID_RE})/instances/"
        rf"(?P<instance_id>{UUID_RE})/decisions/{CURRENT_USER}$",
        reviews.DecisionsOfCurrentUser.as_view(),
        name="api-review-decisions-mine",
    ),
    path(f"{AR}/decisions/<uuid:pk>", reviews.DecisionItem.as_view(), name="api-review-decision"),
    path(f"{AR}/stop", reviews.InstanceStop.as_view(), name="api-review-stop"),
    path(f"{AR}/applyDecisions", reviews.InstanceApplyDecisions.as_view(), name="api-review-apply"),
    path(f"{EM}/connectedOrganizations", directory.OrganizationList.as_view(), name="api-organizations"),
    path(f"{EM}/connectedOrganizations/<uuid:pk>", directory.OrganizationItem.as_view(), name="api-organization"),
    path("users", directory.UserList.as_view(), name="api-users"),
    path("users/<uuid:pk>", directory.UserItem.as_view(), name="api-user"),
    path("me", directory.Me.as_view(), name="api-me"),
    path("groups", directory.GroupList.as_view(), name="api-groups"),
    path("groups/<uuid:pk>", directory.GroupItem.as_view(), name="api-group"),
    # Anything else under /v1.0/ answers a Graph-style 404, not the portal's HTML page.
    re_path(r"^(?P<path>[\s\S]*)$", not_found_json),
]
