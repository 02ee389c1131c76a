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
    datetime_of,
    free_text_of,
    id_of,
    list_of,
    name_field,
    name_of,
    no_content,
    object_of,
    page_of,
    parse_duration,
    refuse_unknown,
    text_field,
    text_of,
)
from governance.api.odata import QueryOptions, enum, flag, ident, text
from governance.api.serializers import PackageOut, PolicyOut, ResourceRoleScopeOut
from governance.errors import ValidationFailed
from governance.models import (
    AccessPackage,
    ApprovalStage,
    ApproverKind,
    AssignmentPolicy,
    ExpirationType,
    PackageResourceRole,
    ResourceRole,
    TargetScope,
)
from governance.permissions import Action, get_for, restrict
from governance.services import packages as package_services
from governance.services import policies as policy_services
from governance.services.policies import ApproverSpec, PolicySpec, StageSpec
from governance.services.requests import is_uuid

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
    changes: dict[str, Any] = {}
    if "displayName" in data:
        changes["display_name"] = name_of(data, "displayName", required=True)
    if "description" in data:
        changes["description"] = free_text_of(data, "description")
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

    @extend_schema(tags=PACKAGE_TAG, request=PACKAGE_INPUT, responses={200: PackageOut, **ERRORS})
    def patch(self, request: Request, pk: uuid.UUID) -> Response:
        data = body_of(request)
        changes = _package_changes(data)
        if "catalog" in data:
            raise ValidationFailed("A package cannot move to another catalog.", field="catalog")
        return self.render(package_services.update_package(self.client, pk, **changes))

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
        candidates = roles.filter(origin_id=text_of(role, "originId", required=True))
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


class RoleScopeItem(RoleScopeMixin):
    @extend_schema(tags=PACKAGE_TAG, parameters=ITEM_PARAMETERS, responses={200: ResourceRoleScopeOut, **ERRORS})
    def get(self, request: Request, pk: uuid.UUID, scope_id: uuid.UUID) -> Response:
        return self.retrieve(request, scope_id, self.base_queryset().filter(package=self.package(pk)))

    @extend_schema(tags=PACKAGE_TAG, responses={204: None, **ERRORS})
    def delete(self, request: Request, pk: uuid.UUID, scope_id: uuid.UUID) -> Response:
        link = self.get_object(scope_id, self.base_queryset().filter(package=self.package(pk)))
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
        "accessPackage": REF,
    },
)
POLICY_PROPERTIES = (
    "id",
    "displayName",
    "description",
    "allowedTargetScope",
    "specificAllowedTargets",
    "expiration",
    "requestorSettings",
    "requestApprovalSettings",
    "accessPackage",
    "createdDateTime",
    "modifiedDateTime",
)


def _subject_sets(items: list[Any], field: str, *, fallback: bool = False) -> list[ApproverSpec]:
    approvers = []
    for item in items:
        if not isinstance(item, dict):
            raise ValidationFailed(f"'{field}' lists subject sets (objects).", field=field)
        kind = str(item.get("@odata.type", "")).removeprefix("#").removeprefix("microsoft.graph.")
        if kind == "singleUser":
            approvers.append(ApproverSpec(ApproverKind.USER, user_id=id_of(item, "userId", required=True)))
        elif kind == "groupMembers":
            approvers.append(ApproverSpec(ApproverKind.GROUP, group_id=id_of(item, "groupId", required=True)))
        elif kind == "requestorManager":
            if item.get("managerLevel", 1) != 1:
                raise ValidationFailed("Only the requestor's direct manager (managerLevel 1) can approve.", field=field)
            approvers.append(ApproverSpec(ApproverKind.MANAGER))
        elif kind == "targetUserSponsors":
            approvers.append(ApproverSpec(ApproverKind.SPONSOR))
        else:
            raise ValidationFailed(
                f"'{field}': approvers are singleUser, groupMembers, requestorManager or targetUserSponsors "
                f"(got '{kind or 'no @odata.type'}').",
                field=field,
            )
        approvers[-1].is_fallback = fallback
    return approvers


def _targets(spec: PolicySpec, items: list[Any]) -> None:
    users, groups, organizations = [], [], []
    for item in items:
        if not isinstance(item, dict):
            raise ValidationFailed(
                "'specificAllowedTargets' lists subject sets (objects).", field="specificAllowedTargets"
            )
        kind = str(item.get("@odata.type", "")).removeprefix("#").removeprefix("microsoft.graph.")
        if kind == "singleUser":
            users.append(id_of(item, "userId", required=True))
        elif kind == "groupMembers":
            groups.append(id_of(item, "groupId", required=True))
        elif kind == "connectedOrganizationMembers":
            organizations.append(id_of(item, "connectedOrganizationId", required=True))
        else:
            raise ValidationFailed(
                "'specificAllowedTargets' are singleUser, groupMembers or connectedOrganizationMembers.",
                field="specificAllowedTargets",
            )
    spec.specific_user_ids = [u for u in users if u]
    spec.specific_group_ids = [g for g in groups if g]
    spec.specific_organization_ids = [o for o in organizations if o]


def _expiration(spec: PolicySpec, expiration: dict[str, Any]) -> None:
    refuse_unknown(expiration, ("type", "endDateTime", "duration"), "expiration")
    kind = text_of(expiration, "type", default="notSpecified")
    if kind == "noExpiration":
        spec.expiration_type = ExpirationType.NEVER
    elif kind == "afterDateTime":
        spec.expiration_type = ExpirationType.ON_DATE
        spec.expiration_date = datetime_of(expiration, "endDateTime")
    elif kind == "afterDuration":
        days, hours = parse_duration(text_of(expiration, "duration", required=True), "expiration.duration")
        if days and hours:
            raise ValidationFailed("Give the duration in days or in hours, not both.", field="expiration.duration")
        if hours:
            spec.expiration_type, spec.expiration_hours, spec.expiration_days = ExpirationType.AFTER_HOURS, hours, None
        else:
            spec.expiration_type, spec.expiration_days, spec.expiration_hours = ExpirationType.AFTER_DAYS, days, None
    else:
        raise ValidationFailed("'expiration.type' is noExpiration, afterDateTime or afterDuration.", field="expiration")


_REQUESTOR_SETTINGS = (
    "enableTargetsToSelfAddAccess",
    "enableTargetsToSelfUpdateAccess",
    "enableTargetsToSelfRemoveAccess",
    "allowCustomAssignmentSchedule",
    "enableOnBehalfRequestorsToAddAccess",
    "enableOnBehalfRequestorsToUpdateAccess",
    "enableOnBehalfRequestorsToRemoveAccess",
    "onBehalfRequestors",
)
_APPROVAL_SETTINGS = (
    "isApprovalRequiredForAdd",
    "isApprovalRequiredForUpdate",
    "isRequestorJustificationRequired",
    "stages",
)
_STAGE_SETTINGS = (
    "durationBeforeAutomaticDenial",
    "isApproverJustificationRequired",
    "isEscalationEnabled",
    "durationBeforeEscalation",
    "primaryApprovers",
    "fallbackPrimaryApprovers",
    "escalationApprovers",
    "fallbackEscalationApprovers",
    "approverInformationVisibility",
)


def _requestor_settings(spec: PolicySpec, settings: dict[str, Any]) -> None:
    refuse_unknown(settings, _REQUESTOR_SETTINGS, "requestorSettings")
    for name in ("enableOnBehalfRequestorsToAddAccess", "enableOnBehalfRequestorsToUpdateAccess",
                 "enableOnBehalfRequestorsToRemoveAccess"):  # fmt: skip
        if bool_of(settings, name):
            raise ValidationFailed(f"'{name}' is not supported: people request for themselves.", field=name)
    if list_of(settings, "onBehalfRequestors"):
        raise ValidationFailed("'onBehalfRequestors' is not supported.", field="onBehalfRequestors")
    if spec.allowed_target_scope == TargetScope.NO_ONE and bool_of(settings, "enableTargetsToSelfAddAccess"):
        raise ValidationFailed(
            "With allowedTargetScope notSpecified only administrators assign: "
            "enableTargetsToSelfAddAccess must be false.",
            field="enableTargetsToSelfAddAccess",
        )
    if "enableTargetsToSelfAddAccess" in settings and spec.allowed_target_scope != TargetScope.NO_ONE:
        # Graph's way to stop a policy accepting requests: ours is "enabled".
        spec.enabled = bool_of(settings, "enableTargetsToSelfAddAccess", True)
    spec.allow_extension = bool_of(settings, "enableTargetsToSelfUpdateAccess", spec.allow_extension)
    spec.allow_custom_schedule = bool_of(settings, "allowCustomAssignmentSchedule", spec.allow_custom_schedule)


def _approval_settings(spec: PolicySpec, settings: dict[str, Any]) -> None:
    refuse_unknown(settings, _APPROVAL_SETTINGS, "requestApprovalSettings")
    spec.requires_approval = bool_of(settings, "isApprovalRequiredForAdd", spec.requires_approval)
    spec.extension_requires_approval = bool_of(
        settings, "isApprovalRequiredForUpdate", spec.extension_requires_approval
    )
    spec.requestor_justification_required = bool_of(
        settings, "isRequestorJustificationRequired", spec.requestor_justification_required
    )
    if "stages" not in settings:
        return
    stages: list[StageSpec] = []
    justification: set[bool] = set()
    for index, stage in enumerate(list_of(settings, "stages"), start=1):
        if not isinstance(stage, dict):
            raise ValidationFailed("'stages' lists approval stages (objects).", field="stages")
        refuse_unknown(stage, _STAGE_SETTINGS, f"stage {index}")
        if bool_of(stage, "isEscalationEnabled"):
            raise ValidationFailed("Escalation is not supported; use fallback approvers.", field="isEscalationEnabled")
        if list_of(stage, "escalationApprovers") or list_of(stage, "fallbackEscalationApprovers"):
            raise ValidationFailed("Escalation approvers are not supported.", field="escalationApprovers")
        days, hours = parse_duration(
            text_of(stage, "durationBeforeAutomaticDenial", default="P14D"), "durationBeforeAutomaticDenial"
        )
        if hours:
            raise ValidationFailed("Stage timeouts are whole days, e.g. P7D.", field="durationBeforeAutomaticDenial")
        justification.add(bool_of(stage, "isApproverJustificationRequired"))
        stages.append(
            StageSpec(
                timeout_days=days,
                approvers=_subject_sets(list_of(stage, "primaryApprovers"), "primaryApprovers")
                + _subject_sets(list_of(stage, "fallbackPrimaryApprovers"), "fallbackPrimaryApprovers", fallback=True),
            )
        )
    if len(justification) > 1:
        raise ValidationFailed(
            "'isApproverJustificationRequired' applies to the whole policy here: give every stage the same value.",
            field="isApproverJustificationRequired",
        )
    spec.approver_justification_required = justification.pop() if justification else False
    spec.stages = stages


def policy_spec(data: dict[str, Any], base: PolicySpec | None = None) -> PolicySpec:
    """A Graph policy body as a :class:`PolicySpec`, over ``base`` for a PATCH."""
    refuse_unknown(data, POLICY_PROPERTIES)
    spec = base or PolicySpec(display_name="")
    if "displayName" in data or base is None:
        spec.display_name = name_of(data, "displayName", required=True)
    if "description" in data:
        spec.description = free_text_of(data, "description")
    if "allowedTargetScope" in data or base is None:
        scope = text_of(data, "allowedTargetScope", required=True)
        if scope not in TargetScope.values:
            raise ValidationFailed(
                f"'allowedTargetScope' is one of {', '.join(TargetScope.values)}.", field="allowedTargetScope"
            )
        spec.allowed_target_scope = scope
    if "specificAllowedTargets" in data:
        _targets(spec, list_of(data, "specificAllowedTargets"))
    if "expiration" in data:
        _expiration(spec, object_of(data, "expiration"))
    if "requestorSettings" in data:
        _requestor_settings(spec, object_of(data, "requestorSettings"))
    if "requestApprovalSettings" in data:
        _approval_settings(spec, object_of(data, "requestApprovalSettings"))
    return spec


class PolicyMixin(ResourceView):
    serializer = PolicyOut
    noun = "policy"
    filters = {
        "id": ident("pk"),
        "displayName": text("display_name"),
        "allowedTargetScope": enum("allowed_target_scope", TargetScope.values),
        "accessPackage/id": ident("package_id"),
        "catalog/id": ident("package__catalog_id"),
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

    @extend_schema(tags=POLICY_TAG, request=POLICY_INPUT, responses={200: PolicyOut, **ERRORS})
    def patch(self, request: Request, pk: uuid.UUID) -> Response:
        return self._update(request, pk, replace=False)

    @extend_schema(tags=POLICY_TAG, responses={204: None, **ERRORS})
    def delete(self, request: Request, pk: uuid.UUID) -> Response:
        policy_services.delete_policy(self.client, pk)
        return no_content()
