"""accessPackages (with resourceRoleScopes) and assignmentPolicies."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import F, Prefetch, QuerySet
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from governance.api.base import (
    COLLECTION_PARAMETERS,
    ERRORS,
    ITEM_PARAMETERS,
    ResourceView,
    body_of,
    bool_of,
    id_of,
    name_and_description,
    name_field,
    no_content,
    object_of,
    page_of,
    refuse_unknown,
    text_field,
    text_of,
)
from governance.api.errors import ODataError
from governance.api.graph_policy import policy_spec
from governance.api.odata import QueryOptions, enum, flag, ident, moment, text
from governance.api.serializers import PackageOut, PolicyOut, ResourceRoleScopeOut, stored_role_origin_id
from governance.errors import NotFound, ValidationFailed
from governance.ids import is_uuid
from governance.models import (
    AccessPackage,
    ApprovalStage,
    AssignmentPolicy,
    PackageResourceRole,
    PolicyExtension,
    ResourceRole,
    TargetScope,
)
from governance.permissions import Action, get_for, restrict
from governance.services import packages as package_services
from governance.services import policies as policy_services

PACKAGE_TAG = ["accessPackages"]
POLICY_TAG = ["assignmentPolicies"]

REF = inline_serializer("Reference", fields={"id": serializers.UUIDField()})
PACKAGE_INPUT = inline_serializer(
    "AccessPackageInput",
    fields={
        "displayName": name_field(),
        "description": text_field(required=False),
        "isHidden": serializers.BooleanField(required=False),
        "catalog": REF,
    },
)

_ROLE_SCOPES = Prefetch(
    "role_links", queryset=PackageResourceRole.objects.select_related("resource_role__resource").order_by("created_at")
)


def _policies_prefetch(prefix: str = "") -> list[Any]:
    return [
        f"{prefix}specific_users",
        f"{prefix}specific_groups",
        f"{prefix}specific_organizations",
        f"{prefix}questions",
        f"{prefix}reviewers",
        Prefetch(f"{prefix}extension_links", queryset=PolicyExtension.objects.select_related("extension")),
        Prefetch(
            f"{prefix}stages",
            queryset=ApprovalStage.objects.filter(generation=F("policy__stage_generation")).prefetch_related(
                "approvers"
            ),
        ),
    ]


class PackageMixin(ResourceView):
    serializer = PackageOut
    noun = "access package"
    filters = {
        "id": ident("pk"),
        "displayName": text("display_name"),
        "description": text("description"),
        "isHidden": flag("is_hidden"),
        "catalog/id": ident("catalog_id"),
        "createdDateTime": moment("created_at"),
        "modifiedDateTime": moment("modified_at"),
    }
    expandable = {
        "catalog": frozenset(),
        "resourceRoleScopes": frozenset({"role", "scope"}),
        "assignmentPolicies": frozenset(),
    }

    def base_queryset(self) -> QuerySet[AccessPackage]:
        return restrict(AccessPackage.objects.all(), self.client, Action.VIEW)

    def optimize(self, queryset: QuerySet[Any], options: QueryOptions) -> QuerySet[Any]:
        if options.expands("catalog"):
            queryset = queryset.select_related("catalog")
        if options.expands("resourceRoleScopes"):
            queryset = queryset.prefetch_related(_ROLE_SCOPES)
        if options.expands("assignmentPolicies"):
            queryset = queryset.prefetch_related(
                Prefetch(
                    "policies",
                    queryset=AssignmentPolicy.objects.order_by("created_at").prefetch_related(*_policies_prefetch()),
                )
            )
        return queryset


def _package_changes(data: dict[str, Any]) -> dict[str, Any]:
    refuse_unknown(data, ("id", "displayName", "description", "isHidden", "catalog"))
    changes = name_and_description(data)
    if "isHidden" in data:
        changes["is_hidden"] = bool_of(data, "isHidden")
    return changes


class PackageList(PackageMixin):
    @extend_schema(
        tags=PACKAGE_TAG,
        parameters=COLLECTION_PARAMETERS,
        responses={200: page_of(PackageOut, "AccessPackage"), **ERRORS},
    )
    def get(self, request: Request) -> Response:
        return self.list_response(request)

    @extend_schema(tags=PACKAGE_TAG, request=PACKAGE_INPUT, responses={201: PackageOut, **ERRORS})
    def post(self, request: Request) -> Response:
        data = body_of(request)
        changes = _package_changes(data)
        catalog_id = id_of(object_of(data, "catalog", required=True), "id", required=True)
        assert catalog_id is not None
        package = package_services.create_package(
            self.client,
            catalog_id,
            display_name=changes.get("display_name", ""),
            description=changes.get("description", ""),
            is_hidden=changes.get("is_hidden", False),
        )
        return self.render(package, status=201)


class PackageItem(PackageMixin):
    @extend_schema(tags=PACKAGE_TAG, parameters=ITEM_PARAMETERS, responses={200: PackageOut, **ERRORS})
    def get(self, request: Request, pk: uuid.UUID) -> Response:
        return self.retrieve(request, pk)

    @extend_schema(tags=PACKAGE_TAG, request=PACKAGE_INPUT, responses={204: None, **ERRORS})
    def patch(self, request: Request, pk: uuid.UUID) -> Response:
        data = body_of(request)
        changes = _package_changes(data)
        if "catalog" in data:
            raise ValidationFailed("A package cannot move to another catalog.", field="catalog")
        package_services.update_package(self.client, pk, **changes)
        return no_content()

    @extend_schema(tags=PACKAGE_TAG, responses={204: None, **ERRORS})
    def delete(self, request: Request, pk: uuid.UUID) -> Response:
        package_services.delete_package(self.client, pk)
        return no_content()


# --- resourceRoleScopes ---------------------------------------------------------------------

ROLE_SCOPE_INPUT = inline_serializer(
    "ResourceRoleScopeInput",
    fields={
        "role": inline_serializer(
            "ResourceRoleScopeRole",
            fields={
                "id": serializers.UUIDField(required=False),
                "originId": text_field(required=False),
                "originSystem": text_field(required=False),
                "resource": inline_serializer(
                    "ResourceRoleScopeResource",
                    fields={
                        "id": serializers.UUIDField(required=False),
                        "originId": text_field(required=False),
                    },
                    required=False,
                ),
            },
        ),
        "scope": inline_serializer(
            "ResourceRoleScopeScope",
            fields={
                "id": serializers.UUIDField(required=False),
                "originId": text_field(required=False),
                "originSystem": text_field(required=False),
            },
            required=False,
        ),
    },
)


class RoleScopeMixin(ResourceView):
    serializer = ResourceRoleScopeOut
    noun = "resource role scope"
    expandable = {"role": frozenset(), "scope": frozenset()}

    def package(self, pk: uuid.UUID) -> AccessPackage:
        package: AccessPackage = get_for(self.client, Action.VIEW, AccessPackage.objects.all(), pk, "access package")
        return package

    def base_queryset(self) -> QuerySet[PackageResourceRole]:
        return PackageResourceRole.objects.select_related("resource_role__resource").order_by("created_at")


class RoleScopeList(RoleScopeMixin):
    @extend_schema(
        tags=PACKAGE_TAG,
        parameters=COLLECTION_PARAMETERS,
        responses={200: page_of(ResourceRoleScopeOut, "ResourceRoleScope"), **ERRORS},
    )
    def get(self, request: Request, pk: uuid.UUID) -> Response:
        return self.list_response(request, self.base_queryset().filter(package=self.package(pk)))

    @extend_schema(tags=PACKAGE_TAG, request=ROLE_SCOPE_INPUT, responses={201: ResourceRoleScopeOut, **ERRORS})
    def post(self, request: Request, pk: uuid.UUID) -> Response:
        data = body_of(request)
        refuse_unknown(data, ("role", "scope", "id", "createdDateTime"))
        package = self.package(pk)
        role = _role_named(package, object_of(data, "role", required=True), object_of(data, "scope"))
        package_services.add_resource_role(self.client, package.pk, role.pk)
        link = self.base_queryset().get(package=package, resource_role=role)
        return self.render(link, status=201)


def _role_named(package: AccessPackage, role: dict[str, Any], scope: dict[str, Any]) -> ResourceRole:
    """The role a Graph body names: by our id, or by its originId and its resource."""
    roles = ResourceRole.objects.select_related("resource").filter(resource__catalog_id=package.catalog_id)
    role_id = id_of(role, "id")
    if role_id is not None:
        found = roles.filter(pk=role_id).first() if is_uuid(role_id) else None
    else:
        resource = object_of(role, "resource")
        resource_id = id_of(resource, "id") or id_of(scope, "id")
        resource_origin = text_of(resource, "originId") or text_of(scope, "originId")
        candidates = roles.filter(origin_id__iexact=stored_role_origin_id(text_of(role, "originId", required=True)))
        if resource_id is not None:
            candidates = candidates.filter(resource_id=resource_id) if is_uuid(resource_id) else roles.none()
        elif resource_origin:
            candidates = candidates.filter(resource__origin_id=resource_origin)
        else:
            raise ValidationFailed("Name the role's resource: role.resource.id or scope.originId.", field="role")
        found = candidates.first()
    if found is None:
        raise ValidationFailed("Choose a role of a resource in this package's catalog.", field="role")
    scope_id = id_of(scope, "id")
    if scope_id is not None and scope_id != str(found.resource_id):
        raise ValidationFailed("The scope is the role's resource (its root scope).", field="scope")
    return found


def _links_named(links: QuerySet[PackageResourceRole], scope_id: str) -> QuerySet[PackageResourceRole]:
    """A resourceRoleScope by Graph's id ``<roleId>_<scopeId>`` (or the bare link id we used
    to answer); any other shape is a 400."""
    role_id, _, resource_id = scope_id.partition("_")
    if resource_id:
        if not (is_uuid(role_id) and is_uuid(resource_id)):
            raise ODataError(f"Invalid id '{scope_id[:80]}': a resourceRoleScope id is <roleId>_<scopeId>.")
        return links.filter(resource_role_id=uuid.UUID(role_id), resource_role__resource_id=uuid.UUID(resource_id))
    if not is_uuid(scope_id):
        raise ODataError(f"Invalid id '{scope_id[:80]}': a resourceRoleScope id is <roleId>_<scopeId>.")
    return links.filter(pk=scope_id)


class RoleScopeItem(RoleScopeMixin):
    @extend_schema(tags=PACKAGE_TAG, parameters=ITEM_PARAMETERS, responses={200: ResourceRoleScopeOut, **ERRORS})
    def get(self, request: Request, pk: uuid.UUID, scope_id: str) -> Response:
        options = self.query_options(request, collection=False)
        links = _links_named(self.base_queryset().filter(package=self.package(pk)), scope_id)
        link = links.first()
        if link is None:
            raise NotFound("Resource role scope not found.")
        return self.render(link, options)

    @extend_schema(tags=PACKAGE_TAG, responses={204: None, **ERRORS})
    def delete(self, request: Request, pk: uuid.UUID, scope_id: str) -> Response:
        link = _links_named(self.base_queryset().filter(package=self.package(pk)), scope_id).first()
        if link is None:
            raise NotFound("Resource role scope not found.")
        package_services.remove_resource_role(self.client, pk, link.resource_role_id)
        return no_content()


# --- assignmentPolicies ---------------------------------------------------------------------

POLICY_INPUT = inline_serializer(
    "AssignmentPolicyInput",
    fields={
        "displayName": name_field(),
        "description": text_field(required=False),
        "allowedTargetScope": serializers.ChoiceField(choices=TargetScope.values),
        "specificAllowedTargets": serializers.ListField(child=serializers.DictField(), required=False),
        "expiration": serializers.DictField(required=False),
        "requestorSettings": serializers.DictField(required=False),
        "requestApprovalSettings": serializers.DictField(required=False),
        "questions": serializers.ListField(child=serializers.DictField(), required=False),
        "reviewSettings": serializers.DictField(required=False),
        "customExtensionStageSettings": serializers.ListField(child=serializers.DictField(), required=False),
        "accessPackage": REF,
    },
)


class PolicyMixin(ResourceView):
    serializer = PolicyOut
    noun = "policy"
    filters = {
        "id": ident("pk"),
        "displayName": text("display_name"),
        "allowedTargetScope": enum("allowed_target_scope", TargetScope.values),
        "accessPackage/id": ident("package_id"),
        "catalog/id": ident("package__catalog_id"),
        "createdDateTime": moment("created_at"),
        "modifiedDateTime": moment("modified_at"),
    }
    expandable = {"accessPackage": frozenset(), "catalog": frozenset()}

    def base_queryset(self) -> QuerySet[AssignmentPolicy]:
        return restrict(AssignmentPolicy.objects.order_by("created_at", "pk"), self.client, Action.VIEW)

    def optimize(self, queryset: QuerySet[Any], options: QueryOptions) -> QuerySet[Any]:
        queryset = queryset.prefetch_related(*_policies_prefetch())
        if options.expands("accessPackage") or options.expands("catalog"):
            queryset = queryset.select_related("package__catalog")
        return queryset

    def _saved(self, policy: AssignmentPolicy, status: int = 200) -> Response:
        fresh = self.optimize(AssignmentPolicy.objects.all(), self.query_options(self.request, collection=False))
        return self.render(fresh.get(pk=policy.pk), self.query_options(self.request, collection=False), status)


class PolicyList(PolicyMixin):
    @extend_schema(
        tags=POLICY_TAG, parameters=COLLECTION_PARAMETERS, responses={200: page_of(PolicyOut, "Policy"), **ERRORS}
    )
    def get(self, request: Request) -> Response:
        return self.list_response(request)

    @extend_schema(tags=POLICY_TAG, request=POLICY_INPUT, responses={201: PolicyOut, **ERRORS})
    def post(self, request: Request) -> Response:
        data = body_of(request)
        package_id = id_of(object_of(data, "accessPackage", required=True), "id", required=True)
        assert package_id is not None
        policy = policy_services.save_policy(self.client, package_id, policy_spec(data))
        return self._saved(policy, 201)


class PolicyItem(PolicyMixin):
    @extend_schema(tags=POLICY_TAG, parameters=ITEM_PARAMETERS, responses={200: PolicyOut, **ERRORS})
    def get(self, request: Request, pk: uuid.UUID) -> Response:
        return self.retrieve(request, pk)

    def _update(self, request: Request, pk: uuid.UUID, *, replace: bool) -> Response:
        data = body_of(request)
        policy = self.get_object(pk)
        package = object_of(data, "accessPackage")
        if package and id_of(package, "id") != str(policy.package_id):
            raise ValidationFailed("A policy cannot move to another access package.", field="accessPackage")
        spec = policy_spec(data, None if replace else policy_services.spec_of(policy))
        saved = policy_services.save_policy(self.client, policy.package_id, spec, policy_id=policy.pk)
        return self._saved(saved)

    @extend_schema(tags=POLICY_TAG, request=POLICY_INPUT, responses={200: PolicyOut, **ERRORS})
    def put(self, request: Request, pk: uuid.UUID) -> Response:
        return self._update(request, pk, replace=True)

    @extend_schema(tags=POLICY_TAG, request=POLICY_INPUT, responses={204: None, **ERRORS})
    def patch(self, request: Request, pk: uuid.UUID) -> Response:
        self._update(request, pk, replace=False)
        return no_content()

    @extend_schema(tags=POLICY_TAG, responses={204: None, **ERRORS})
    def delete(self, request: Request, pk: uuid.UUID) -> Response:
        policy_services.delete_policy(self.client, pk)
        return no_content()
