"""Access explained (issue 22): what removing something would take away, and why a person
holds a role. Reads only.

The decision is rule 7's, asked through the same query the delivery engine asks when it
revokes (``RoleGrant.objects.justifying``, used by ``delivery._release_justified``): a
resource role is taken from a person only when no other active assignment still wants it.
The what-if excludes every grant the removal would revoke (so removing two overlapping
assignments together takes the access), exactly as the engine excludes the grants it is
revoking in one batch.

Packages in catalogs the viewer may not see are named "another assignment", never by name.

My Access' own explanations of policies and request history are in myaccess/explain.py;
this module is about resource roles.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from django.db.models import Case, Count, F, Min, Value, When, Window
from django.db.models.functions import RowNumber
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from governance.connectors import ConnectorError, for_connector
from governance.ids import is_uuid
from governance.models import Assignment, AssignmentState, GrantState, Resource, ResourceRole, RoleGrant, User
from governance.permissions import Action, catalogs_where
from governance.services.delivery import target_of

HIDDEN_PACKAGE = gettext_noop("another assignment")  # translated where it is shown


def role_label(role: ResourceRole) -> str:
    """A role as people say it: "Developers" for a group's members, "Wiki · Editor" otherwise."""
    if role.display_name.lower() == "member":
        return role.resource.display_name
    return str(role)


def join_and(words: list[str]) -> str:
    """ "A, B and C", in the reader's language."""
    if len(words) <= 1:
        return "".join(words)
    return _("%(items)s and %(last)s") % {"items": ", ".join(words[:-1]), "last": words[-1]}


def _join(words: list[str]) -> str:
    return join_and(words)


def _package_names(justifications: Iterable[Justification]) -> str:
    names = {_(j.package_name) if j.package_name == HIDDEN_PACKAGE else j.package_name for j in justifications}
    return _join(sorted(names))


@dataclass(frozen=True)
class Justification:
    """One assignment that makes a person hold a role."""

    assignment_id: UUID
    package_id: UUID
    package_name: str  # HIDDEN_PACKAGE when the viewer may not see its catalog
    state: str
    grant_state: str
    visible: bool


@dataclass
class HeldRole:
    """A resource role of one person and the active assignments that justify it: a row of
    the person's page (why they hold it) and of a what-if (what keeps it after a removal:
    ``justifications`` are then the other assignments, and none means the role is lost)."""

    role: ResourceRole
    state: str  # the best grant state among its justifications; in a what-if, the revoked grant's
    justifications: list[Justification] = field(default_factory=list)
    # How many justify it in all, when only the first few were read (why_holds' per_role).
    total: int = 0

    @property
    def label(self) -> str:
        return role_label(self.role)

    @property
    def through(self) -> str:
        return _package_names(self.justifications)

    @property
    def kept(self) -> bool:
        return bool(self.justifications)

    @property
    def more(self) -> int:
        """Justifications not read (beyond ``per_role``)."""
        return max(0, self.total - len(self.justifications))


@dataclass
class PersonOutcome:
    person: User
    loses: list[HeldRole] = field(default_factory=list)
    keeps: list[HeldRole] = field(default_factory=list)

    @property
    def sentence(self) -> str:
        """ "Otto Outsider loses Developers and Support queue; keeps Builders through Production on-call." """
        parts = []
        if self.loses:
            parts.append(_("loses %(roles)s") % {"roles": _join([o.label for o in self.loses])})
        by_reason: dict[str, list[str]] = defaultdict(list)
        for outcome in self.keeps:
            by_reason[outcome.through].append(outcome.label)
        parts += [
            _("keeps %(roles)s through %(packages)s") % {"roles": _join(labels), "packages": through}
            for through, labels in by_reason.items()
        ]
        if not parts:
            return _("%(person)s loses no resource role.") % {"person": self.person}
        return _("%(person)s %(outcomes)s.") % {"person": self.person, "outcomes": "; ".join(parts)}


@dataclass
class WhatIf:
    people: list[PersonOutcome] = field(default_factory=list)

    @property
    def loses(self) -> set[tuple[UUID, UUID]]:
        """(person id, role id) of every access the removal would take away."""
        return {(p.person.pk, o.role.pk) for p in self.people for o in p.loses}

    @property
    def keeps(self) -> set[tuple[UUID, UUID]]:
        return {(p.person.pk, o.role.pk) for p in self.people for o in p.keeps}

    @property
    def sentences(self) -> list[str]:
        return [p.sentence for p in self.people]


def _visible_catalogs(viewer: Any) -> set[UUID] | None:
    if viewer is None:
        return None
    found = catalogs_where(viewer, Action.VIEW)
    return None if found is None else set(found)


def _justification(grant: RoleGrant, shown: set[UUID] | None, viewer: Any) -> Justification:
    assignment = grant.assignment
    visible = (
        shown is None
        or assignment.package.catalog_id in shown
        or (viewer is not None and assignment.target_id == getattr(viewer, "pk", None))
    )
    return Justification(
        assignment.pk,
        assignment.package_id,
        assignment.package.display_name if visible else HIDDEN_PACKAGE,
        assignment.state,
        grant.state,
        visible,
    )


def _what_if(removed: list[RoleGrant], viewer: Any) -> WhatIf:
    """Rule 7 for ``removed``, the grants a removal would send to revoking."""
    if not removed:
        return WhatIf()
    shown = _visible_catalogs(viewer)
    others = (
        RoleGrant.objects.justifying({g.subject_id for g in removed}, {g.resource_role_id for g in removed})
        .exclude(pk__in=[g.pk for g in removed])
        .select_related("assignment__package")
        .only(
            "id",
            "state",
            "subject_id",
            "resource_role_id",
            "assignment__id",
            "assignment__state",
            "assignment__target_id",
            "assignment__package__id",
            "assignment__package__display_name",
            "assignment__package__catalog_id",
        )
        .order_by("assignment__package__display_name", "assignment_id")
    )
    justified: dict[tuple[UUID, UUID], list[Justification]] = defaultdict(list)
    for grant in others:
        justified[(grant.subject_id, grant.resource_role_id)].append(_justification(grant, shown, viewer))
    people: dict[UUID, PersonOutcome] = {}
    seen: set[tuple[UUID, UUID]] = set()
    for grant in sorted(removed, key=lambda g: (str(g.subject), role_label(g.resource_role).lower())):
        key = (grant.subject_id, grant.resource_role_id)
        if key in seen:
            continue
        seen.add(key)
        person = people.setdefault(grant.subject_id, PersonOutcome(grant.subject))
        outcome = HeldRole(grant.resource_role, grant.state, justified.get(key, []))
        (person.keeps if outcome.kept else person.loses).append(outcome)
    return WhatIf(sorted(people.values(), key=lambda p: str(p.person)))


def _revocable(grants: Any) -> list[RoleGrant]:
    return list(
        grants.filter(state__in=GrantState.WANTED)
        .select_related("subject", "resource_role__resource")
        .order_by("subject_id", "resource_role_id")
    )


def removing_assignments(assignment_ids: Iterable[UUID | str | None], viewer: Any = None) -> WhatIf:
    """What removing (or expiring) these assignments together would take away, per person.

    The caller has already fetched the assignments through permissions.py; ended ones
    revoke nothing and are ignored."""
    ids = [pk for pk in assignment_ids if pk is not None and is_uuid(pk)]
    grants = RoleGrant.objects.filter(assignment_id__in=ids, assignment__state__in=AssignmentState.ACTIVE)
    return _what_if(_revocable(grants), viewer)


def removing_role_from_package(package_id: UUID | str, role_id: UUID | str, viewer: Any = None) -> WhatIf:
    """What removing a resource role from a package would take from its active assignments (rule 8)."""
    if not (is_uuid(package_id) and is_uuid(role_id)):
        return WhatIf()
    grants = RoleGrant.objects.filter(
        assignment__package_id=UUID(str(package_id)),
        assignment__state__in=AssignmentState.ACTIVE,
        resource_role_id=UUID(str(role_id)),
    )
    return _what_if(_revocable(grants), viewer)


_STATE_RANK: dict[str, int] = {"granted": 0, "drifted": 1, "pending": 2, "failed": 3}


def why_holds(
    person: User | UUID | str,
    role_ids: Iterable[UUID | str] | None = None,
    viewer: Any = None,
    *,
    per_role: int | None = None,
) -> list[HeldRole]:
    """Why the person holds each role (or only ``role_ids``): the active assignments whose
    grants want it — the ones rule 7 would weigh before taking it away. With ``per_role``,
    only the first that many of each role are read (by package name), and ``total`` says
    how many there are: a page of roles reads a bounded number of rows however many
    assignments give one role."""
    person_id = getattr(person, "pk", person)
    if not is_uuid(person_id):
        return []
    grants = (
        RoleGrant.objects.filter(
            subject_id=UUID(str(person_id)), state__in=GrantState.WANTED, assignment__state__in=AssignmentState.ACTIVE
        )
        .select_related("resource_role__resource", "assignment__package")
        .only(
            "id",
            "state",
            "subject_id",
            "resource_role__id",
            "resource_role__display_name",
            "resource_role__resource__id",
            "resource_role__resource__display_name",
            "resource_role__resource__resource_type",
            "assignment__id",
            "assignment__state",
            "assignment__target_id",
            "assignment__package__id",
            "assignment__package__display_name",
            "assignment__package__catalog_id",
        )
        .order_by("assignment__package__display_name", "assignment_id")
    )
    if role_ids is not None:
        grants = grants.filter(resource_role_id__in=[pk for pk in role_ids if is_uuid(pk)])
    if per_role is not None:
        by_role = [F("resource_role_id")]
        rank = Case(*(When(state=state, then=Value(n)) for state, n in _STATE_RANK.items()), default=Value(9))
        grants = grants.annotate(
            position=Window(
                RowNumber(), order_by=[F("assignment__package__display_name"), F("assignment_id")], partition_by=by_role
            ),
            total=Window(Count("pk"), partition_by=by_role),
            best_rank=Window(Min(rank), partition_by=by_role),
        ).filter(position__lte=per_role)
    best = {n: state for state, n in _STATE_RANK.items()}
    shown = _visible_catalogs(viewer)
    held: dict[UUID, HeldRole] = {}
    for grant in grants:
        entry = held.setdefault(grant.resource_role_id, HeldRole(grant.resource_role, grant.state))
        if per_role is not None:
            entry.total = getattr(grant, "total", 0)
            entry.state = best.get(getattr(grant, "best_rank", 9), entry.state)
        elif _STATE_RANK.get(grant.state, 9) < _STATE_RANK.get(entry.state, 9):
            entry.state = grant.state
        entry.justifications.append(_justification(grant, shown, viewer))
    for entry in held.values():
        entry.total = max(entry.total, len(entry.justifications))
    return sorted(held.values(), key=lambda h: h.label.lower())


def justifications_by_assignment(assignments: Iterable[Assignment]) -> dict[UUID, list[HeldRole]]:
    """For a page of one person's assignments: the roles each one justifies. One query."""
    ids = [a.pk for a in assignments]
    out: dict[UUID, list[HeldRole]] = defaultdict(list)
    grants = (
        RoleGrant.objects.filter(assignment_id__in=ids)
        .select_related("resource_role__resource")
        .order_by("resource_role__resource__display_name", "resource_role__display_name")
    )
    for grant in grants:
        out[grant.assignment_id].append(HeldRole(grant.resource_role, grant.state))
    return out


# --- A resource's holders outside the portal ---------------------------------------------


@dataclass
class Ungoverned:
    """Who a target system says holds a role although no active assignment justifies it."""

    role: ResourceRole
    people: list[User] = field(default_factory=list)
    unknown: int = 0  # members the target names that are not people of this directory
    error: str = ""
    readable: bool = True


def ungoverned_holders(resource: Resource) -> list[Ungoverned]:
    """Read each role's members from the target (the drift check's read) and keep those no
    active assignment justifies: "not governed". Reads only; a target that cannot be read
    says why instead."""
    out: list[Ungoverned] = []
    roles = list(resource.roles.select_related("resource__connector").order_by("display_name"))
    if not roles:
        return out
    connector_model = resource.connector
    try:
        impl = for_connector(connector_model)
    except ConnectorError as exc:
        return [Ungoverned(role, error=exc.message, readable=False) for role in roles]
    try:
        for role in roles:
            if not impl.can_read_members:
                out.append(Ungoverned(role, readable=False, error="This connector cannot read members."))
                continue
            try:
                present = impl.members(target_of(role))
            except ConnectorError as exc:
                out.append(Ungoverned(role, error=exc.message))
                continue
            governed = set(RoleGrant.objects.justifying(present, [role.pk]).values_list("subject_id", flat=True))
            outside = present - governed
            people = list(User.objects.filter(pk__in=outside).order_by("display_name", "username"))
            out.append(Ungoverned(role, people, unknown=len(outside) - len(people)))
    finally:
        impl.close()
    return out
