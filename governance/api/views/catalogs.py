"""catalogs, catalogs/{id}/resources, catalogs/{id}/resourceRoles, resources, resourceRequests."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import Prefetch, QuerySet
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
    free_text_of,
    id_of,
    name_and_description,
    name_field,
    name_of,
    no_content,
    object_of,
    page_of,
    refuse_unknown,
    text_field,
    text_of,
)
from governance.api.odata import QueryOptions, enum, flag, ident, moment, text
from governance.api.serializers import (
    ORIGIN_SYSTEM,
    RESOURCE_TYPE_OF_ORIGIN,
    CatalogOut,
    ResourceOut,
    ResourceRequestOut,
    ResourceRoleOut,
    stored_role_origin_id,
)
from governance.connectors.builtin import builtin_connector
from governance.errors import NotFound, ValidationFailed
from governance.ids import is_uuid
from governance.models import AccessPackage, AuditEvent, Catalog, CatalogState, DirectoryGroup, Resource, ResourceRole
from governance.permissions import Action, get_for, restrict
from governance.services import catalogs as catalog_services
from governance.services.text import one_line

TAG = ["catalogs"]

CATALOG_INPUT = inline_serializer(
    "CatalogInput",
    fields={
        "displayName": name_field(),
        "description": text_field(required=False),
        "isExternallyVisible": serializers.BooleanField(required=False),
        "state": serializers.ChoiceField(choices=CatalogState.values, required=False),
        "catalogType": serializers.ChoiceField(choices=["userManaged"], required=False),
    },
)
CATALOG_PROPERTIES = ("displayName", "description", "isExternallyVisible", "state", "catalogType")


def _catalog_changes(data: dict[str, Any]) -> dict[str, Any]:
    refuse_unknown(data, (*CATALOG_PROPERTIES, "id"))
    if data.get("catalogType") not in (None, "userManaged"):
        raise ValidationFailed("Only userManaged catalogs exist here.", field="catalogType")
    changes = name_and_description(data)
    if "isExternallyVisible" in data:
        changes["is_externally_visible"] = bool_of(data, "isExternallyVisible", True)
    if "state" in data:
        state = text_of(data, "state")
        if state not in CatalogState.values:
            raise ValidationFailed(f"'state' is one of {', '.join(CatalogState.values)}.", field="state")
        changes["state"] = state
    return changes


class CatalogMixin(ResourceView):
    serializer = CatalogOut
    noun = "catalog"
    filters = {
        "id": ident("pk"),
        "displayName": text("display_name"),
        "state": enum("state", CatalogState.values),
        "isExternallyVisible": flag("is_externally_visible"),
        "createdDateTime": moment("created_at"),
        "modifiedDateTime": moment("modified_at"),
    }
    expandable = {"accessPackages": frozenset()}

    def base_queryset(self) -> QuerySet[Catalog]:
        return restrict(Catalog.objects.all(), self.client, Action.VIEW)

    def optimize(self, queryset: QuerySet[Any], options: QueryOptions) -> QuerySet[Any]:
        if options.expands("accessPackages"):
            packages = restrict(AccessPackage.objects.order_by("created_at", "pk"), self.client, Action.VIEW)
            queryset = queryset.prefetch_related(Prefetch("packages", queryset=packages))
        return queryset


class CatalogList(CatalogMixin):
    @extend_schema(
        tags=TAG, parameters=COLLECTION_PARAMETERS, responses={200: page_of(CatalogOut, "Catalog"), **ERRORS}
    )
    def get(self, request: Request) -> Response:
        return self.list_response(request)

    @extend_schema(tags=TAG, request=CATALOG_INPUT, responses={201: CatalogOut, **ERRORS})
    def post(self, request: Request) -> Response:
        changes = _catalog_changes(body_of(request))
        if "display_name" not in changes:
            raise ValidationFailed("'displayName' is required.", field="displayName")
        state = changes.pop("state", None)
        catalog = catalog_services.create_catalog(
            self.client,
            display_name=changes["display_name"],
            description=changes.get("description", ""),
            is_externally_visible=changes.get("is_externally_visible", True),
        )
        if state and state != catalog.state:
            catalog = catalog_services.update_catalog(self.client, catalog.pk, state=state)
        return self.render(catalog, status=201)


class CatalogItem(CatalogMixin):
    @extend_schema(tags=TAG, parameters=ITEM_PARAMETERS, responses={200: CatalogOut, **ERRORS})
    def get(self, request: Request, pk: uuid.UUID) -> Response:
        return self.retrieve(request, pk)

    @extend_schema(tags=TAG, request=CATALOG_INPUT, responses={204: None, **ERRORS})
    def patch(self, request: Request, pk: uuid.UUID) -> Response:
        changes = _catalog_changes(body_of(request))
        catalog_services.update_catalog(self.client, pk, **changes)
        return no_content()

    @extend_schema(tags=TAG, responses={204: None, **ERRORS})
    def delete(self, request: Request, pk: uuid.UUID) -> Response:
        catalog_services.delete_catalog(self.client, pk)
        return no_content()


# --- Resources ----------------------------------------------------------------------------


def _origin_system(value: str) -> list[str] | str:
    return RESOURCE_TYPE_OF_ORIGIN.get(value, value)


class ResourceMixin(ResourceView):
    serializer = ResourceOut
    noun = "resource"
    filters = {
        "id": ident("pk"),
        "displayName": text("display_name"),
        "originId": text("origin_id"),
        "originSystem": enum("resource_type", RESOURCE_TYPE_OF_ORIGIN.values(), convert=_origin_system),
        "catalog/id": ident("catalog_id"),
        "createdDateTime": moment("created_at"),
    }
    expandable = {"roles": frozenset(), "scopes": frozenset(), "catalog": frozenset(), "environment": frozenset()}

    def base_queryset(self) -> QuerySet[Resource]:
        return restrict(Resource.objects.all(), self.client, Action.VIEW)

    def optimize(self, queryset: QuerySet[Any], options: QueryOptions) -> QuerySet[Any]:
        if options.expands("roles"):
            queryset = queryset.prefetch_related("roles")
        if options.expands("catalog"):
            queryset = queryset.select_related("catalog")
        return queryset


class ResourceList(ResourceMixin):
    @extend_schema(
        tags=TAG, parameters=COLLECTION_PARAMETERS, responses={200: page_of(ResourceOut, "Resource"), **ERRORS}
    )
    def get(self, request: Request) -> Response:
        return self.list_response(request)


class ResourceItem(ResourceMixin):
    @extend_schema(tags=TAG, parameters=ITEM_PARAMETERS, responses={200: ResourceOut, **ERRORS})
    def get(self, request: Request, pk: uuid.UUID) -> Response:
        return self.retrieve(request, pk)


class CatalogResourceList(ResourceMixin):
    @extend_schema(
        tags=TAG, parameters=COLLECTION_PARAMETERS, responses={200: page_of(ResourceOut, "CatalogResource"), **ERRORS}
    )
    def get(self, request: Request, pk: uuid.UUID) -> Response:
        catalog = get_for(self.client, Action.VIEW, Catalog.objects.all(), pk, "catalog")
        return self.list_response(request, self.base_queryset().filter(catalog=catalog))


class CatalogResourceRoleList(ResourceView):
    """The roles of a catalog's resources: what a package's resourceRoleScope names."""

    serializer = ResourceRoleOut
    noun = "resource role"
    filters = {
        "id": ident("pk"),
        "displayName": text("display_name"),
        "originId": text("origin_id", convert=stored_role_origin_id),
        "originSystem": enum("resource__resource_type", RESOURCE_TYPE_OF_ORIGIN.values(), convert=_origin_system),
        "resource/id": ident("resource_id"),
        "resource/originId": text("resource__origin_id"),
    }
    # The resource is always embedded; Graph scripts ask for it anyway.
    expandable = {"resource": frozenset()}

    def base_queryset(self) -> QuerySet[ResourceRole]:
        return restrict(ResourceRole.objects.all(), self.client, Action.VIEW)

    def optimize(self, queryset: QuerySet[Any], options: QueryOptions) -> QuerySet[Any]:
        return queryset.select_related("resource")

    @extend_schema(
        tags=TAG,
        parameters=COLLECTION_PARAMETERS,
        responses={200: page_of(ResourceRoleOut, "ResourceRole"), **ERRORS},
    )
    def get(self, request: Request, pk: uuid.UUID) -> Response:
        catalog = get_for(self.client, Action.VIEW, Catalog.objects.all(), pk, "catalog")
        return self.list_response(request, self.base_queryset().filter(resource__catalog=catalog))


RESOURCE_REQUEST_INPUT = inline_serializer(
    "ResourceRequestInput",
    fields={
        "requestType": serializers.ChoiceField(choices=["adminAdd", "adminRemove"]),
        "resource": inline_serializer(
            "ResourceRequestResource",
            fields={
                "id": serializers.UUIDField(required=False),
                "originId": text_field(required=False),
                "originSystem": serializers.ChoiceField(choices=list(ORIGIN_SYSTEM.values()), required=False),
                "displayName": name_field(required=False),
                "description": text_field(required=False),
            },
        ),
        "catalog": inline_serializer("ResourceRequestCatalog", fields={"id": serializers.UUIDField()}),
    },
)


class ResourceRequestList(ResourceView):
    """Add a resource to a catalog, or remove it (Graph's accessPackageResourceRequest).

    The change happens at once, so the answer's state is ``delivered``; its id is the audit
    row's, the record that it happened.
    """

    serializer = ResourceRequestOut
    noun = "resource request"

    @extend_schema(tags=TAG, request=RESOURCE_REQUEST_INPUT, responses={201: ResourceRequestOut, **ERRORS})
    def post(self, request: Request) -> Response:
        data = body_of(request)
        refuse_unknown(data, ("requestType", "resource", "catalog", "justification"))
        request_type = text_of(data, "requestType", required=True)
        resource_data = object_of(data, "resource", required=True)
        refuse_unknown(resource_data, ("id", "originId", "originSystem", "displayName", "description"), "resource")
        catalog_id = id_of(object_of(data, "catalog", required=True), "id", required=True)
        if catalog_id is None or not is_uuid(catalog_id):
            raise NotFound("Catalog not found.")
        if request_type == "adminAdd":
            resource = self._add(catalog_id, resource_data)
            action = "resource.added"
        elif request_type == "adminRemove":
            resource = self._find(catalog_id, resource_data)
            catalog_services.delete_resource(self.client, resource.pk)
            action = "resource.deleted"
        else:
            raise ValidationFailed("'requestType' is adminAdd or adminRemove.", field="requestType")
        event = AuditEvent.objects.filter(action=action, object_id=str(resource.pk)).order_by("-pk").first()
        assert event is not None  # the service wrote it in its transaction
        outcome = {
            "id": str(uuid.UUID(int=event.pk)),
            "request_type": request_type,
            "state": "delivered",
            "created_at": event.created_at,
            "resource": resource,
            "catalog": resource.catalog,
        }
        return Response(ResourceRequestOut(outcome).data, status=201)

    def _add(self, catalog_id: str, data: dict[str, Any]) -> Resource:
        origin_system = text_of(data, "originSystem", default="AadGroup")
        if origin_system != "AadGroup":
            raise ValidationFailed(
                "Only groups of the built-in directory (originSystem AadGroup) can be added through the API; "
                "add resources of other connectors in the portal.",
                field="originSystem",
            )
        origin_id = text_of(data, "originId", required=True)
        group = DirectoryGroup.objects.filter(pk=origin_id).first() if is_uuid(origin_id) else None
        if group is None:
            raise ValidationFailed("No group of the built-in directory has this originId.", field="originId")
        return catalog_services.add_resource(
            self.client,
            catalog_id,
            connector_id=builtin_connector().pk,
            origin_id=str(group.pk),
            display_name=name_of(data, "displayName") or one_line(group.display_name),
            description=free_text_of(data, "description") or group.description,
        )

    def _find(self, catalog_id: str, data: dict[str, Any]) -> Resource:
        catalog = get_for(self.client, Action.VIEW, Catalog.objects.all(), catalog_id, "catalog")
        resources = restrict(Resource.objects.filter(catalog=catalog), self.client, Action.VIEW)
        resource_id = id_of(data, "id")
        if resource_id is not None:
            found = resources.filter(pk=resource_id).first() if is_uuid(resource_id) else None
        else:
            found = resources.filter(origin_id=text_of(data, "originId", required=True)).first()
        if found is None:
            raise NotFound("Resource not found in this catalog.")
        return found
