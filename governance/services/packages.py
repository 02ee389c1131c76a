"""Access packages: create, edit (Hidden), delete (rule 10), resource roles (rule 8)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone

from governance.audit import build_event, log_action
from governance.errors import NotAllowed, StillInUse, ValidationFailed
from governance.ids import is_uuid
from governance.machines import ASSIGNMENT, GRANT, apply_bulk
from governance.models import (
    AccessPackage,
    Assignment,
    AssignmentRequest,
    AssignmentState,
    AuditEvent,
    Catalog,
    GrantState,
    PackageResourceRole,
    RequestState,
    RequestType,
    ResourceRole,
    RoleGrant,
    RoleOperation,
    RoleOperationKind,
    RoleOperationState,
)
from governance.permissions import Action, can_in_catalog, restrict
from governance.services import dispatch
from governance.services.grants import back_to_work, refresh_states, unwant_grants
from governance.services.locks import lock_for
from governance.services.text import clean_name, clean_text

PROPAGATION_BATCH = 500


def create_package(
    actor: Any, catalog_id: UUID | str, *, display_name: str, description: str = "", is_hidden: bool = False
) -> AccessPackage:
    if not is_uuid(catalog_id):
        raise ValidationFailed("Choose a catalog.", field="catalog")
    catalog = restrict(Catalog.objects.all(), actor, Action.VIEW).filter(pk=catalog_id).first()
    if catalog is None:
        raise ValidationFailed("Choose a catalog.", field="catalog")
    if not can_in_catalog(actor, Action.MANAGE, catalog.pk):
        raise NotAllowed("You may not create access packages in this catalog.", field="catalog")
    with transaction.atomic():
        package = AccessPackage.objects.create(
            catalog=catalog,
            display_name=clean_name(display_name, "display_name"),
            description=clean_text(description, "description"),
            is_hidden=bool(is_hidden),
        )
        log_action(actor, "package.created", package, hidden=package.is_hidden)
    return package


def update_package(actor: Any, package_id: UUID | str, **changes: Any) -> AccessPackage:
    """Edit name, description and **Hidden**. Unknown fields are refused."""
    allowed = {"display_name", "description", "is_hidden"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationFailed(f"Cannot change {', '.join(sorted(unknown))} here.")
    with transaction.atomic():
        package: AccessPackage = lock_for(actor, Action.MANAGE, AccessPackage.objects, package_id, "access package")
        diff = {}
        for name, value in changes.items():
            if name == "display_name":
                value = clean_name(value, "display_name")
            elif name == "description":
                value = clean_text(value, "description")
            elif name == "is_hidden":
                value = bool(value)
            if getattr(package, name) != value:
                diff[name] = [getattr(package, name), value]
                setattr(package, name, value)
        if diff:
            package.save()
            log_action(actor, "package.updated", package, changes=diff)
    return package


def set_hidden(actor: Any, package_id: UUID | str, hidden: bool) -> AccessPackage:
    return update_package(actor, package_id, is_hidden=hidden)


def delete_package(actor: Any, package_id: UUID | str) -> None:
    """Rule 10: only with no active assignments (and nothing still in flight)."""
    with transaction.atomic():
        package: AccessPackage = lock_for(actor, Action.MANAGE, AccessPackage.objects, package_id, "access package")
        active = package.assignments.filter(state__in=AssignmentState.ACTIVE).count()
        if active:
            raise StillInUse(
                f"{package} has {active} active assignment{'s' if active != 1 else ''}; "
                "remove them before deleting the package."
            )
        # Removals in flight are waited for below; requests that would grant access block.
        open_requests = (
            package.requests.filter(state__in=RequestState.OPEN).exclude(request_type__in=RequestType.REMOVES).count()
        )
        if open_requests:
            raise StillInUse(
                f"{package} has {open_requests} open request{'s' if open_requests != 1 else ''}; "
                "cancel them before deleting the package."
            )
        in_flight = RoleGrant.objects.filter(assignment__package=package, state__in=GrantState.WORK).count()
        if in_flight:
            raise StillInUse(
                f"Access from {package} is still being removed ({in_flight} pending); try again in a moment."
            )
        log_action(actor, "package.deleted", package)
        package.delete()


# --- Resource roles (rule 8) ----------------------------------------------------------


def add_resource_role(actor: Any, package_id: UUID | str, resource_role_id: UUID | str) -> RoleOperation | None:
    """Add a role to a package; every active assignment then gets it, in the background.

    Adding a role the package already has is a no-op (returns None).
    """
    with transaction.atomic():
        package: AccessPackage = lock_for(actor, Action.MANAGE, AccessPackage.objects, package_id, "access package")
        role = (
            ResourceRole.objects.select_related("resource")
            .filter(pk=resource_role_id, resource__catalog_id=package.catalog_id)
            .first()
            if is_uuid(resource_role_id)
            else None
        )
        if role is None:
            raise ValidationFailed("Choose a role of a resource in this package's catalog.", field="resource_role")
        _, created = PackageResourceRole.objects.get_or_create(package=package, resource_role=role)
        if not created:
            return None
        operation = RoleOperation.objects.create(
            package=package,
            resource_role=role,
            role_label=str(role),
            kind=RoleOperationKind.ADD,
            total=package.assignments.filter(state__in=AssignmentState.ACTIVE).count(),
        )
        log_action(actor, "package.role_added", package, role=str(role), role_id=str(role.pk))
        _queue_propagation(operation)
    return operation


def add_resource_roles(
    actor: Any, package_id: UUID | str, resource_role_ids: Sequence[UUID | str]
) -> list[tuple[str, RoleOperation | None]]:
    """Add several roles at once (seed 003): all or none. Returns each role's name with its
    propagation (None: the package already had it)."""
    if not resource_role_ids:
        raise ValidationFailed("Select the resources you want to add.", field="resources")
    done = []
    with transaction.atomic():
        for role_id in dict.fromkeys(str(pk) for pk in resource_role_ids):
            operation = add_resource_role(actor, package_id, role_id)
            label = operation.role_label if operation else str(ResourceRole.objects.get(pk=role_id))
            done.append((label, operation))
    return done


def remove_resource_role(actor: Any, package_id: UUID | str, resource_role_id: UUID | str) -> RoleOperation | None:
    """Remove a role from a package; active assignments lose it (rule 7 still applies).

    Removing a role the package does not have is a no-op (returns None).
    """
    with transaction.atomic():
        package: AccessPackage = lock_for(actor, Action.MANAGE, AccessPackage.objects, package_id, "access package")
        link = (
            PackageResourceRole.objects.select_related("resource_role__resource")
            .filter(package=package, resource_role_id=UUID(str(resource_role_id)))
            .first()
            if is_uuid(resource_role_id)
            else None
        )
        if link is None:
            return None
        role = link.resource_role
        link.delete()
        operation = RoleOperation.objects.create(
            package=package,
            resource_role=role,
            role_label=str(role),
            kind=RoleOperationKind.REMOVE,
            total=RoleGrant.objects.filter(
                assignment__package=package,
                assignment__state__in=AssignmentState.ACTIVE,
                resource_role=role,
                state__in=GrantState.WANTED,
            ).count(),
        )
        log_action(actor, "package.role_removed", package, role=str(role), role_id=str(role.pk))
        _queue_propagation(operation)
    return operation


def _queue_propagation(operation: RoleOperation) -> None:
    dispatch.send_on_commit(dispatch.PROPAGATE_ROLE_OPERATION, str(operation.pk))


def propagate_role_operation(
    operation_id: UUID, batch_size: int = PROPAGATION_BATCH, max_seconds: float = 20.0
) -> bool:
    """Write the desired grants, batch by batch. True when the operation is done; False when
    the time budget ran out first (call again: each batch picks up what is left)."""
    operation = RoleOperation.objects.select_related("package").filter(pk=operation_id).first()
    if operation is None or operation.state == RoleOperationState.COMPLETED:
        return True
    step = _propagate_add if operation.kind == RoleOperationKind.ADD else _propagate_remove
    deadline = time.monotonic() + max_seconds
    while operation.resource_role_id is not None and step(operation, batch_size):
        if time.monotonic() > deadline:
            return False
    _finish(operation)
    return True


def _propagate_add(operation: RoleOperation, batch_size: int) -> bool:
    role_id = operation.resource_role_id
    assert role_id is not None
    still_linked = PackageResourceRole.objects.filter(package_id=operation.package_id, resource_role_id=role_id)
    if not still_linked.exists():
        return False
    with transaction.atomic():
        assignments = list(
            Assignment.objects.select_for_update(of=("self",))
            .filter(package_id=operation.package_id, state__in=AssignmentState.ACTIVE)
            .filter(
                ~Exists(
                    RoleGrant.objects.filter(
                        assignment=OuterRef("pk"), resource_role_id=role_id, state__in=GrantState.WANTED
                    )
                )
            )
            .order_by("pk")[:batch_size]
        )
        if not assignments:
            return False
        existing = {
            g.assignment_id: g
            for g in RoleGrant.objects.select_for_update(of=("self",)).filter(
                assignment__in=assignments, resource_role_id=role_id
            )
        }
        now = timezone.now()
        # Seed 003 finds fulfilment errors through the person's request on Requests: a new
        # grant serves the assignment's latest request, so its failed tries are that request's
        # delivery errors.
        latest_request: dict[UUID, UUID] = dict(
            AssignmentRequest.objects.filter(assignment__in=assignments)
            .exclude(request_type__in=RequestType.REMOVES)
            .order_by("assignment_id", "created_at")
            .values_list("assignment_id", "pk")
        )
        new_grants = [
            RoleGrant(
                assignment=assignment,
                resource_role_id=role_id,
                subject_id=assignment.target_id,
                request_id=latest_request.get(assignment.pk),
                operation=operation,
                state=GrantState.PENDING,
                next_attempt_at=now,
            )
            for assignment in assignments
            if assignment.pk not in existing
        ]
        events: list[AuditEvent] = []
        apply_bulk(
            [grant for grant in existing.values() if GRANT.allows("restore", grant.state)],
            "restore",
            None,
            now=now,
            changes={**back_to_work(now), "operation": operation},
            describe=lambda grant: {"operation": str(operation.pk)},
            events=events,
        )
        apply_bulk(
            [assignment for assignment in assignments if ASSIGNMENT.allows("redeliver", assignment.state)],
            "redeliver",
            None,
            now=now,
            events=events,
        )
        RoleGrant.objects.bulk_create(new_grants)
        events += [build_event(None, "grant.created", g, operation=str(operation.pk)) for g in new_grants]
        AuditEvent.objects.bulk_create(events)
        dispatch.wake_delivery()
    return True


def _propagate_remove(operation: RoleOperation, batch_size: int) -> bool:
    role_id = operation.resource_role_id
    if PackageResourceRole.objects.filter(package_id=operation.package_id, resource_role_id=role_id).exists():
        return False  # re-added meanwhile: nothing to take away
    with transaction.atomic():
        assignment_ids = list(
            RoleGrant.objects.filter(
                assignment__package_id=operation.package_id,
                assignment__state__in=AssignmentState.ACTIVE,
                resource_role_id=role_id,
                state__in=GrantState.WANTED,
            )
            .order_by("assignment_id")
            .values_list("assignment_id", flat=True)[:batch_size]
        )
        if not assignment_ids:
            return False
        for assignment in (
            Assignment.objects.select_for_update(of=("self",)).filter(pk__in=assignment_ids).order_by("pk")
        ):
            grants = assignment.grants.select_for_update(of=("self",)).filter(resource_role_id=role_id)
            unwant_grants(grants, operation=operation)
            refresh_states(assignment)
    return True


def _finish(operation: RoleOperation) -> None:
    RoleOperation.objects.filter(pk=operation.pk).update(state=RoleOperationState.COMPLETED, finished_at=timezone.now())


def operation_progress(operation: RoleOperation) -> dict[str, int]:
    """Total, done and failed for the portal's progress bar, read from the grants."""
    done_states = [GrantState.GRANTED] if operation.kind == RoleOperationKind.ADD else [GrantState.REVOKED]
    counts = RoleGrant.objects.filter(operation=operation).aggregate(
        done=Count("pk", filter=Q(state__in=done_states)),
        failed=Count("pk", filter=Q(state=GrantState.FAILED)),
        queued=Count("pk", filter=Q(state__in=GrantState.WORK)),
    )
    return {"total": operation.total, **counts}
