"""assignmentRequests: create (request, assign, extend, remove), cancel, reprocess."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from governance.api.base import (
    COLLECTION_PARAMETERS,
    ERRORS,
    ITEM_PARAMETERS,
    GraphView,
    ResourceView,
    body_of,
    current_user_filter,
    datetime_of,
    free_text_of,
    id_of,
    list_of,
    no_content,
    object_of,
    odata_type,
    page_of,
    parse_duration,
    refuse_unknown,
    text_field,
    text_of,
)
from governance.api.odata import QueryOptions, canonical, enum, ident, moment
from governance.api.serializers import EXPIRATION_TYPES, RequestOut
from governance.errors import InvalidTransition, NotAllowed, NotSupported, ValidationFailed
from governance.models import AssignmentRequest, RequestState, RequestType, User
from governance.permissions import approvable_requests, visible_requests
from governance.services import assignments as assignment_services
from governance.services import extensions as extension_services
from governance.services import requests as request_services
from governance.services.questions import AnswerSpec

REQUEST_TAG = ["assignmentRequests"]

# Graph calls an extension userUpdate; DESIGN §3 names it userExtend. Both are understood,
# in any casing (Graph's own examples send "UserAdd" and "AdminAdd").
REQUEST_TYPE_ALIASES = {"userUpdate": RequestType.USER_EXTEND}
ACCEPTED_REQUEST_TYPES = ("adminAdd", "adminUpdate", "adminRemove", "userAdd", "userExtend", "userUpdate", "userRemove")


def _request_type(value: str) -> str:
    value = canonical(value, (*RequestType.values, *REQUEST_TYPE_ALIASES)) or value
    return REQUEST_TYPE_ALIASES.get(value, value)


ASSIGNMENT_REFERENCE = inline_serializer(
    "AssignmentRequestAssignment",
    fields={
        "id": serializers.UUIDField(required=False),
        "targetId": serializers.UUIDField(required=False),
        "assignmentPolicyId": serializers.UUIDField(required=False),
        "accessPackageId": serializers.UUIDField(required=False),
    },
)
REQUEST_INPUT = inline_serializer(
    "AssignmentRequestInput",
    fields={
        "requestType": serializers.ChoiceField(choices=list(ACCEPTED_REQUEST_TYPES)),
        "assignment": ASSIGNMENT_REFERENCE,
        "accessPackageAssignment": inline_serializer(
            "AccessPackageAssignmentAlias",
            fields={
                "id": serializers.UUIDField(required=False),
                "targetId": serializers.UUIDField(required=False),
                "assignmentPolicyId": serializers.UUIDField(required=False),
                "accessPackageId": serializers.UUIDField(required=False),
            },
            required=False,
            help_text="The beta name of 'assignment', which some v1.0 examples still send.",
        ),
        "justification": text_field(required=False),
        "answers": serializers.ListField(child=serializers.DictField(), required=False),
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
    """(start, end) for the engine: a start already past means now, a duration ends after it."""
    schedule = object_of(data, "schedule")
    refuse_unknown(schedule, ("startDateTime", "expiration", "recurrence", "@odata.type"), "schedule")
    if schedule.get("recurrence") is not None:
        raise ValidationFailed("Recurring schedules are not supported.", field="recurrence")
    start = datetime_of(schedule, "startDateTime")
    now = timezone.now()
    if start is not None and start <= now:
        start = None
    expiration = object_of(schedule, "expiration")
    refuse_unknown(expiration, ("endDateTime", "duration", "type", "@odata.type"), "schedule.expiration")
    kind = text_of(expiration, "type")
    if kind and canonical(kind, EXPIRATION_TYPES) is None:
        raise ValidationFailed(f"'schedule.expiration.type' is one of {', '.join(EXPIRATION_TYPES)}.", field="type")
    end = datetime_of(expiration, "endDateTime")
    duration = text_of(expiration, "duration")
    if end is None and duration:
        days, hours = parse_duration(duration, "schedule.expiration.duration")
        try:
            end = (start or now) + timedelta(days=days, hours=hours)
        except OverflowError:
            raise ValidationFailed(
                "The schedule would end after the year 9999.", field="schedule.expiration.duration"
            ) from None
    return start, end


REQUEST_PROPERTIES = (
    "requestType",
    "assignment",
    "accessPackageAssignment",
    "justification",
    "schedule",
    "accessPackage",
    "isValidationOnly",
    "id",
    "answers",
)


def _refuse_unsupported(data: dict[str, Any]) -> None:
    """Features of Graph's request body this server does not have yet: a clear refusal
    naming them, never a request that silently drops them."""
    if data.get("isValidationOnly") is True:
        raise NotSupported("'isValidationOnly' requests are not supported.", field="isValidationOnly")
    for name in ("verifiedCredentialsData", "customExtensionCalloutInstances"):
        if name in data:
            raise NotSupported(f"'{name}' is not supported.", field=name)


def _target_by_email(assignment: dict[str, Any]) -> str | None:
    """``target: {email}``: a person already in the directory, found by their email."""
    email = text_of(object_of(assignment, "target"), "email")
    if not email:
        return None
    person = User.objects.filter(email__iexact=email, is_active=True).first()
    if person is None:
        raise NotSupported(
            "Only people already in the directory can be assigned: no user has this email.", field="email"
        )
    return str(person.pk)


def _answers(data: dict[str, Any]) -> list[AnswerSpec]:
    """accessPackageAnswerString objects, each naming the question it answers."""
    answers = []
    for item in list_of(data, "answers"):
        if not isinstance(item, dict):
            raise ValidationFailed("'answers' lists accessPackageAnswerString objects.", field="answers")
        kind = odata_type(item, "accessPackageAnswerString")
        if kind != "accessPackageAnswerString":
            raise ValidationFailed(f"'answers' are accessPackageAnswerString (got '{kind}').", field="answers")
        refuse_unknown(item, ("value", "displayValue", "answeredQuestion"), "answers")
        question = object_of(item, "answeredQuestion", required=True)
        question_id = id_of(question, "id", required=True)
        answers.append(
            AnswerSpec(
                question_id=question_id or "",
                value=text_of(item, "value"),
                display_value=text_of(item, "displayValue") or None,
            )
        )
    return answers


def _ref(data: dict[str, Any], flat: str, nested: str, key: str = "id") -> str | None:
    """``assignment.accessPackageId`` or ``assignment.accessPackage.id``: both are Graph."""
    return id_of(data, flat) or id_of(object_of(data, nested), key)


class RequestMixin(ResourceView):
    serializer = RequestOut
    noun = "request"
    filters = {
        "id": ident("pk"),
        "state": enum("state", RequestState.values),
        "requestType": enum("request_type", [*RequestType.values, *REQUEST_TYPE_ALIASES], convert=_request_type),
        "createdDateTime": moment("created_at"),
        "completedDateTime": moment("completed_at"),
        "accessPackage/id": ident("package_id"),
        "assignment/id": ident("assignment_id"),
        "assignment/targetId": ident("target_id"),
        "requestor/objectId": ident("requestor_id"),
    }
    expandable = {
        "accessPackage": frozenset(),
        "requestor": frozenset(),
        "assignment": frozenset({"target"}),
        "accessPackageAssignment": frozenset({"target"}),
    }

    def base_queryset(self) -> QuerySet[AssignmentRequest]:
        return visible_requests(self.client).prefetch_related("answers").order_by("-created_at", "pk")

    def optimize(self, queryset: QuerySet[Any], options: QueryOptions) -> QuerySet[Any]:
        if options.expands("accessPackage"):
            queryset = queryset.select_related("package")
        if options.expands("requestor"):
            queryset = queryset.select_related("requestor")
        if options.expands("assignment"):
            queryset = queryset.select_related("assignment__target")
        if options.expands("accessPackageAssignment"):
            # The beta name of the same navigation property, which the v1.0 pages still use.
            options.expand.setdefault("assignment", options.expand.pop("accessPackageAssignment"))
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
        _refuse_unsupported(data)
        refuse_unknown(data, REQUEST_PROPERTIES)
        request_type = _request_type(text_of(data, "requestType", required=True))
        # accessPackageAssignment: the beta name some v1.0 examples still send.
        assignment = object_of(data, "assignment") or object_of(data, "accessPackageAssignment")
        answers = _answers(data) if "answers" in data else None
        justification = free_text_of(data, "justification")
        package_id = _ref(assignment, "accessPackageId", "accessPackage") or id_of(
            object_of(data, "accessPackage"), "id"
        )
        policy_id = _ref(assignment, "assignmentPolicyId", "assignmentPolicy")
        target_id = _ref(assignment, "targetId", "target", "objectId") or _target_by_email(assignment)
        start, end = _schedule(data)
        sent = object_of(data, "schedule") or None
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
                sent_schedule=sent,
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
                self.client,
                package_id,
                policy_id=policy_id,
                justification=justification,
                start=start,
                end=end,
                sent_schedule=sent,
                answers=answers or (),
            )
        else:
            assignment_id = id_of(assignment, "id", required=True)
            assert assignment_id is not None
            if request_type == RequestType.ADMIN_UPDATE and answers is not None:
                made = assignment_services.update_assignment_end(
                    self.client, assignment_id, end, answers=answers, keep_end="schedule" not in data
                )
            else:
                if answers:
                    raise ValidationFailed(f"A {request_type} request carries no answers.", field="answers")
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
            "requestType is one of adminAdd, adminUpdate, adminRemove, userAdd, userUpdate (userExtend), userRemove.",
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
        on = current_user_filter(on, ("target", "createdBy", "approver"))
        if on == "approver":
            mine = approvable_requests(user)
        else:
            mine = AssignmentRequest.objects.filter(**({"target": user} if on == "target" else {"requestor": user}))
        return self.list_response(request, mine.prefetch_related("answers").order_by("-created_at", "pk"))


class RequestCancel(RequestMixin):
    @extend_schema(tags=REQUEST_TAG, request=None, responses={200: None, **ERRORS})
    def post(self, request: Request, pk: uuid.UUID) -> Response:
        if self.get_object(pk).state == RequestState.CANCELED:
            # Graph refuses to cancel twice; the service's idempotent no-op is for the portal.
            raise InvalidTransition("The request is already canceled.", state=RequestState.CANCELED)
        request_services.cancel_request(self.client, pk)
        return no_content(200)


class RequestReprocess(RequestMixin):
    @extend_schema(tags=REQUEST_TAG, request=None, responses={202: None, **ERRORS})
    def post(self, request: Request, pk: uuid.UUID) -> Response:
        request_services.reprocess_request(self.client, self.get_object(pk).pk)
        return no_content(202)


RESUME_INPUT = inline_serializer(
    "AssignmentRequestResumeInput",
    fields={
        "source": text_field(required=False),
        "type": text_field(required=False),
        "data": inline_serializer(
            "AccessPackageAssignmentRequestCallbackData",
            fields={
                "stage": text_field(required=False),
                "customExtensionStageInstanceId": serializers.UUIDField(),
                "customExtensionStageInstanceDetail": text_field(required=False),
                "state": text_field(required=False),
            },
        ),
    },
)


class RequestResume(GraphView):
    """A custom extension's answer (rule 16). Not a token holder but the extension itself:
    the body is signed with the extension's secret (``X-Portcullis-Signature``) and carries
    the call's one-time token (``X-Portcullis-Resume-Token``)."""

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(tags=REQUEST_TAG, request=RESUME_INPUT, responses={204: None, **ERRORS}, auth=[])
    def post(self, request: Request, pk: uuid.UUID) -> Response:
        extension_services.resume(
            pk,
            request.body,
            request.headers.get(extension_services.SIGNATURE_HEADER, ""),
            request.headers.get(extension_services.RESUME_TOKEN_HEADER, ""),
        )
        return no_content(204)
