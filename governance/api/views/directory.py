"""Read-only users and groups (to resolve ids), and connectedOrganizations (CRUD)."""

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
    ResourceView,
    body_of,
    list_of,
    name_and_description,
    name_field,
    no_content,
    odata_type,
    page_of,
    refuse_unknown,
    text_field,
    text_of,
)
from governance.api.odata import QueryOptions, enum, ident, moment, text
from governance.api.serializers import ConnectedOrganizationOut, GroupOut, UserOut
from governance.errors import ValidationFailed
from governance.models import ConnectedOrganization, ConnectedOrganizationState, DirectoryGroup, User
from governance.permissions import Action, restrict
from governance.services import organizations as organization_services

DIRECTORY_TAG = ["directory"]
ORGANIZATION_TAG = ["connectedOrganizations"]


class UserMixin(ResourceView):
    """Every enabled person, to any token: scripts resolve a userPrincipalName to an id."""

    serializer = UserOut
    noun = "user"
    filters = {
        "id": ident("pk"),
        "userPrincipalName": text("user_principal_name"),
        "mail": text("email"),
        "displayName": text("display_name"),
        "userType": enum("user_type", ("Member", "Guest"), convert=str.lower),
    }

    def base_queryset(self) -> QuerySet[User]:
        return User.objects.filter(is_active=True).order_by("username")


class UserList(UserMixin):
    @extend_schema(
        tags=DIRECTORY_TAG, parameters=COLLECTION_PARAMETERS, responses={200: page_of(UserOut, "User"), **ERRORS}
    )
    def get(self, request: Request) -> Response:
        return self.list_response(request)


class UserItem(UserMixin):
    @extend_schema(tags=DIRECTORY_TAG, parameters=ITEM_PARAMETERS, responses={200: UserOut, **ERRORS})
    def get(self, request: Request, pk: uuid.UUID) -> Response:
        return self.retrieve(request, pk)


class Me(UserMixin):
    @extend_schema(tags=DIRECTORY_TAG, parameters=ITEM_PARAMETERS, responses={200: UserOut, **ERRORS})
    def get(self, request: Request) -> Response:
        user = self.acting_user()
        if user is None:
            raise ValidationFailed("/me needs a personal token: an application is not a person.")
        return self.retrieve(request, user.pk)


class GroupMixin(ResourceView):
    serializer = GroupOut
    noun = "group"
    filters = {"id": ident("pk"), "displayName": text("display_name"), "mail": text("mail")}

    def base_queryset(self) -> QuerySet[DirectoryGroup]:
        return DirectoryGroup.objects.order_by("display_name", "pk")


class GroupList(GroupMixin):
    @extend_schema(
        tags=DIRECTORY_TAG, parameters=COLLECTION_PARAMETERS, responses={200: page_of(GroupOut, "Group"), **ERRORS}
    )
    def get(self, request: Request) -> Response:
        return self.list_response(request)


class GroupItem(GroupMixin):
    @extend_schema(tags=DIRECTORY_TAG, parameters=ITEM_PARAMETERS, responses={200: GroupOut, **ERRORS})
    def get(self, request: Request, pk: uuid.UUID) -> Response:
        return self.retrieve(request, pk)


# --- connectedOrganizations ---------------------------------------------------------------

ORGANIZATION_INPUT = inline_serializer(
    "ConnectedOrganizationInput",
    fields={
        "displayName": name_field(),
        "description": text_field(required=False),
        "state": serializers.ChoiceField(choices=ConnectedOrganizationState.values, required=False),
        "identitySources": serializers.ListField(
            child=inline_serializer(
                "DomainIdentitySource",
                fields={"domainName": text_field(), "displayName": name_field(required=False)},
            ),
            required=False,
        ),
    },
)


def _organization_changes(data: dict[str, Any]) -> dict[str, Any]:
    refuse_unknown(data, ("id", "displayName", "description", "state", "identitySources"))
    changes = name_and_description(data)
    if "state" in data:
        changes["state"] = text_of(data, "state")
    if "identitySources" in data:
        domains = []
        for source in list_of(data, "identitySources"):
            if not isinstance(source, dict):
                raise ValidationFailed("'identitySources' lists identity sources (objects).", field="identitySources")
            if odata_type(source, "domainIdentitySource") != "domainIdentitySource":
                raise ValidationFailed(
                    "Only domainIdentitySource identity sources are supported.", field="identitySources"
                )
            refuse_unknown(source, ("domainName", "displayName"), "identitySources")
            domains.append(text_of(source, "domainName", required=True))
        changes["domains"] = domains
    return changes


class OrganizationMixin(ResourceView):
    serializer = ConnectedOrganizationOut
    noun = "connected organization"
    filters = {
        "id": ident("pk"),
        "displayName": text("display_name"),
        "state": enum("state", ConnectedOrganizationState.values),
        "createdDateTime": moment("created_at"),
    }

    def base_queryset(self) -> QuerySet[ConnectedOrganization]:
        return restrict(ConnectedOrganization.objects.order_by("display_name", "pk"), self.client, Action.VIEW)

    def optimize(self, queryset: QuerySet[Any], options: QueryOptions) -> QuerySet[Any]:
        return queryset.prefetch_related("domains")


class OrganizationList(OrganizationMixin):
    @extend_schema(
        tags=ORGANIZATION_TAG,
        parameters=COLLECTION_PARAMETERS,
        responses={200: page_of(ConnectedOrganizationOut, "ConnectedOrganization"), **ERRORS},
    )
    def get(self, request: Request) -> Response:
        return self.list_response(request)

    @extend_schema(
        tags=ORGANIZATION_TAG, request=ORGANIZATION_INPUT, responses={201: ConnectedOrganizationOut, **ERRORS}
    )
    def post(self, request: Request) -> Response:
        changes = _organization_changes(body_of(request))
        organization = organization_services.create_organization(
            self.client,
            display_name=changes.get("display_name", ""),
            description=changes.get("description", ""),
            domains=changes.get("domains", []),
            state=changes.get("state", ConnectedOrganizationState.CONFIGURED),
        )
        return self.render(organization, status=201)


class OrganizationItem(OrganizationMixin):
    @extend_schema(
        tags=ORGANIZATION_TAG, parameters=ITEM_PARAMETERS, responses={200: ConnectedOrganizationOut, **ERRORS}
    )
    def get(self, request: Request, pk: uuid.UUID) -> Response:
        return self.retrieve(request, pk)

    @extend_schema(
        tags=ORGANIZATION_TAG, request=ORGANIZATION_INPUT, responses={202: ConnectedOrganizationOut, **ERRORS}
    )
    def patch(self, request: Request, pk: uuid.UUID) -> Response:
        """Graph documents this one PATCH as ``202 Accepted`` with the object (connectedorganization-update.md)."""
        changes = _organization_changes(body_of(request))
        return self.render(organization_services.update_organization(self.client, pk, **changes), status=202)

    @extend_schema(tags=ORGANIZATION_TAG, responses={204: None, **ERRORS})
    def delete(self, request: Request, pk: uuid.UUID) -> Response:
        organization_services.delete_organization(self.client, pk)
        return no_content()
