"""Separation of duties (rule 13): which packages and groups a package may not be combined
with, the conflicts a person would have, and who already holds both sides.

A link is stored one way (``AccessPackage.incompatible_packages``) and read both ways: A
listing B makes B incompatible with A as well, so neither can be added to the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from django.db.models import Q
from django.utils.translation import gettext as _

from governance.models.assignment import Assignment, AssignmentState
from governance.models.identity import DirectoryGroup, GroupMembership, User
from governance.models.package import AccessPackage
from governance.models.request import AssignmentRequest, RequestState, RequestType

Links = AccessPackage.incompatible_packages.through


def incompatible_package_ids(package_id: UUID) -> set[UUID]:
    """Packages that may not be combined with ``package_id``, whichever side listed the link."""
    pairs = Links.objects.filter(Q(from_accesspackage_id=package_id) | Q(to_accesspackage_id=package_id))
    ids: set[UUID] = set()
    for source, target in pairs.values_list("from_accesspackage_id", "to_accesspackage_id"):
        ids.add(target if source == package_id else source)
    ids.discard(package_id)
    return ids


@dataclass(frozen=True)
class Conflict:
    """One reason a person may not have a package: what they hold, and how."""

    how: str  # "assignment", "request" or "group"
    other: str  # the name of the incompatible package or group
    package: str  # the package they would get
    other_id: UUID

    def message(self, person: User | None = None) -> str:
        """ "You have Finance approver, which cannot be combined with Finance payments." """
        names = {"person": person, "other": self.other, "package": self.package}
        if self.how == "group":
            if person is None:
                return _("You are a member of %(other)s, which cannot be combined with %(package)s.") % names
            return _("%(person)s is a member of %(other)s, which cannot be combined with %(package)s.") % names
        if self.how == "request":
            if person is None:
                return _("You have requested %(other)s, which cannot be combined with %(package)s.") % names
            return _("%(person)s has requested %(other)s, which cannot be combined with %(package)s.") % names
        if person is None:
            return _("You have %(other)s, which cannot be combined with %(package)s.") % names
        return _("%(person)s has %(other)s, which cannot be combined with %(package)s.") % names


def conflicts_for(person: User, package: AccessPackage) -> list[Conflict]:
    """What ``person`` has, has requested, or belongs to that ``package`` cannot be combined
    with (rule 13). Empty when the package has no incompatibilities: one cheap query."""
    ids = incompatible_package_ids(package.pk)
    conflicts: list[Conflict] = []
    if ids:
        held = (
            Assignment.objects.filter(target=person, package_id__in=ids, state__in=AssignmentState.ACTIVE)
            .select_related("package")
            .order_by("package__display_name")
        )
        conflicts += [Conflict("assignment", a.package.display_name, str(package), a.package_id) for a in held]
        have = {c.other_id for c in conflicts}
        asked = (
            AssignmentRequest.objects.filter(
                target=person,
                package_id__in=ids - have,
                state__in=RequestState.OPEN,
                request_type__in=RequestType.ADDS,
            )
            .select_related("package")
            .order_by("package__display_name")
        )
        conflicts += [Conflict("request", r.package.display_name, str(package), r.package_id) for r in asked]
    groups = DirectoryGroup.objects.filter(incompatible_packages=package, memberships__user=person).order_by(
        "display_name"
    )
    conflicts += [Conflict("group", g.display_name, str(package), g.pk) for g in groups]
    return conflicts


@dataclass(frozen=True)
class HeldBoth:
    """A row of the report: a person with this package's assignment and something
    incompatible with it (an assignment of another package, or a group membership)."""

    person: User
    assignment: Assignment
    other_kind: str  # "package" or "group"
    other_name: str
    other_assignment: Assignment | None


def held_both(package: AccessPackage) -> list[HeldBoth]:
    """People who already hold both sides (assigned before the rule existed), in a fixed
    number of queries whatever their count."""
    mine = Assignment.objects.filter(package=package, state__in=AssignmentState.ACTIVE)
    holders = mine.values("target_id")
    rows: list[HeldBoth] = []
    ids = incompatible_package_ids(package.pk)
    others = list(
        Assignment.objects.filter(package_id__in=ids, state__in=AssignmentState.ACTIVE, target_id__in=holders)
        .select_related("package")
        .order_by("package__display_name")
    )
    groups = list(
        GroupMembership.objects.filter(group__incompatible_packages=package, user_id__in=holders)
        .select_related("group")
        .order_by("group__display_name")
    )
    people = {o.target_id for o in others} | {g.user_id for g in groups}
    if not people:
        return rows
    own = {a.target_id: a for a in mine.filter(target_id__in=people).select_related("target").order_by("created_at")}
    for other in others:
        assignment = own.get(other.target_id)
        if assignment is not None:
            rows.append(HeldBoth(assignment.target, assignment, "package", other.package.display_name, other))
    for membership in groups:
        assignment = own.get(membership.user_id)
        if assignment is not None:
            rows.append(HeldBoth(assignment.target, assignment, "group", membership.group.display_name, None))
    rows.sort(key=lambda row: (str(row.person).lower(), row.other_name.lower()))
    return rows
