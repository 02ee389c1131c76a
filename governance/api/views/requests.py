"""assignmentRequests (create = request, cancel, reprocess), assignments (reprocess) and
accessPackageAssignmentApprovals (decide a stage)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone
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
    datetime_of,
    free_text_of,
    id_of,
    no_content,
    object_of,
    page_of,
    parse_duration,
    refuse_unknown,
    text_field,
    text_of,
)
from governance.api.odata import QueryOptions, enum, ident
from governance.api.serializers import AssignmentOut, RequestOut, iso
from governance.models import (
    ApprovalStage,
    ApproverKind,
    Assignment,
    AssignmentRequest,
    AssignmentState,
    Decision,
    GroupMembership,
    RequestState,
    RequestType,
    StageApprover,
    User,
)
from governance.permissions import Action, approvable_requests, can, own_assignments, own_requests, restrict
from governance.services import approvals as approval_services
from governance.services import assignments as assignment_services
from governance.services import requests as request_services
from governance.services.errors import InvalidTransition, NotAllowed, NotFound, ValidationFailed

REQUEST_TAG = ["assignmentRequests"]
ASSIGNMENT_TAG = ["assignments"]
APPROVAL_TAG = ["accessPackageAssignmentApprovals"]

# Graph calls an extension userUpdate; DESIGN §3 names it userExtend. Both are understood.
REQUEST_TYPE_ALIASES = {"userUpdate": RequestType.USER_EXTEND}


def _request_type(value: str) -> str:
    return REQUEST_TYPE_ALIASES.get(value, value)


def _current_user_filter(on: str, allowed: tuple[str, ...]) -> str:
    if on not in allowed:
        raise ValidationFailed(f"filterByCurrentUser(on=...) takes {' or '.join(allowed)}.", field="on")
    return on


# --- assignmentRequests -------------------------------------------------------------------

REQUEST_INPUT = inline_serializer(
    "AssignmentRequestInput",
    fields={
        "requestType": serializers.ChoiceField(
            choices=["adminAdd", "adminUpdate", "adminRemove", "userAdd", "userExtend", "userUpdate", "userRemove"]
        ),
        "assignment": inline_serializer(
            "AssignmentRequestAssignment",
            fields={
                "id": serializers.UUIDField(required=False),
                "targetId": serializers.UUIDField(required=False),
                "assignmentPolicyId": serializers.UUIDField(required=False),
                "accessPackageId": serializers.UUIDField(required=False),
            },
        ),
        "justification": text_field(required=False),
        "schedule": inline_serializer(
            "AssignmentRequestSchedule",
            fields={
                "startDateTime": serializers.DateTimeField(required=False),
                "expiration": inline_serializer(
                    "AssignmentRequestExpiration",
                    fields={
                        "endDateTime": serializers.DateTimeField(required=False),
                        "duration": text_field(required=False),
                        "type": text_field(required=False),
                    },
                    required=False,
                ),
            },
            required=False,
        ),
    },
)


def _schedule(data: dict[str, Any]) -> tuple[datetime | None, datetime | None]:
    schedule = object_of(data, "schedule")
    refuse_unknown(schedule, ("startDateTime", "expiration", "recurrence"), "schedule")
    if schedule.get("recurrence") is not None:
        raise ValidationFailed("Recurring schedules are not supported.", field="recurrence")
    start = datetime_of(schedule, "startDateTime")
    expiration = object_of(schedule, "expiration")
    refuse_unknown(expiration, ("endDateTime", "duration", "type"), "schedule.expiration")
    end = datetime_of(expiration, "endDateTime")
    duration = text_of(expiration, "duration")
    if end is None and duration:
        days, hours = parse_duration(duration, "schedule.expiration.duration")
        try:
            end = (start or timezone.now()) + timedelta(days=days, hours=hours)
        except OverflowError:
            raise ValidationFailed(
                "The schedule would end after the year 9999.", field="schedule.expiration.duration"
            ) from None
    return start, end


def _ref(data: dict[str, Any], flat: str, nested: str, key: str = "id") -> str | None:
    """``assignment.accessPackageId`` or ``assignment.accessPackage.id``: both are Graph."""
    return id_of(data, flat) or id_of(object_of(data, nested), key)


class RequestMixin(ResourceView):
    serializer = RequestOut
    noun = "request"
    filters = {
        "id": ident("pk"),
        "state": enum("state", RequestState.values),
        "requestType": enum("request_type", RequestType.values, convert=_request_type),
        "accessPackage/id": ident("package_id"),
        "assignment/id": ident("assignment_id"),
        "assignment/targetId": ident("target_id"),
        "requestor/objectId": ident("requestor_id"),
    }
    expandable = {"accessPackage": frozenset(), "requestor": frozenset(), "assignment": frozenset({"target"})}

    def base_queryset(self) -> QuerySet[AssignmentRequest]:
        visible = restrict(AssignmentRequest.objects.all(), self.client, Action.VIEW)
        user = self.acting_user()
        if user is not None:
            # A person sees their own requests, as in My Access, besides what their roles show.
            visible = AssignmentRequest.objects.filter(
                Q(pk__in=visible.values("pk")) | Q(target=user) | Q(requestor=user)
            )
        return visible.order_by("-created_at", "pk")

    def optimize(self, queryset: QuerySet[Any], options: QueryOptions) -> QuerySet[Any]:
        if options.expands("accessPackage"):
            queryset = queryset.select_related("package")
        if options.expands("requestor"):
            queryset = queryset.select_related("requestor")
        if options.expands("assignment"):
            queryset = queryset.select_related("assignment__target")
        return queryset


class RequestList(RequestMixin):
    @extend_schema(
        tags=REQUEST_TAG, parameters=COLLECTION_PARAMETERS, responses={200: page_of(RequestOut, "Request"), **ERRORS}
    )
    def get(self, request: Request) -> Response:
        return self.list_response(request)

    @extend_schema(tags=REQUEST_TAG, request=REQUEST_INPUT, responses={201: RequestOut, **ERRORS})
    def post(self, request: Request) -> Response:
        data = body_of(request)
        refuse_unknown(data, ("requestType", "assignment", "justification", "schedule", "accessPackage"))
        request_type = _request_type(text_of(data, "requestType", required=True))
        assignment = object_of(data, "assignment")
        justification = free_text_of(data, "justification")
        package_id = _ref(assignment, "accessPackageId", "accessPackage") or id_of(
            object_of(data, "accessPackage"), "id"
        )
        policy_id = _ref(assignment, "assignmentPolicyId", "assignmentPolicy")
        target_id = _ref(assignment, "targetId", "target", "objectId")
        start, end = _schedule(data)
        made: AssignmentRequest | None
        if request_type == RequestType.ADMIN_ADD:
            if not package_id or not target_id:
                raise ValidationFailed(
                    "adminAdd needs assignment.targetId, assignment.assignmentPolicyId and assignment.accessPackageId.",
                    field="assignment",
                )
            made = assignment_services.create_direct_assignments(
                self.client,
                package_id,
                policy_id=policy_id,
                target_ids=[target_id],
                start=start,
                end=end,
                justification=justification,
            )[0]
        elif request_type == RequestType.USER_ADD:
            user = self.acting_user()
            if user is None:
                raise NotAllowed(
                    "userAdd asks for access for oneself: use a personal token (create_api_client --user)."
                )
            if target_id and target_id != str(user.pk):
                raise NotAllowed("A personal token requests access only for its own user.", field="targetId")
            if not package_id:
                raise ValidationFailed("userAdd needs assignment.accessPackageId.", field="assignment")
            made = request_services.submit_request(
                self.client, package_id, policy_id=policy_id, justification=justification, start=start, end=end
            )
        else:
            assignment_id = id_of(assignment, "id", required=True)
            assert assignment_id is not None
            made = self._about_assignment(request_type, assignment_id, justification, end)
        return self.render(self.base_queryset().select_related("package").get(pk=made.pk), status=201)

    def _about_assignment(self, request_type: str, assignment_id: str, justification: str, end: datetime | None) -> Any:
        if request_type == RequestType.ADMIN_REMOVE:
            made = assignment_services.remove_assignment(self.client, assignment_id, justification)
            if made is None:
                raise InvalidTransition("This assignment is already removed.")
            return made
        if request_type == RequestType.ADMIN_UPDATE:
            return assignment_services.update_assignment_end(self.client, assignment_id, end)
        if request_type == RequestType.USER_REMOVE:
            return request_services.request_removal(self.client, assignment_id, justification)
        if request_type == RequestType.USER_EXTEND:
            return request_services.request_extension(self.client, assignment_id, justification=justification, end=end)
        raise ValidationFailed(
            "requestType is one of adminAdd, adminUpdate, adminRemove, userAdd, userExtend (userUpdate), userRemove.",
            field="requestType",
        )


class RequestItem(RequestMixin):
    @extend_schema(tags=REQUEST_TAG, parameters=ITEM_PARAMETERS, responses={200: RequestOut, **ERRORS})
    def get(self, request: Request, pk: uuid.UUID) -> Response:
        return self.retrieve(request, pk)


class RequestsOfCurrentUser(RequestMixin):
    @extend_schema(
        tags=REQUEST_TAG,
        parameters=COLLECTION_PARAMETERS,
        responses={200: page_of(RequestOut, "RequestOfCurrentUser"), **ERRORS},
    )
    def get(self, request: Request, on: str) -> Response:
        user = self.acting_user()
        if user is None:
            raise ValidationFailed("filterByCurrentUser needs a personal token: an application has no requests.")
        on = _current_user_filter(on, ("target", "createdBy"))
        mine = AssignmentRequest.objects.filter(**({"target": user} if on == "target" else {"requestor": user}))
        return self.list_response(request, mine.order_by("-created_at", "pk"))


class RequestCancel(RequestMixin):
    @extend_schema(tags=REQUEST_TAG, request=None, responses={200: None, **ERRORS})
    def post(self, request: Request, pk: uuid.UUID) -> Response:
        found = self.get_object(pk)
        user = self.acting_user()
        if can(self.client, Action.CANCEL, found):
            request_services.cancel_request_as_admin(self.client, found.pk)
        elif user is not None and own_requests(user).filter(pk=found.pk).exists():
            request_services.cancel_request_as_requestor(self.client, found.pk)
        else:
            raise NotAllowed("You may not cancel this request.")
        return no_content(200)


class RequestReprocess(RequestMixin):
    @extend_schema(tags=REQUEST_TAG, request=None, responses={202: None, **ERRORS})
    def post(self, request: Request, pk: uuid.UUID) -> Response:
        request_services.reprocess_request(self.client, self.get_object(pk).pk)
        return no_content(202)


# --- assignments ----------------------------------------------------------------------------


class AssignmentMixin(ResourceView):
    serializer = AssignmentOut
    noun = "assignment"
    filters = {
        "id": ident("pk"),
        "state": enum("state", AssignmentState.values),
        "accessPackage/id": ident("package_id"),
        "assignmentPolicy/id": ident("policy_id"),
        "target/objectId": ident("target_id"),
        "catalog/id": ident("package__catalog_id"),
    }
    expandable = {"accessPackage": frozenset(), "assignmentPolicy": frozenset(), "target": frozenset()}

    def base_queryset(self) -> QuerySet[Assignment]:
        visible = restrict(Assignment.objects.all(), self.client, Action.VIEW)
        user = self.acting_user()
        if user is not None:
            visible = Assignment.objects.filter(Q(pk__in=visible.values("pk")) | Q(target=user))
        return visible.order_by("-created_at", "pk")

    def optimize(self, queryset: QuerySet[Any], options: QueryOptions) -> QuerySet[Any]:
        queryset = queryset.select_related("target")
        if options.expands("accessPackage"):
            queryset = queryset.select_related("package")
        if options.expands("assignmentPolicy"):
            from governance.api.views.packages import _policies_prefetch

            queryset = queryset.select_related("policy").prefetch_related(*_policies_prefetch("policy__"))
        return queryset


class AssignmentList(AssignmentMixin):
    @extend_schema(
        tags=ASSIGNMENT_TAG,
        parameters=COLLECTION_PARAMETERS,
        responses={200: page_of(AssignmentOut, "Assignment"), **ERRORS},
    )
    def get(self, request: Request) -> Response:
        return self.list_response(request)


class AssignmentItem(AssignmentMixin):
    @extend_schema(tags=ASSIGNMENT_TAG, parameters=ITEM_PARAMETERS, responses={200: AssignmentOut, **ERRORS})
    def get(self, request: Request, pk: uuid.UUID) -> Response:
        return self.retrieve(request, pk)


class AssignmentsOfCurrentUser(AssignmentMixin):
    @extend_schema(
        tags=ASSIGNMENT_TAG,
        parameters=COLLECTION_PARAMETERS,
        responses={200: page_of(AssignmentOut, "AssignmentOfCurrentUser"), **ERRORS},
    )
    def get(self, request: Request, on: str) -> Response:
        user = self.acting_user()
        if user is None:
            raise ValidationFailed("filterByCurrentUser needs a personal token: an application has no assignments.")
        _current_user_filter(on, ("target",))
        return self.list_response(request, own_assignments(user).order_by("-created_at", "pk"))


class AssignmentReprocess(AssignmentMixin):
    @extend_schema(tags=ASSIGNMENT_TAG, request=None, responses={202: None, **ERRORS})
    def post(self, request: Request, pk: uuid.UUID) -> Response:
        assignment_services.reprocess_assignment(self.client, self.get_object(pk).pk)
        return no_content(202)


# --- accessPackageAssignmentApprovals ----------------------------------------------------------


class ApprovalStageOut(GraphSerializer):
    id = serializers.UUIDField()
    displayName = serializers.CharField()
    reviewResult = serializers.CharField()
    status = serializers.CharField()
    assignedToMe = serializers.BooleanField()
    justification = serializers.CharField()
    reviewedBy = inline_serializer(
        "ApprovalReviewer", fields={"id": serializers.CharField(), "displayName": serializers.CharField()}
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


def approval_of(request: AssignmentRequest, user: User | None) -> dict[str, Any]:
    """The approval of a request: one Graph approvalStage per stage of its policy."""
    decisions = {d.stage_order: d for d in request.decisions.all()}
    stages = sorted(_stages_of(request), key=lambda s: s.order)
    result = []
    for stage in stages:
        decision = decisions.get(stage.order)
        status = _stage_status(request, stage, decision is not None)
        mine = (
            status == "InProgress"
            and user is not None
            and user.pk in approval_services.stage_approver_ids(request, stage)
        )
        result.append(
            {
                "id": str(stage.pk),
                "displayName": f"Stage {stage.order}",
                "reviewResult": decision.decision if decision else "NotReviewed",
                "status": status,
                "assignedToMe": bool(mine),
                "justification": decision.justification if decision else None,
                "reviewedBy": (
                    {
                        "id": str(decision.approver_id) if decision.approver_id else None,
                        "displayName": decision.approver_label,
                    }
                    if decision
                    else None
                ),
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


def _named_approver(user: User) -> Q:
    """Requests whose policy names this person as an approver of some stage, decided or not:
    a late approver must see "already decided by X" (rule 4), not a 404. Who may *decide* is
    still settled by ``services.approvals.decide``."""
    entries = StageApprover.objects.filter(
        stage__policy=OuterRef("policy"), stage__generation=OuterRef("stage_generation")
    )
    in_group = GroupMembership.objects.filter(user=user).values("group_id")
    return (
        Exists(entries.filter(kind=ApproverKind.USER, user=user))
        | Exists(entries.filter(kind=ApproverKind.GROUP, group__in=in_group))
        | (Q(target__manager=user) & Exists(entries.filter(kind=ApproverKind.MANAGER)))
        | (Q(target__sponsor=user) & Exists(entries.filter(kind=ApproverKind.SPONSOR)))
    )


class ApprovalMixin(ResourceView):
    serializer = ApprovalOut
    noun = "approval"

    def base_queryset(self) -> QuerySet[AssignmentRequest]:
        visible = restrict(AssignmentRequest.objects.all(), self.client, Action.VIEW)
        user = self.acting_user()
        if user is not None:
            visible = AssignmentRequest.objects.filter(
                Q(pk__in=visible.values("pk")) | Q(target=user) | Q(requestor=user) | _named_approver(user)
            )
        stages = ApprovalStage.objects.filter(policy=OuterRef("policy"), generation=OuterRef("stage_generation"))
        return visible.filter(Exists(stages))

    def approval_request(self, pk: uuid.UUID) -> AssignmentRequest:
        found: AssignmentRequest | None = (
            self.base_queryset()
            .select_related("policy")
            .prefetch_related("policy__stages", "decisions")
            .filter(pk=pk)
            .first()
        )
        if found is None:
            raise NotFound("Approval not found.")
        return found

    def stage(self, request: AssignmentRequest, stage_id: uuid.UUID) -> ApprovalStage:
        for stage in _stages_of(request):
            if stage.pk == stage_id:
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
        _current_user_filter(on, ("approver",))
        options = self.query_options(request, collection=True)
        waiting = (
            approvable_requests(user)
            .filter(options.filter)
            .select_related("policy", "target")
            .prefetch_related("policy__stages", "decisions")
            .order_by("-created_at", "pk")
        )
        rows = list(waiting[options.offset : options.offset + options.top])
        return Response({"value": [approval_of(r, user) for r in rows]})


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
        result = text_of(data, "reviewResult", required=True)
        if result not in Decision.values:
            raise ValidationFailed("'reviewResult' is Approve or Deny.", field="reviewResult")
        approval_services.decide(
            self.client, found.pk, result, free_text_of(data, "justification"), stage_order=stage.order
        )
        return no_content()
