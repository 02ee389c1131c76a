"""Separation of duties (rule 13): keeping a package's incompatible packages and groups,
and refusing a request or a direct assignment that would combine them."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.db import transaction

from governance.audit import log_action
from governance.errors import IncompatibleAccess, NotFound, ValidationFailed
from governance.ids import is_uuid
from governance.models import AccessPackage, DirectoryGroup, User
from governance.models.separation import Conflict, conflicts_for, incompatible_package_ids
from governance.permissions import Action, get_for
from governance.services.locks import lock_for


def refuse_incompatible(target: User, package: AccessPackage, *, as_self: bool = True) -> None:
    """Rule 13 for one person: refused with the conflict named. Call inside the transaction
    that creates the request; the person's row is locked so that two requests for two
    incompatible packages, sent at once, cannot both pass."""
    User.objects.select_for_update().filter(pk=target.pk).values_list("pk").first()
    conflicts = conflicts_for(target, package)
    if conflicts:
        raise IncompatibleAccess(
            conflicts[0].message(None if as_self else target),
            field=None if as_self else "users",
            conflicts=[c.other for c in conflicts],
        )


def conflicts_of(targets: list[User], package: AccessPackage) -> dict[User, list[Conflict]]:
    """Direct assignment: each person's conflicts (people without any are left out)."""
    found = {}
    for target in targets:
        User.objects.select_for_update().filter(pk=target.pk).values_list("pk").first()
        conflicts = conflicts_for(target, package)
        if conflicts:
            found[target] = conflicts
    return found


def _package(actor: Any, package_id: UUID | str) -> AccessPackage:
    package: AccessPackage = lock_for(actor, Action.MANAGE, AccessPackage.objects, package_id, "access package")
    return package


def add_incompatible_package(actor: Any, package_id: UUID | str, other_id: UUID | str) -> AccessPackage:
    """``other`` may not be combined with the package (either way). Adding twice is a no-op."""
    with transaction.atomic():
        package = _package(actor, package_id)
        if not is_uuid(other_id):
            raise NotFound("Access package not found.")
        other: AccessPackage = get_for(actor, Action.VIEW, AccessPackage.objects.all(), other_id, "access package")
        if other.pk == package.pk:
            raise ValidationFailed("A package cannot be incompatible with itself.", field="package")
        if other.pk in incompatible_package_ids(package.pk):
            return other
        package.incompatible_packages.add(other)
        log_action(actor, "package.incompatible_package_added", package, other=str(other.pk), name=str(other))
    return other


def remove_incompatible_package(actor: Any, package_id: UUID | str, other_id: UUID | str) -> None:
    """Removes the link whichever side listed it; removing twice is a no-op."""
    with transaction.atomic():
        package = _package(actor, package_id)
        if not is_uuid(other_id):
            raise NotFound("Access package not found.")
        other = UUID(str(other_id))
        links = AccessPackage.incompatible_packages.through.objects
        removed, _ = links.filter(from_accesspackage_id=package.pk, to_accesspackage_id=other).delete()
        removed += links.filter(from_accesspackage_id=other, to_accesspackage_id=package.pk).delete()[0]
        if removed:
            log_action(actor, "package.incompatible_package_removed", package, other=str(other_id))


def add_incompatible_group(actor: Any, package_id: UUID | str, group_id: UUID | str) -> DirectoryGroup:
    """Members of ``group`` may not request or be assigned the package."""
    with transaction.atomic():
        package = _package(actor, package_id)
        group = DirectoryGroup.objects.filter(pk=group_id).first() if is_uuid(group_id) else None
        if group is None:
            raise NotFound("Group not found.")
        if not package.incompatible_groups.filter(pk=group.pk).exists():
            package.incompatible_groups.add(group)
            log_action(actor, "package.incompatible_group_added", package, group=str(group.pk), name=str(group))
    return group


def remove_incompatible_group(actor: Any, package_id: UUID | str, group_id: UUID | str) -> None:
    with transaction.atomic():
        package = _package(actor, package_id)
        if not is_uuid(group_id):
            raise NotFound("Group not found.")
        through = AccessPackage.incompatible_groups.through.objects
        removed, _ = through.filter(accesspackage_id=package.pk, directorygroup_id=group_id).delete()
        if removed:
            log_action(actor, "package.incompatible_group_removed", package, group=str(group_id))
