"""Catalogs, their members' roles, and the resources in them (rule 10 for deletes)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from governance.audit import log_action
from governance.connectors import ConnectorError, for_connector, registry
from governance.connectors.base import BaseConnector
from governance.errors import NotAllowed, NotFound, NotResourceOwner, StillInUse, ValidationFailed
from governance.ids import is_uuid
from governance.models import (
    Catalog,
    CatalogRole,
    CatalogRoleAssignment,
    Connector,
    GrantState,
    PackageResourceRole,
    Resource,
    ResourceRole,
    ResourceType,
    RoleGrant,
    User,
)
from governance.models.identity import person_of
from governance.permissions import (
    Action,
    can_add_resource,
    can_globally,
    forget_roles,
    get_for,
    may_add_any_resource,
)
from governance.services.delivery import subject_of
from governance.services.locks import lock_for
from governance.services.text import clean_name, clean_text


def create_catalog(
    actor: Any, *, display_name: str, description: str = "", is_externally_visible: bool = True
) -> Catalog:
    if not can_globally(actor, Action.CREATE_CATALOG):
        raise NotAllowed("You may not create catalogs.")
    display_name = clean_name(display_name, "display_name")
    if Catalog.objects.filter(display_name__iexact=display_name).exists():
        raise ValidationFailed("A catalog with this name already exists.", field="display_name")
    with transaction.atomic():
        catalog = Catalog.objects.create(
            display_name=display_name,
            description=clean_text(description, "description"),
            is_externally_visible=is_externally_visible,
        )
        log_action(actor, "catalog.created", catalog)
        creator = person_of(actor)
        if creator is not None:
            # Whoever creates a catalog owns it, as in Entra.
            CatalogRoleAssignment.objects.create(catalog=catalog, user=creator, role=CatalogRole.OWNER)
            log_action(actor, "catalog.role_added", catalog, user=creator.username, role=CatalogRole.OWNER)
            forget_roles(actor)
    return catalog


def update_catalog(actor: Any, catalog_id: UUID | str, **changes: Any) -> Catalog:
    allowed = {"display_name", "description", "is_externally_visible", "state"}
    if set(changes) - allowed:
        raise ValidationFailed(f"Cannot change {', '.join(sorted(set(changes) - allowed))} here.")
    with transaction.atomic():
        catalog: Catalog = lock_for(actor, Action.MANAGE_CATALOG, Catalog.objects, catalog_id, "catalog")
        if "description" in changes:
            changes["description"] = clean_text(changes["description"], "description")
        if "display_name" in changes:
            changes["display_name"] = clean_name(changes["display_name"], "display_name")
            if Catalog.objects.filter(display_name__iexact=changes["display_name"]).exclude(pk=catalog.pk).exists():
                raise ValidationFailed("A catalog with this name already exists.", field="display_name")
        diff = {k: [getattr(catalog, k), v] for k, v in changes.items() if getattr(catalog, k) != v}
        for name, value in changes.items():
            setattr(catalog, name, value)
        if diff:
            catalog.save()
            log_action(actor, "catalog.updated", catalog, changes=diff)
    return catalog


def delete_catalog(actor: Any, catalog_id: UUID | str) -> None:
    """Rule 10: only a catalog with no packages and no resources."""
    with transaction.atomic():
        catalog: Catalog = lock_for(actor, Action.MANAGE_CATALOG, Catalog.objects, catalog_id, "catalog")
        packages = list(catalog.packages.values_list("display_name", flat=True)[:6])
        resources = list(catalog.resources.values_list("display_name", flat=True)[:6])
        reasons = []
        if packages:
            reasons.append(f"access packages ({_listing(packages)})")
        if resources:
            reasons.append(f"resources ({_listing(resources)})")
        if reasons:
            raise StillInUse(f"{catalog} still has {' and '.join(reasons)}; remove them first.")
        log_action(actor, "catalog.deleted", catalog)
        catalog.delete()


def _listing(names: Sequence[str], shown: int = 5) -> str:
    text = ", ".join(names[:shown])
    return text + ", …" if len(names) > shown else text


def add_catalog_role(actor: Any, catalog_id: UUID | str, user_id: UUID | str, role: str) -> CatalogRoleAssignment:
    if role not in CatalogRole.values:
        raise ValidationFailed("Choose a catalog role.", field="role")
    if not is_uuid(catalog_id):
        raise NotFound("Catalog not found.")
    user = User.objects.filter(pk=user_id, is_active=True).first() if is_uuid(user_id) else None
    if user is None:
        raise ValidationFailed("Choose an existing, enabled user.", field="user")
    with transaction.atomic():
        catalog: Catalog = get_for(actor, Action.MANAGE_CATALOG, Catalog.objects.all(), catalog_id, "catalog")
        assignment, created = CatalogRoleAssignment.objects.get_or_create(catalog=catalog, user=user, role=role)
        if created:
            log_action(actor, "catalog.role_added", catalog, user=user.username, role=role)
    return assignment


def remove_catalog_role(actor: Any, role_assignment_id: UUID | str) -> None:
    if not is_uuid(role_assignment_id):
        return
    with transaction.atomic():
        found = CatalogRoleAssignment.objects.select_related("catalog", "user").filter(pk=role_assignment_id).first()
        if found is None:
            return  # already gone: removing twice is a no-op
        get_for(actor, Action.MANAGE_CATALOG, Catalog.objects.all(), found.catalog_id, "catalog")
        log_action(actor, "catalog.role_removed", found.catalog, user=found.user.username, role=found.role)
        found.delete()


def add_resource(
    actor: Any,
    catalog_id: UUID | str,
    *,
    connector_id: UUID | str,
    origin_id: str,
    display_name: str,
    description: str = "",
    resource_type: str = ResourceType.GROUP,
    roles: Sequence[tuple[str, str]] = (("member", "Member"),),
) -> Resource:
    """Bring a target system's group/application/site into a catalog, with its roles.

    Rule 17: only a global or user administrator, or an owner of the resource in its
    directory, may (:class:`NotResourceOwner` otherwise).
    """
    if not is_uuid(catalog_id):
        raise NotFound("Catalog not found.")
    if not str(origin_id or "").strip():
        raise ValidationFailed("Choose the resource in the target system.", field="origin_id")
    origin_id = clean_name(origin_id, "origin_id", max_length=512, what="resource id")
    if resource_type not in ResourceType.values:
        raise ValidationFailed("Choose a resource type.", field="resource_type")
    if not roles:
        raise ValidationFailed("A resource needs at least one role.", field="roles")
    connector = Connector.objects.filter(pk=connector_id, enabled=True).first() if is_uuid(connector_id) else None
    if connector is None:
        raise ValidationFailed("Choose an enabled connector.", field="connector")
    display_name = clean_name(display_name, "display_name")
    with transaction.atomic():
        catalog: Catalog = get_for(actor, Action.MANAGE_CATALOG, Catalog.objects.all(), catalog_id, "catalog")
        owners = None if may_add_any_resource(actor) else _owners_of(connector, origin_id, display_name)
        if not can_add_resource(actor, catalog.pk, owners):
            raise NotResourceOwner(_not_an_owner(connector, display_name, owners))
        try:
            with transaction.atomic():
                resource = Resource.objects.create(
                    catalog=catalog,
                    connector=connector,
                    origin_id=origin_id,
                    display_name=display_name,
                    description=clean_text(description, "description"),
                    resource_type=resource_type,
                )
        except IntegrityError as exc:
            raise ValidationFailed("This resource is already in the catalog.", field="origin_id") from exc
        ResourceRole.objects.bulk_create(
            ResourceRole(
                resource=resource,
                origin_id=clean_name(role_id, "roles", max_length=512, what="role id"),
                display_name=clean_name(label, "roles", what="role name"),
            )
            for role_id, label in roles
        )
        log_action(actor, "resource.added", resource, connector=connector.display_name, origin_id=origin_id)
    return resource


def _owners_of(connector: Connector, origin_id: str, display_name: str) -> set[UUID] | None:
    """Who owns the resource in its directory; None when the directory does not say."""
    try:
        owners = for_connector(connector).owners([origin_id])
    except ConnectorError as error:
        raise ValidationFailed(
            f"Cannot tell who owns {display_name} in {connector}: {error.message}", field="origin_id"
        ) from error
    return None if owners is None else owners.get(origin_id, set())


def _not_an_owner(connector: Connector, display_name: str, owners: set[UUID] | None) -> str:
    if owners is None:
        return (
            f"{connector} does not say who owns its resources, so only a global or user administrator "
            f"can add {display_name} to a catalog."
        )
    return (
        f"You are not an owner of {display_name} in {connector}. Only its owners and global or user "
        "administrators can add it to a catalog."
    )


@dataclass(frozen=True)
class Candidate:
    """A resource the picker offers: whether it is in the catalog already, and its owners'
    names (None when its directory does not say)."""

    origin_id: str
    display_name: str
    in_catalog: bool
    owners: list[str] | None


def addable_connectors(actor: Any) -> QuerySet[Connector]:
    """Connectors whose resources the actor may add somewhere: all for administrators,
    otherwise those whose directory says who owns what (rule 17)."""
    connectors = Connector.objects.filter(enabled=True).order_by("display_name")
    if may_add_any_resource(actor):
        return connectors
    return connectors.filter(kind__in=[kind for kind, cls in registry.current().classes.items() if cls.knows_owners])


def can_list_resources(connector: Connector) -> bool:
    """Whether the connector's target can be searched for resources; where it cannot (a
    webhook), the Add resource page asks for the resource's id and name instead."""
    cls = registry.find(connector.kind)
    return cls is not None and cls.search is not BaseConnector.search


def test_resource(actor: Any, catalog_id: UUID | str, connector_id: UUID | str, origin_id: str) -> tuple[bool, str]:
    """Add resource's "Test": look the typed id up in the connector (or reach the connector
    when it cannot look resources up). Changes nothing; (worked, what happened)."""
    if not is_uuid(catalog_id):
        raise NotFound("Catalog not found.")
    get_for(actor, Action.MANAGE_CATALOG, Catalog.objects.all(), catalog_id, "catalog")
    origin_id = str(origin_id or "").strip()
    if not origin_id:
        raise ValidationFailed("Type the resource's id in the target system.", field="origin_id")
    origin_id = clean_name(origin_id, "origin_id", max_length=512, what="resource id")
    connector = addable_connectors(actor).filter(pk=connector_id).first() if is_uuid(connector_id) else None
    if connector is None:
        raise ValidationFailed("Choose an enabled connector.", field="connector")
    try:
        target = for_connector(connector)
    except ConnectorError as exc:
        return False, exc.message
    try:
        return True, target.check_resource(origin_id)
    except ConnectorError as exc:
        return False, exc.message
    finally:
        target.close()


def find_resources(actor: Any, catalog: Catalog, connector: Connector, query: str) -> list[Candidate]:
    """The Add resource picker: what ``query`` finds in the connector that the actor may add
    to the catalog (rule 17), with each one's owners. Raises ConnectorError when the target
    system cannot be searched."""
    target = for_connector(connector)
    owned_by = None
    if not may_add_any_resource(actor):
        person = person_of(actor)
        if person is None or not target.knows_owners:
            return []
        owned_by = subject_of(person)
    found = target.search(query, owned_by=owned_by)
    owners = target.owners([origin_id for origin_id, _ in found])
    present = set(
        Resource.objects.filter(
            catalog=catalog, connector=connector, origin_id__in=[origin_id for origin_id, _ in found]
        ).values_list("origin_id", flat=True)
    )
    everyone = set().union(*owners.values()) if owners else set()
    names = {user.pk: str(user) for user in User.objects.filter(pk__in=everyone)}
    candidates = []
    for origin_id, name in found:
        owner_ids = None if owners is None else owners.get(origin_id, set())
        if not can_add_resource(actor, catalog.pk, owner_ids):
            continue
        shown = None if owner_ids is None else sorted(names[pk] for pk in owner_ids if pk in names)
        candidates.append(Candidate(origin_id, name, origin_id in present, shown))
    return candidates


def delete_resource(actor: Any, resource_id: UUID | str) -> None:
    """Rule 10: only a resource no package uses (ended grants' history goes with it)."""
    with transaction.atomic():
        resource: Resource = lock_for(actor, Action.MANAGE_CATALOG, Resource.objects, resource_id, "resource")
        users = sorted(
            set(
                PackageResourceRole.objects.filter(resource_role__resource=resource).values_list(
                    "package__display_name", flat=True
                )
            )
        )
        if users:
            raise StillInUse(
                f"{resource} is used by access packages: {_listing(users)}. Remove its roles from them first."
            )
        live = RoleGrant.objects.filter(resource_role__resource=resource).exclude(state=GrantState.REVOKED).count()
        if live:
            raise StillInUse(f"Access to {resource} is still being delivered or removed ({live}); try again later.")
        RoleGrant.objects.filter(resource_role__resource=resource).delete()
        log_action(actor, "resource.deleted", resource)
        resource.delete()
