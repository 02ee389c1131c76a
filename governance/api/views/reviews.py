"""Access reviews of package policies, where Graph v1.0 puts them:
``/identityGovernance/accessReviews/definitions/{policy id}/instances/{id}/decisions``
(list, ``filterByCurrentUser(on='reviewer')``, PATCH a decision), ``applyDecisions`` and
``stop`` (rule 14). A definition is a policy's review settings, so its id is the policy's.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from governance.api.base import (
    COLLECTION_PARAMETERS,
    ERRORS,
    ITEM_PARAMETERS,
    GraphSerializer,
    ResourceView,
    body_of,
    current_user_filter,
    free_text_of,
    no_content,
    page_of,
    refuse_unknown,
    text_field,
    text_of,
)
from governance.api.odata import enum, ident
from governance.api.serializers import iso
from governance.errors import NotAllowed, NotFound, ValidationFailed
from governance.models import AccessReviewDecision, AccessReviewInstance, ApplyResult, ReviewDecision, User
from governance.permissions import reviewable_decisions, visible_review_decisions
from governance.services import reviews

REVIEW_TAG = ["accessReviews"]
# Graph's word for "no recommendation".
RECOMMENDATION: dict[str, str] = {ReviewDecision.NOT_AVAILABLE: "NoInfoAvailable"}


def _identity(user: User | None, label: str = "") -> dict[str, Any] | None:
    if user is None and not label:
        return None
    return {
        "@odata.type": "#microsoft.graph.userIdentity",
        "id": str(user.pk) if user is not None else None,
        "displayName": str(user) if user is not None else label,
        "userPrincipalName": (user.user_principal_name or user.username) if user is not None else None,
    }


class DecisionOut(GraphSerializer):
    id = serializers.UUIDField()
    accessReviewId = serializers.SerializerMethodField()
    decision = serializers.CharField()
    justification = serializers.CharField()
    recommendation = serializers.SerializerMethodField()
    applyResult = serializers.CharField(source="apply_result")
    appliedDateTime = serializers.SerializerMethodField()
    reviewedDateTime = serializers.SerializerMethodField()
    reviewedBy = serializers.SerializerMethodField()
    appliedBy = serializers.SerializerMethodField()
    principal = serializers.SerializerMethodField()
    principalLink = serializers.SerializerMethodField()
    resource = serializers.SerializerMethodField()
    resourceLink = serializers.SerializerMethodField()

    def get_accessReviewId(self, row: AccessReviewDecision) -> str:
        return str(row.instance_id)

    def get_recommendation(self, row: AccessReviewDecision) -> str:
        return RECOMMENDATION.get(row.recommendation, row.recommendation)

    def get_appliedDateTime(self, row: AccessReviewDecision) -> str | None:
        return iso(row.applied_at)

    def get_reviewedDateTime(self, row: AccessReviewDecision) -> str | None:
        return iso(row.reviewed_at)

    def get_reviewedBy(self, row: AccessReviewDecision) -> dict[str, Any] | None:
        return _identity(row.reviewed_by, row.reviewed_by_label)

    def get_appliedBy(self, row: AccessReviewDecision) -> dict[str, Any] | None:
        return _identity(None, "system") if row.apply_result != ApplyResult.NEW else None

    def get_principal(self, row: AccessReviewDecision) -> dict[str, Any] | None:
        return _identity(row.target)

    def get_principalLink(self, row: AccessReviewDecision) -> str:
        return f"/v1.0/users/{row.target_id}"

    def get_resource(self, row: AccessReviewDecision) -> dict[str, Any]:
        package = row.instance.package
        return {
            "@odata.type": "#microsoft.graph.accessReviewInstanceDecisionItemAccessPackageAssignmentPolicyResource",
            "id": str(row.instance.policy_id),
            "displayName": str(row.instance.policy),
            "accessPackageId": str(package.pk),
            "accessPackageDisplayName": str(package),
        }

    def get_resourceLink(self, row: AccessReviewDecision) -> str:
        return f"/v1.0/identityGovernance/entitlementManagement/assignmentPolicies/{row.instance.policy_id}"


DECISION_INPUT = inline_serializer(
    "AccessReviewDecisionInput",
    fields={
        # Approve or Deny: the same words as an approval stage's reviewResult (one enum there).
        "decision": serializers.CharField(max_length=16, help_text="Approve or Deny"),
        "justification": text_field(required=False),
    },
)


class InstanceMixin(ResourceView):
    serializer = DecisionOut
    noun = "decision"
    filters = {
        "id": ident("pk"),
        "decision": enum("decision", [ReviewDecision.APPROVE, ReviewDecision.DENY, ReviewDecision.NOT_REVIEWED]),
        "applyResult": enum("apply_result", ApplyResult.values),
        "principal/id": ident("target_id"),
    }

    def instance(self, definition_id: uuid.UUID, instance_id: uuid.UUID) -> AccessReviewInstance:
        """The instance, when the caller may see it: an administrator of its catalog, or one
        of its reviewers. Anything else is 404."""
        found = (
            AccessReviewInstance.objects.select_related("package", "policy")
            .filter(pk=instance_id, policy_id=definition_id)
            .first()
        )
        if found is None or not visible_review_decisions(self.client).filter(instance=found).exists():
            raise NotFound("Access review instance not found.")
        return found

    def optimize(self, queryset: QuerySet[Any], options: Any) -> QuerySet[Any]:
        return queryset.select_related("target", "reviewed_by", "instance__package", "instance__policy").order_by(
            "target__username", "pk"
        )


class DecisionList(InstanceMixin):
    @extend_schema(
        tags=REVIEW_TAG, parameters=COLLECTION_PARAMETERS, responses={200: page_of(DecisionOut, "Decision"), **ERRORS}
    )
    def get(self, request: Request, definition_id: uuid.UUID, instance_id: uuid.UUID) -> Response:
        found = self.instance(definition_id, instance_id)
        return self.list_response(request, visible_review_decisions(self.client).filter(instance=found))

    def base_queryset(self) -> QuerySet[AccessReviewDecision]:
        return visible_review_decisions(self.client)


class DecisionsOfCurrentUser(InstanceMixin):
    @extend_schema(
        tags=REVIEW_TAG,
        parameters=COLLECTION_PARAMETERS,
        responses={200: page_of(DecisionOut, "DecisionOfCurrentUser"), **ERRORS},
    )
    def get(self, request: Request, definition_id: uuid.UUID, instance_id: uuid.UUID, on: str) -> Response:
        user = self.acting_user()
        if user is None:
            raise ValidationFailed("filterByCurrentUser needs a personal token: an application reviews nobody.")
        current_user_filter(on, ("reviewer",))
        found = self.instance(definition_id, instance_id)
        return self.list_response(request, reviewable_decisions(user).filter(instance=found))

    def base_queryset(self) -> QuerySet[AccessReviewDecision]:
        return AccessReviewDecision.objects.none()


class DecisionItem(InstanceMixin):
    def base_queryset(self) -> QuerySet[AccessReviewDecision]:
        return visible_review_decisions(self.client)

    @extend_schema(tags=REVIEW_TAG, parameters=ITEM_PARAMETERS, responses={200: DecisionOut, **ERRORS})
    def get(self, request: Request, definition_id: uuid.UUID, instance_id: uuid.UUID, pk: uuid.UUID) -> Response:
        found = self.instance(definition_id, instance_id)
        return self.retrieve(request, pk, self.base_queryset().filter(instance=found))

    @extend_schema(tags=REVIEW_TAG, request=DECISION_INPUT, responses={204: None, **ERRORS})
    def patch(self, request: Request, definition_id: uuid.UUID, instance_id: uuid.UUID, pk: uuid.UUID) -> Response:
        data = body_of(request)
        refuse_unknown(data, ("decision", "justification", "id"))
        found = self.instance(definition_id, instance_id)
        user = self.acting_user()
        if user is None:
            raise NotAllowed("Only a reviewer decides: use a personal token.")
        decision = text_of(data, "decision", required=True)
        if decision not in (ReviewDecision.APPROVE, ReviewDecision.DENY):
            raise ValidationFailed("'decision' is Approve or Deny.", field="decision")
        reviews.decide(user, [pk], decision, free_text_of(data, "justification"), instance_id=found.pk)
        return no_content()


class InstanceAction(InstanceMixin):
    action_name = ""

    def base_queryset(self) -> QuerySet[AccessReviewDecision]:
        return visible_review_decisions(self.client)

    def act(self, instance: AccessReviewInstance) -> None:
        raise NotImplementedError

    @extend_schema(tags=REVIEW_TAG, request=None, responses={204: None, **ERRORS})
    def post(self, request: Request, definition_id: uuid.UUID, instance_id: uuid.UUID) -> Response:
        found = self.instance(definition_id, instance_id)
        self.act(found)
        return no_content()


class InstanceStop(InstanceAction):
    def act(self, instance: AccessReviewInstance) -> None:
        reviews.end_instance(self.client, instance.pk)


class InstanceApplyDecisions(InstanceAction):
    def act(self, instance: AccessReviewInstance) -> None:
        reviews.apply_now(self.client, instance.pk)
