"""accessPackageAssignmentApprovals: a request's approval, stage by stage, and deciding a
stage (rule 4) as the personal token's user."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import Exists, OuterRef, QuerySet
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from governance.api.base import (
    COLLECTION_PARAMETERS,
    ERRORS,
    GraphSerializer,
    ResourceView,
    body_of,
    count_response,
    current_user_filter,
    free_text_of,
    next_link,
    no_content,
    page_of,
    refuse_unknown,
    text_field,
    text_of,
)
from governance.api.odata import canonical, encode_skiptoken
from governance.api.serializers import iso
from governance.errors import NotFound, ValidationFailed
from governance.models import ApprovalStage, AssignmentRequest, Decision, RequestState, User
from governance.permissions import approvable_requests, visible_approvals
from governance.services import approvals as approval_services

APPROVAL_TAG = ["accessPackageAssignmentApprovals"]


class ApprovalStageOut(GraphSerializer):
    id = serializers.UUIDField()
    displayName = serializers.CharField()
    reviewResult = serializers.CharField()
    status = serializers.CharField()
    assignedToMe = serializers.BooleanField()
    justification = serializers.CharField()
    reviewedBy = inline_serializer(
        "ApprovalReviewer",
        fields={
            "id": serializers.CharField(allow_null=True),
            "displayName": serializers.CharField(),
            "userPrincipalName": serializers.CharField(allow_null=True),
        },
    )
    reviewedDateTime = serializers.CharField()


class ApprovalOut(GraphSerializer):
    id = serializers.UUIDField()
    stages = ApprovalStageOut(many=True)


def _stage_status(request: AssignmentRequest, stage: ApprovalStage, decided: bool) -> str:
    if decided:
        return "Completed"
    if request.state == RequestState.PENDING_APPROVAL and stage.order == request.current_stage:
        return "InProgress"
    if stage.order > request.current_stage:
        return "NotStarted"
    return "Expired"


def _stages_of(request: AssignmentRequest) -> list[ApprovalStage]:
    """The request's own approval stages (the generation it was submitted under), from the
    prefetched stages of its policy."""
    if request.policy is None:
        return []
    return [s for s in request.policy.stages.all() if s.generation == request.stage_generation]


def _reviewer(decision: Any) -> dict[str, Any]:
    """Graph's ``identity`` of who decided: the person (a personal token acts as them)."""
    person = decision.approver
    if person is not None:
        return {"id": str(person.pk), "displayName": str(person), "userPrincipalName": person.user_principal_name}
    return {"id": None, "displayName": decision.approver_label, "userPrincipalName": None}


def approval_of(request: AssignmentRequest, user: User | None) -> dict[str, Any]:
    """The approval of a request: one Graph approvalStage per stage of its policy."""
    decisions = {d.stage_order: d for d in request.decisions.all()}
    stages = sorted(_stages_of(request), key=lambda s: s.order)
    result = []
    for stage in stages:
        decision = decisions.get(stage.order)
        status = _stage_status(request, stage, decision is not None)
        mine = status == "InProgress" and user is not None and user.pk in request.stage_approver_ids(stage)
        result.append(
            {
                "id": str(stage.pk),
                # Graph's stages carry the label a policy's author gave them; ours have none.
                "displayName": None,
                "reviewResult": decision.decision if decision else "NotReviewed",
                "status": status,
                "assignedToMe": bool(mine),
                "justification": decision.justification if decision else None,
                "reviewedBy": _reviewer(decision) if decision else None,
                "reviewedDateTime": iso(decision.decided_at) if decision else None,
            }
        )
    return {"id": str(request.pk), "stages": result}


APPROVAL_STAGE_INPUT = inline_serializer(
    "ApprovalStageInput",
    fields={
        "reviewResult": serializers.ChoiceField(choices=Decision.values),
        "justification": text_field(required=False),
    },
)


class ApprovalMixin(ResourceView):
    serializer = ApprovalOut
    noun = "approval"

    def base_queryset(self) -> QuerySet[AssignmentRequest]:
        stages = ApprovalStage.objects.filter(policy=OuterRef("policy"), generation=OuterRef("stage_generation"))
        return visible_approvals(self.client).filter(Exists(stages))

    def approval_request(self, pk: uuid.UUID) -> AssignmentRequest:
        found: AssignmentRequest | None = (
            self.base_queryset()
            .select_related("policy")
            .prefetch_related("policy__stages", "decisions__approver")
            .filter(pk=pk)
            .first()
        )
        if found is None:
            raise NotFound("Approval not found.")
        return found

    def stage(self, request: AssignmentRequest, stage_id: uuid.UUID) -> ApprovalStage:
        for stage in _stages_of(request):
            if str(stage.pk) == str(stage_id).lower():
                return stage
        raise NotFound("Approval stage not found.")


class ApprovalItem(ApprovalMixin):
    @extend_schema(tags=APPROVAL_TAG, responses={200: ApprovalOut, **ERRORS})
    def get(self, request: Request, pk: uuid.UUID) -> Response:
        self.query_options(request, collection=False)
        return Response(approval_of(self.approval_request(pk), self.acting_user()))


class ApprovalsOfCurrentUser(ApprovalMixin):
    @extend_schema(
        tags=APPROVAL_TAG,
        parameters=COLLECTION_PARAMETERS,
        responses={200: page_of(ApprovalOut, "ApprovalOfCurrentUser"), **ERRORS},
    )
    def get(self, request: Request, on: str) -> Response:
        user = self.acting_user()
        if user is None:
            raise ValidationFailed("filterByCurrentUser needs a personal token: an application approves nothing.")
        current_user_filter(on, ("approver",))
        options = self.query_options(request, collection=True)
        waiting = approvable_requests(user).filter(options.filter).order_by("-created_at", "pk")
        if self.count_segment:
            return count_response(waiting.count())
        body: dict[str, Any] = {}
        if options.count:
            body["@odata.count"] = waiting.count()
        rows = list(
            waiting.select_related("policy", "target").prefetch_related("policy__stages", "decisions__approver")[
                options.offset : options.offset + options.top + 1
            ]
        )
        body["value"] = [approval_of(r, user) for r in rows[: options.top]]
        if len(rows) > options.top:
            body["@odata.nextLink"] = next_link(request, encode_skiptoken(options.offset + options.top))
        return Response(body)


class ApprovalStageList(ApprovalMixin):
    @extend_schema(tags=APPROVAL_TAG, responses={200: page_of(ApprovalStageOut, "ApprovalStage"), **ERRORS})
    def get(self, request: Request, pk: uuid.UUID) -> Response:
        self.query_options(request, collection=False)
        return Response({"value": approval_of(self.approval_request(pk), self.acting_user())["stages"]})


class ApprovalStageItem(ApprovalMixin):
    @extend_schema(tags=APPROVAL_TAG, responses={200: ApprovalStageOut, **ERRORS})
    def get(self, request: Request, pk: uuid.UUID, stage_id: uuid.UUID) -> Response:
        self.query_options(request, collection=False)
        found = self.approval_request(pk)
        stage = self.stage(found, stage_id)
        stages = approval_of(found, self.acting_user())["stages"]
        return Response(next(s for s in stages if s["id"] == str(stage.pk)))

    @extend_schema(tags=APPROVAL_TAG, request=APPROVAL_STAGE_INPUT, responses={204: None, **ERRORS})
    def patch(self, request: Request, pk: uuid.UUID, stage_id: uuid.UUID) -> Response:
        data = body_of(request)
        refuse_unknown(data, ("reviewResult", "justification", "id"))
        found = self.approval_request(pk)
        stage = self.stage(found, stage_id)
        result = canonical(text_of(data, "reviewResult", required=True), Decision.values) or ""
        if result not in Decision.values:
            raise ValidationFailed("'reviewResult' is Approve or Deny.", field="reviewResult")
        approval_services.decide(
            self.client, found.pk, result, free_text_of(data, "justification"), stage_order=stage.order
        )
        return no_content()
