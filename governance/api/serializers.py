"""Graph v1.0 shapes of our objects (output only; input is read by the views, and a policy body by ``graph_policy.py``).

Names, casing and enums follow Microsoft Graph's entitlement-management resources. What we
do not have is left out rather than invented.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field, inline_serializer
from rest_framework import serializers

from governance.api.base import Constant, ConstantBool, GraphDateTime, GraphSerializer
from governance.api.odata import canonical
from governance.models import (
    ApproverKind,
    Assignment,
    AssignmentPolicy,
    AssignmentRequest,
    AssignmentState,
    ExpirationType,
    ExtensionStage,
    PolicyQuestion,
    QuestionKind,
    RequestAnswer,
    RequestState,
    RequestType,
    Resource,
    ResourceType,
    ReviewerKind,
    ReviewRecurrence,
    TargetScope,
    User,
    UserType,
)

# Resource types as Graph's originSystem names them.
ORIGIN_SYSTEM: dict[str, str] = {
    ResourceType.GROUP: "AadGroup",
    ResourceType.APPLICATION: "AadApplication",
    ResourceType.SITE: "SharePointOnline",
}
RESOURCE_TYPE_OF_ORIGIN = {v: k for k, v in ORIGIN_SYSTEM.items()}


@extend_schema_field(OpenApiTypes.STR)
class OriginSystem(serializers.Field):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(source=kwargs.pop("source", "resource_type"), **kwargs)

    def to_representation(self, value: str) -> str:
        return ORIGIN_SYSTEM.get(value, value)


# --- Catalogs and resources -------------------------------------------------------------


class CatalogBrief(GraphSerializer):
    id = serializers.UUIDField()
    displayName = serializers.CharField(source="display_name")
    description = serializers.CharField()
    catalogType = Constant("userManaged")
    state = serializers.CharField()
    isExternallyVisible = serializers.BooleanField(source="is_externally_visible")
    createdDateTime = GraphDateTime(source="created_at")
    modifiedDateTime = GraphDateTime(source="modified_at")


class CatalogOut(CatalogBrief):
    navigation = frozenset({"accessPackages"})

    accessPackages = serializers.SerializerMethodField()

    @extend_schema_field({"type": "array", "items": {"type": "object"}})
    def get_accessPackages(self, catalog: Any) -> Any:
        return PackageBrief(catalog.packages.all(), many=True).data


class ResourceScopeOut(GraphSerializer):
    """A resource's root scope: ours are always the whole resource."""

    id = serializers.UUIDField()
    displayName = serializers.CharField(source="display_name")
    description = serializers.CharField()
    originId = serializers.CharField(source="origin_id")
    originSystem = OriginSystem()
    isRootScope = ConstantBool(True)


class ResourceBrief(GraphSerializer):
    id = serializers.UUIDField()
    displayName = serializers.CharField(source="display_name")
    description = serializers.CharField()
    originId = serializers.CharField(source="origin_id")
    originSystem = OriginSystem()
    createdDateTime = GraphDateTime(source="created_at")


# A group's membership role, as Graph names it: originId ``Member_<group object id>``.
GROUP_MEMBER_ROLE = "member"


def role_origin_id(role: Any) -> str:
    """A role's originId as Graph writes it (a group's member role is ``Member_<groupId>``)."""
    if role.resource.resource_type == ResourceType.GROUP and role.origin_id.lower() == GROUP_MEMBER_ROLE:
        return f"Member_{role.resource.origin_id}"
    return str(role.origin_id)


def stored_role_origin_id(value: str) -> str:
    """The stored originId of a role a Graph client names (``Member_<id>`` is our ``member``)."""
    prefix, _, rest = value.partition("_")
    return GROUP_MEMBER_ROLE if prefix.lower() == GROUP_MEMBER_ROLE and rest else value


class ResourceRoleBrief(GraphSerializer):
    id = serializers.UUIDField()
    displayName = serializers.CharField(source="display_name")
    description = serializers.CharField()
    originId = serializers.SerializerMethodField()
    originSystem = OriginSystem(source="resource.resource_type")

    @extend_schema_field(OpenApiTypes.STR)
    def get_originId(self, role: Any) -> str:
        return role_origin_id(role)


class ResourceRoleOut(ResourceRoleBrief):
    resource = ResourceBrief()


class ResourceOut(ResourceBrief):
    navigation = frozenset({"roles", "scopes", "catalog", "environment"})

    roles = ResourceRoleBrief(many=True, source="roles.all")
    scopes = serializers.SerializerMethodField()
    catalog = CatalogBrief()
    # Graph's accessPackageResourceEnvironment (a multi-geo location); this server has one.
    environment = serializers.SerializerMethodField()

    @extend_schema_field({"type": "object", "nullable": True})
    def get_environment(self, resource: Resource) -> None:
        return None

    @extend_schema_field(ResourceScopeOut(many=True))
    def get_scopes(self, resource: Resource) -> Any:
        return ResourceScopeOut([resource], many=True).data


def role_scope_id(role_id: Any, scope_id: Any) -> str:
    """A resourceRoleScope's id, as Graph forms it: ``<roleId>_<scopeId>``."""
    return f"{role_id}_{scope_id}"


class ResourceRoleScopeOut(GraphSerializer):
    """A resource role bundled in a package; the scope is the role's resource."""

    id = serializers.SerializerMethodField()
    createdDateTime = GraphDateTime(source="created_at")
    role = ResourceRoleOut(source="resource_role")
    scope = ResourceScopeOut(source="resource_role.resource")

    @extend_schema_field(OpenApiTypes.STR)
    def get_id(self, link: Any) -> str:
        return role_scope_id(link.resource_role_id, link.resource_role.resource_id)


class ResourceRequestOut(GraphSerializer):
    id = serializers.CharField()
    requestType = serializers.CharField(source="request_type")
    state = serializers.CharField()
    createdDateTime = GraphDateTime(source="created_at")
    resource = ResourceBrief()
    catalog = CatalogBrief()


# --- People -----------------------------------------------------------------------------


class SubjectOut(GraphSerializer):
    """accessPackageSubject: the ``objectId`` is the person's id everywhere in the API."""

    id = serializers.UUIDField()
    objectId = serializers.UUIDField(source="id")
    displayName = serializers.CharField(source="__str__")
    email = serializers.CharField()
    principalName = serializers.CharField(source="user_principal_name")
    subjectType = Constant("user")


class UserOut(GraphSerializer):
    id = serializers.UUIDField()
    displayName = serializers.CharField(source="__str__")
    mail = serializers.CharField(source="email")
    userPrincipalName = serializers.CharField(source="user_principal_name")
    userType = serializers.SerializerMethodField()

    @extend_schema_field(OpenApiTypes.STR)
    def get_userType(self, user: User) -> str:
        return "Guest" if user.user_type == UserType.GUEST else "Member"


class GroupOut(GraphSerializer):
    id = serializers.UUIDField()
    displayName = serializers.CharField(source="display_name")
    description = serializers.CharField()
    mail = serializers.CharField()


class DomainSourceOut(serializers.Serializer):
    domainName = serializers.CharField(source="domain")
    displayName = serializers.CharField(source="domain")

    def to_representation(self, instance: Any) -> dict[str, Any]:
        return {"@odata.type": "#microsoft.graph.domainIdentitySource", **super().to_representation(instance)}


class ConnectedOrganizationOut(GraphSerializer):
    id = serializers.UUIDField()
    displayName = serializers.CharField(source="display_name")
    description = serializers.CharField()
    state = serializers.CharField()
    identitySources = DomainSourceOut(many=True, source="domains.all")
    createdDateTime = GraphDateTime(source="created_at")
    modifiedDateTime = GraphDateTime(source="modified_at")


# --- Policies ---------------------------------------------------------------------------


def _duration(policy: AssignmentPolicy) -> str | None:
    if policy.expiration_type == ExpirationType.AFTER_DAYS and policy.expiration_days:
        return f"P{policy.expiration_days}D"
    if policy.expiration_type == ExpirationType.AFTER_HOURS and policy.expiration_hours:
        return f"PT{policy.expiration_hours}H"
    return None


EXPIRATION_TYPE: dict[str, str] = {
    ExpirationType.NEVER: "noExpiration",
    ExpirationType.ON_DATE: "afterDateTime",
    ExpirationType.AFTER_DAYS: "afterDuration",
    ExpirationType.AFTER_HOURS: "afterDuration",
}


def iso(value: Any) -> str | None:
    return GraphDateTime().to_representation(value) if value is not None else None


def subject_sets(approvers: Any) -> list[dict[str, Any]]:
    sets: list[dict[str, Any]] = []
    for approver in approvers:
        if approver.kind == ApproverKind.USER:
            sets.append({"@odata.type": "#microsoft.graph.singleUser", "userId": str(approver.user_id)})
        elif approver.kind == ApproverKind.GROUP:
            sets.append({"@odata.type": "#microsoft.graph.groupMembers", "groupId": str(approver.group_id)})
        elif approver.kind == ApproverKind.MANAGER:
            sets.append({"@odata.type": "#microsoft.graph.requestorManager", "managerLevel": 1})
        elif approver.kind == ApproverKind.SPONSOR:
            sets.append({"@odata.type": "#microsoft.graph.targetUserSponsors"})
    return sets


_OBJECT = OpenApiTypes.OBJECT

QUESTION_TYPE: dict[str, str] = {
    QuestionKind.SHORT_TEXT: "#microsoft.graph.accessPackageTextInputQuestion",
    QuestionKind.LONG_TEXT: "#microsoft.graph.accessPackageTextInputQuestion",
    QuestionKind.MULTIPLE_CHOICE: "#microsoft.graph.accessPackageMultipleChoiceQuestion",
}


def question_out(question: PolicyQuestion) -> dict[str, Any]:
    """accessPackageTextInputQuestion or accessPackageMultipleChoiceQuestion."""
    body: dict[str, Any] = {
        "@odata.type": QUESTION_TYPE[question.kind],
        "id": str(question.pk),
        "sequence": question.sequence,
        "isRequired": question.is_required,
        "isAnswerEditable": question.is_answer_editable,
        "text": question.text,
        "localizations": list(question.localizations or []),
    }
    if question.kind == QuestionKind.MULTIPLE_CHOICE:
        body["isMultipleSelectionAllowed"] = False
        body["choices"] = [
            {"actualValue": c["value"], "text": c["text"], "localizations": c.get("localizations") or []}
            for c in question.choices
        ]
    else:
        body["isSingleLineQuestion"] = question.kind == QuestionKind.SHORT_TEXT
        body["regexPattern"] = question.regex_pattern or None
    return body


def answer_out(answer: RequestAnswer) -> dict[str, Any]:
    """accessPackageAnswerString, naming the question it answers."""
    return {
        "@odata.type": "#microsoft.graph.accessPackageAnswerString",
        "value": answer.value,
        "displayValue": answer.display_value,
        "answeredQuestion": {
            "@odata.type": QUESTION_TYPE.get(answer.question_kind, QUESTION_TYPE[QuestionKind.SHORT_TEXT]),
            "id": str(answer.question_id),
            "sequence": answer.sequence,
            "text": answer.question_text,
        },
    }


class PolicyBrief(GraphSerializer):
    id = serializers.UUIDField()
    displayName = serializers.CharField(source="display_name")
    description = serializers.CharField()
    allowedTargetScope = serializers.CharField(source="allowed_target_scope")
    specificAllowedTargets = serializers.SerializerMethodField()
    expiration = serializers.SerializerMethodField()
    requestorSettings = serializers.SerializerMethodField()
    requestApprovalSettings = serializers.SerializerMethodField()
    questions = serializers.SerializerMethodField()
    reviewSettings = serializers.SerializerMethodField()
    customExtensionStageSettings = serializers.SerializerMethodField()
    createdDateTime = GraphDateTime(source="created_at")
    modifiedDateTime = GraphDateTime(source="modified_at")

    @extend_schema_field({"type": "array", "items": {"type": "object"}})
    def get_customExtensionStageSettings(self, policy: AssignmentPolicy) -> list[dict[str, Any]]:
        """The policy's extensions at Graph's stages (our "removal scheduled" is not in
        Graph's enum, so it never reaches a Graph client; a PUT of this keeps it)."""
        return [
            {
                "id": str(link.pk),
                "stage": link.extension.stage,
                "customExtension": {
                    "@odata.type": "#microsoft.graph.accessPackageAssignmentRequestWorkflowExtension",
                    "id": str(link.extension_id),
                    "displayName": link.extension.display_name,
                },
            }
            for link in sorted(policy.extension_links.all(), key=lambda link: link.extension.display_name)
            if link.extension.stage in ExtensionStage.GRAPH
        ]

    @extend_schema_field({"type": "array", "items": {"type": "object"}})
    def get_questions(self, policy: AssignmentPolicy) -> list[dict[str, Any]]:
        return [question_out(q) for q in sorted(policy.questions.all(), key=lambda q: q.sequence)]

    @extend_schema_field({"type": "array", "items": {"type": "object"}})
    def get_specificAllowedTargets(self, policy: AssignmentPolicy) -> list[dict[str, Any]]:
        targets: list[dict[str, Any]] = []
        if policy.allowed_target_scope == TargetScope.SPECIFIC_USERS:
            targets += [
                {"@odata.type": "#microsoft.graph.singleUser", "userId": str(u.pk), "description": str(u)}
                for u in policy.specific_users.all()
            ]
            targets += [
                {"@odata.type": "#microsoft.graph.groupMembers", "groupId": str(g.pk), "description": str(g)}
                for g in policy.specific_groups.all()
            ]
        elif policy.allowed_target_scope == TargetScope.SPECIFIC_ORGANIZATIONS:
            targets += [
                {
                    "@odata.type": "#microsoft.graph.connectedOrganizationMembers",
                    "connectedOrganizationId": str(o.pk),
                    "description": str(o),
                }
                for o in policy.specific_organizations.all()
            ]
        return targets

    @extend_schema_field(_OBJECT)
    def get_expiration(self, policy: AssignmentPolicy) -> dict[str, Any]:
        return {
            "type": EXPIRATION_TYPE.get(policy.expiration_type, "notSpecified"),
            "endDateTime": iso(policy.expiration_date) if policy.expiration_type == ExpirationType.ON_DATE else None,
            "duration": _duration(policy),
        }

    @extend_schema_field(_OBJECT)
    def get_requestorSettings(self, policy: AssignmentPolicy) -> dict[str, Any]:
        return {
            "enableTargetsToSelfAddAccess": policy.enabled and not policy.is_admin_direct,
            "enableTargetsToSelfUpdateAccess": policy.allow_extension,
            "enableTargetsToSelfRemoveAccess": policy.allow_self_removal,
            "allowCustomAssignmentSchedule": policy.allow_custom_schedule,
            "enableOnBehalfRequestorsToAddAccess": False,
            "enableOnBehalfRequestorsToUpdateAccess": False,
            "enableOnBehalfRequestorsToRemoveAccess": False,
            "onBehalfRequestors": [],
        }

    @extend_schema_field(_OBJECT)
    def get_requestApprovalSettings(self, policy: AssignmentPolicy) -> dict[str, Any]:
        current = [s for s in policy.stages.all() if s.generation == policy.stage_generation]
        stages = sorted(current, key=lambda s: s.order) if policy.requires_approval else []
        return {
            "isApprovalRequiredForAdd": policy.requires_approval,
            "isApprovalRequiredForUpdate": policy.extension_requires_approval,
            "isRequestorJustificationRequired": policy.requestor_justification_required,
            "stages": [
                {
                    "durationBeforeAutomaticDenial": f"P{stage.timeout_days}D",
                    "isApproverJustificationRequired": policy.approver_justification_required,
                    "isEscalationEnabled": False,
                    "durationBeforeEscalation": None,
                    "primaryApprovers": subject_sets(a for a in stage.approvers.all() if not a.is_fallback),
                    "fallbackPrimaryApprovers": subject_sets(a for a in stage.approvers.all() if a.is_fallback),
                    "escalationApprovers": [],
                    "fallbackEscalationApprovers": [],
                }
                for stage in stages
            ],
        }

    @extend_schema_field(_OBJECT)
    def get_reviewSettings(self, policy: AssignmentPolicy) -> dict[str, Any]:
        reviewers = list(policy.reviewers.all())

        def sets(fallback: bool) -> list[dict[str, Any]]:
            out: list[dict[str, Any]] = []
            for r in reviewers:
                if r.is_fallback != fallback:
                    continue
                if r.kind == ReviewerKind.USER:
                    out.append({"@odata.type": "#microsoft.graph.singleUser", "userId": str(r.user_id)})
                elif r.kind == ReviewerKind.GROUP:
                    out.append({"@odata.type": "#microsoft.graph.groupMembers", "groupId": str(r.group_id)})
                else:
                    out.append({"@odata.type": "#microsoft.graph.requestorManager", "managerLevel": 1})
            return out

        pattern_type, interval = REVIEW_PATTERNS[policy.review_recurrence]
        return {
            "isEnabled": policy.review_enabled,
            "expirationBehavior": policy.review_expiration_behavior,
            "isRecommendationEnabled": policy.review_recommendations,
            "isReviewerJustificationRequired": policy.review_justification_required,
            "isSelfReview": policy.review_self,
            "schedule": {
                "startDateTime": iso(policy.review_start_at),
                "expiration": {
                    "type": "afterDuration",
                    "duration": f"P{policy.review_duration_days}D",
                    "endDateTime": None,
                },
                "recurrence": {
                    "pattern": {"type": pattern_type, "interval": interval},
                    "range": {"type": "noEnd"},
                },
            },
            "primaryReviewers": sets(False),
            "fallbackReviewers": sets(True),
        }


REVIEW_PATTERNS: dict[str, tuple[str, int]] = {
    ReviewRecurrence.WEEKLY: ("weekly", 1),
    ReviewRecurrence.MONTHLY: ("absoluteMonthly", 1),
    ReviewRecurrence.QUARTERLY: ("absoluteMonthly", 3),
    ReviewRecurrence.SEMI_ANNUALLY: ("absoluteMonthly", 6),
    ReviewRecurrence.ANNUALLY: ("absoluteMonthly", 12),
}


class PackageBrief(GraphSerializer):
    id = serializers.UUIDField()
    displayName = serializers.CharField(source="display_name")
    description = serializers.CharField()
    isHidden = serializers.BooleanField(source="is_hidden")
    createdDateTime = GraphDateTime(source="created_at")
    modifiedDateTime = GraphDateTime(source="modified_at")


class PolicyOut(PolicyBrief):
    navigation = frozenset({"accessPackage", "catalog"})

    accessPackage = PackageBrief(source="package")
    catalog = CatalogBrief(source="package.catalog")


class PackageOut(PackageBrief):
    navigation = frozenset({"catalog", "resourceRoleScopes", "assignmentPolicies"})

    catalog = CatalogBrief()
    resourceRoleScopes = ResourceRoleScopeOut(many=True, source="role_links.all")
    assignmentPolicies = PolicyBrief(many=True, source="policies.all")


# --- Assignments and requests -----------------------------------------------------------


# DESIGN §3: the API speaks Graph's values. Ours that Graph lacks are mapped onto Graph's.
REQUEST_TYPE_OUT: dict[str, str] = {RequestType.USER_EXTEND: "userUpdate"}
ASSIGNMENT_STATE_OUT: dict[str, str] = {AssignmentState.REMOVED: "expired"}
REQUEST_STATUS: dict[str, str] = {
    RequestState.SUBMITTED: "Accepted",
    RequestState.PENDING_APPROVAL: "PendingApproval",
    RequestState.SCHEDULED: "Scheduled",
    RequestState.DELIVERING: "Delivering",
    RequestState.DELIVERED: "Delivered",
    RequestState.PARTIALLY_DELIVERED: "PartiallyDelivered",
    RequestState.DELIVERY_FAILED: "DeliveryFailed",
    RequestState.DENIED: "Denied",
    RequestState.CANCELED: "Canceled",
}
ASSIGNMENT_STATUS: dict[str, str] = {
    AssignmentState.DELIVERING: "Delivering",
    AssignmentState.DELIVERED: "Delivered",
    AssignmentState.PARTIALLY_DELIVERED: "PartiallyDelivered",
    AssignmentState.DELIVERY_FAILED: "DeliveryFailed",
    AssignmentState.EXPIRED: "Expired",
    AssignmentState.REMOVED: "Removed",
}
# What each Graph enum of these objects holds (the SDK reads anything else as None).
GRAPH_REQUEST_TYPES = ("userAdd", "userUpdate", "userRemove", "adminAdd", "adminUpdate", "adminRemove",
                       "systemAdd", "systemUpdate", "systemRemove", "onBehalfAdd")  # fmt: skip
GRAPH_REQUEST_STATES = ("submitted", "pendingApproval", "delivering", "delivered", "deliveryFailed", "denied",
                        "scheduled", "canceled", "partiallyDelivered")  # fmt: skip
GRAPH_ASSIGNMENT_STATES = ("delivering", "partiallyDelivered", "delivered", "expired", "deliveryFailed")


EXPIRATION_TYPES = ("notSpecified", "noExpiration", "afterDateTime", "afterDuration")


def schedule_of(start: Any, end: Any, sent: Any = None, *, unset: str = "noExpiration") -> dict[str, Any]:
    """entitlementManagementSchedule: as the client sent it when it did (a duration stays a
    duration, a start in the past stays), else from the dates the engine keeps."""
    if isinstance(sent, dict):
        given = sent.get("expiration")
        expiration: dict[str, Any] = given if isinstance(given, dict) else {}
        kind = canonical(str(expiration.get("type") or ""), EXPIRATION_TYPES)
        if kind is None:
            kind = "afterDuration" if expiration.get("duration") else unset
            kind = "afterDateTime" if expiration.get("endDateTime") else kind
        return {
            "startDateTime": sent.get("startDateTime"),
            "recurrence": None,
            "expiration": {
                "endDateTime": expiration.get("endDateTime"),
                "duration": expiration.get("duration"),
                "type": kind,
            },
        }
    return {
        "startDateTime": iso(start),
        "recurrence": None,
        "expiration": {"endDateTime": iso(end), "duration": None, "type": "afterDateTime" if end else unset},
    }


class ScheduleOut(serializers.Serializer):
    """entitlementManagementSchedule: when access starts and ends."""

    startDateTime = GraphDateTime(allow_null=True)
    recurrence = serializers.DictField(allow_null=True)
    expiration = inline_serializer(
        "ExpirationPatternOut",
        fields={
            "endDateTime": GraphDateTime(allow_null=True),
            "duration": serializers.CharField(allow_null=True),
            "type": serializers.ChoiceField(choices=["notSpecified", "noExpiration", "afterDateTime", "afterDuration"]),
        },
        allow_null=True,
    )


class AssignmentOut(GraphSerializer):
    navigation = frozenset({"accessPackage", "assignmentPolicy", "target"})

    id = serializers.UUIDField()
    state = serializers.SerializerMethodField()
    status = serializers.SerializerMethodField()
    expiredDateTime = serializers.SerializerMethodField()
    schedule = serializers.SerializerMethodField()
    target = SubjectOut()
    accessPackage = PackageBrief(source="package")
    assignmentPolicy = PolicyBrief(source="policy")

    @extend_schema_field(serializers.ChoiceField(choices=GRAPH_ASSIGNMENT_STATES))
    def get_state(self, assignment: Assignment) -> str:
        return ASSIGNMENT_STATE_OUT.get(assignment.state, assignment.state)

    @extend_schema_field(OpenApiTypes.STR)
    def get_status(self, assignment: Assignment) -> str:
        return ASSIGNMENT_STATUS.get(assignment.state, assignment.state)

    @extend_schema_field(OpenApiTypes.DATETIME)
    def get_expiredDateTime(self, assignment: Assignment) -> str | None:
        return iso(assignment.ended_at) if assignment.state in AssignmentState.ENDED else None

    @extend_schema_field(ScheduleOut)
    def get_schedule(self, assignment: Assignment) -> dict[str, Any]:
        return schedule_of(assignment.start_at, assignment.end_at)


class RequestOut(GraphSerializer):
    navigation = frozenset({"accessPackage", "requestor"})

    id = serializers.UUIDField()
    requestType = serializers.SerializerMethodField()
    state = serializers.CharField()
    status = serializers.SerializerMethodField()
    justification = serializers.SerializerMethodField()
    createdDateTime = GraphDateTime(source="created_at")
    completedDateTime = GraphDateTime(source="completed_at")
    schedule = serializers.SerializerMethodField()
    assignment = serializers.SerializerMethodField()
    accessPackage = PackageBrief(source="package")
    requestor = SubjectOut()
    answers = serializers.SerializerMethodField()

    @extend_schema_field({"type": "array", "items": {"type": "object"}})
    def get_answers(self, request: AssignmentRequest) -> list[dict[str, Any]]:
        return [answer_out(a) for a in sorted(request.answers.all(), key=lambda a: a.sequence)]

    @extend_schema_field(serializers.ChoiceField(choices=GRAPH_REQUEST_TYPES))
    def get_requestType(self, request: AssignmentRequest) -> str:
        return REQUEST_TYPE_OUT.get(request.request_type, request.request_type)

    @extend_schema_field(OpenApiTypes.STR)
    def get_status(self, request: AssignmentRequest) -> str:
        return REQUEST_STATUS.get(request.state, request.state)

    @extend_schema_field(OpenApiTypes.STR)
    def get_justification(self, request: AssignmentRequest) -> str | None:
        return request.justification or None

    @extend_schema_field(ScheduleOut)
    def get_schedule(self, request: AssignmentRequest) -> dict[str, Any]:
        return schedule_of(request.schedule_start, request.schedule_end, request.sent_schedule, unset="notSpecified")

    @extend_schema_field(_OBJECT)
    def get_assignment(self, request: AssignmentRequest) -> dict[str, Any]:
        """What the request is about, with the ids a Graph request body names; the full
        assignment (state, schedule) when it exists and ``$expand=assignment`` asks."""
        reference: dict[str, Any] = {
            "id": str(request.assignment_id) if request.assignment_id else None,
            "targetId": str(request.target_id),
            "accessPackageId": str(request.package_id),
            "assignmentPolicyId": str(request.policy_id) if request.policy_id else None,
        }
        if "assignment" in self._expand and request.assignment is not None:
            reference |= AssignmentOut(request.assignment, expand=("target",)).data
        return reference
