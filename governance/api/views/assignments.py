"""assignments: the list (a person's own with a personal token), one, and reprocess (rule 2)."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from governance.api.base import (
    COLLECTION_PARAMETERS,
    ERRORS,
    ITEM_PARAMETERS,
    ResourceView,
    current_user_filter,
    no_content,
    page_of,
)
from governance.api.odata import FilterField, QueryOptions, canonical, enum, ident, moment, text
from governance.api.serializers import ASSIGNMENT_STATUS, GRAPH_ASSIGNMENT_STATES, AssignmentOut
from governance.api.views.packages import _policies_prefetch
from governance.errors import ValidationFailed
from governance.models import Assignment, AssignmentState, RoleGrant
from governance.permissions import own_assignments, visible_assignments
from governance.services import assignments as assignment_services

ASSIGNMENT_TAG = ["assignments"]


def holding_role(role_id: uuid.UUID) -> QuerySet[Any]:
    """Assignments whose grant of the role is still wanted (rule 7's justification)."""
    return RoleGrant.objects.justifying_any(resource_role_id=role_id).values("assignment_id")


def holding_resource(resource_id: uuid.UUID) -> QuerySet[Any]:
    return RoleGrant.objects.justifying_any(resource_role__resource_id=resource_id).values("assignment_id")


def _assignment_state(value: str) -> str | list[str]:
    """Graph's ``expired`` is ours expired or removed (DESIGN §3); ``removed`` is not Graph's."""
    return [AssignmentState.EXPIRED, AssignmentState.REMOVED] if value == AssignmentState.EXPIRED else value


def _status(value: str) -> str:
    """A Graph status word (``Delivered``) as the stored state."""
    by_status = {status: state for state, status in ASSIGNMENT_STATUS.items()}
    return by_status.get(canonical(value, by_status) or "", value)


class AssignmentMixin(ResourceView):
    serializer = AssignmentOut
    noun = "assignment"
    filters = {
        "id": ident("pk"),
        "state": enum("state", GRAPH_ASSIGNMENT_STATES, convert=_assignment_state),
        "status": text("state", convert=_status),
        "createdDateTime": moment("created_at"),
        "accessPackage/id": ident("package_id"),
        "assignmentPolicy/id": ident("policy_id"),
        "target/objectId": ident("target_id"),
        "catalog/id": ident("package__catalog_id"),
        # Who holds a resource role (or any role of a resource, the role scope's scope) through an
        # active assignment: the resource page of the admin portal (issue 22), as a script reads it.
        "accessPackage/resourceRoleScopes/role/id": FilterField(
            "pk__in", "uuid", convert=holding_role, orderable=False
        ),
        "accessPackage/resourceRoleScopes/scope/id": FilterField(
            "pk__in", "uuid", convert=holding_resource, orderable=False
        ),
    }
    expandable = {"accessPackage": frozenset(), "assignmentPolicy": frozenset(), "target": frozenset()}

    def base_queryset(self) -> QuerySet[Assignment]:
        return visible_assignments(self.client).order_by("-created_at", "pk")

    def optimize(self, queryset: QuerySet[Any], options: QueryOptions) -> QuerySet[Any]:
        if options.expands("target"):
            queryset = queryset.select_related("target")
        if options.expands("accessPackage"):
            queryset = queryset.select_related("package")
        if options.expands("assignmentPolicy"):
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
        current_user_filter(on, ("target",))
        return self.list_response(request, own_assignments(user).order_by("-created_at", "pk"))


class AssignmentReprocess(AssignmentMixin):
    @extend_schema(tags=ASSIGNMENT_TAG, request=None, responses={202: None, **ERRORS})
    def post(self, request: Request, pk: uuid.UUID) -> Response:
        assignment_services.reprocess_assignment(self.client, self.get_object(pk).pk)
        return no_content(202)
