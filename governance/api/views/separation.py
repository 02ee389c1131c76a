"""Separation of duties on a package (rule 13): ``incompatibleAccessPackages``,
``accessPackagesIncompatibleWith`` and ``incompatibleGroups``, with Graph's ``$ref`` to
add (POST, ``@odata.id``) and remove (DELETE) a link."""

from __future__ import annotations

import re
import uuid
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework.request import Request
from rest_framework.response import Response

from governance.api.base import (
    COLLECTION_PARAMETERS,
    ERRORS,
    body_of,
    no_content,
    page_of,
    refuse_unknown,
    text_field,
    text_of,
)
from governance.api.serializers import GroupOut, PackageOut
from governance.api.views.directory import GroupMixin
from governance.api.views.packages import PACKAGE_TAG, PackageMixin
from governance.errors import NotFound, ValidationFailed
from governance.models import AccessPackage, DirectoryGroup
from governance.permissions import Action, get_for
from governance.services import separation

REF_INPUT = inline_serializer("ODataReference", fields={"@odata.id": text_field()})
_UUID = r"([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})"


def referenced_id(data: dict[str, Any], collection: str) -> str:
    """The id at the end of ``@odata.id`` (``…/accessPackages/{id}``, ``…/groups/{id}``)."""
    refuse_unknown(data, ("@odata.id",))
    reference = text_of(data, "@odata.id", required=True) or ""
    found = re.search(rf"(?:^|/){collection}/{_UUID}/?$", reference) or re.search(
        rf"(?:^|/){collection}\('{_UUID}'\)$", reference
    )
    if found is None:
        raise ValidationFailed(f"'@odata.id' is the URL of one of {collection} (…/{collection}/{{id}}).")
    return found.group(1)


def _package(client: Any, pk: uuid.UUID) -> AccessPackage:
    package: AccessPackage = get_for(client, Action.VIEW, AccessPackage.objects.all(), pk, "access package")
    return package


class IncompatiblePackageList(PackageMixin):
    @extend_schema(
        tags=PACKAGE_TAG,
        parameters=COLLECTION_PARAMETERS,
        responses={200: page_of(PackageOut, "IncompatibleAccessPackage"), **ERRORS},
    )
    def get(self, request: Request, pk: uuid.UUID) -> Response:
        package = _package(self.client, pk)
        listed: QuerySet[AccessPackage] = self.base_queryset().filter(incompatible_with=package)
        return self.list_response(request, listed.order_by("display_name", "pk"))


class IncompatiblePackageRef(PackageMixin):
    @extend_schema(tags=PACKAGE_TAG, request=REF_INPUT, responses={204: None, **ERRORS})
    def post(self, request: Request, pk: uuid.UUID) -> Response:
        other = referenced_id(body_of(request), "accessPackages")
        separation.add_incompatible_package(self.client, pk, other)
        return no_content()


class IncompatiblePackageItemRef(PackageMixin):
    @extend_schema(tags=PACKAGE_TAG, responses={204: None, **ERRORS})
    def delete(self, request: Request, pk: uuid.UUID, other: uuid.UUID) -> Response:
        package = _package(self.client, pk)
        if not package.incompatible_packages.filter(pk=other).exists():
            raise_not_linked("access package")
        separation.remove_incompatible_package(self.client, pk, other)
        return no_content()


class PackagesIncompatibleWith(PackageMixin):
    @extend_schema(
        tags=PACKAGE_TAG,
        parameters=COLLECTION_PARAMETERS,
        responses={200: page_of(PackageOut, "AccessPackageIncompatibleWith"), **ERRORS},
    )
    def get(self, request: Request, pk: uuid.UUID) -> Response:
        package = _package(self.client, pk)
        listing: QuerySet[AccessPackage] = self.base_queryset().filter(incompatible_packages=package)
        return self.list_response(request, listing.order_by("display_name", "pk"))


class IncompatibleGroupList(GroupMixin):
    @extend_schema(
        tags=PACKAGE_TAG,
        parameters=COLLECTION_PARAMETERS,
        responses={200: page_of(GroupOut, "IncompatibleGroup"), **ERRORS},
    )
    def get(self, request: Request, pk: uuid.UUID) -> Response:
        package = _package(self.client, pk)
        groups: QuerySet[DirectoryGroup] = self.base_queryset().filter(incompatible_packages=package)
        return self.list_response(request, groups)


class IncompatibleGroupRef(GroupMixin):
    @extend_schema(tags=PACKAGE_TAG, request=REF_INPUT, responses={204: None, **ERRORS})
    def post(self, request: Request, pk: uuid.UUID) -> Response:
        group = referenced_id(body_of(request), "groups")
        separation.add_incompatible_group(self.client, pk, group)
        return no_content()


class IncompatibleGroupItemRef(GroupMixin):
    @extend_schema(tags=PACKAGE_TAG, responses={204: None, **ERRORS})
    def delete(self, request: Request, pk: uuid.UUID, group: uuid.UUID) -> Response:
        package = _package(self.client, pk)
        if not package.incompatible_groups.filter(pk=group).exists():
            raise_not_linked("group")
        separation.remove_incompatible_group(self.client, pk, group)
        return no_content()


def raise_not_linked(noun: str) -> None:
    raise NotFound(f"This {noun} is not listed as incompatible with the access package.")
