"""LDAP directory sync: people (username, name, email, manager, enabled) and groups with
their members and owners (``owner``, rule 17), from an LDAP directory into the directory model.

The directory is read by :mod:`governance.identity.ldap_reader` (its configuration,
connection and searches); this module applies what it read. People are matched by ``entryUUID`` (their
``ExternalIdentity``), so a renamed entry stays the same person; the first sync links an
existing account with the same username.

Incremental where the server reports ``modifyTimestamp``: only entries changed since the
newest change seen (the high-water mark, on the directory's own clock) are read. A full
sync runs first, then every ``full_sync_hours``: only a full sync can notice deleted
entries (LDAP has no standard tombstones). A disabled or deleted person's account is
deactivated and their assignments end through the delivery engine (systemRemove).

Everything read is applied in one transaction: a failed sync writes nothing but its
outcome.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from governance.audit import build_event, log_action
from governance.errors import NotAllowed, NotFound
from governance.identity.ldap_reader import (
    Directory,
    DirectorySyncError,
    LdapGroup,
    LdapPerson,
    SyncConfig,
    config_problems,
    sync_config,
)
from governance.models import (
    AssignmentState,
    AuditEvent,
    DirectoryGroup,
    DirectorySyncState,
    ExternalIdentity,
    GroupMembership,
    GroupOwnership,
    GroupSource,
    IdentityProvider,
    RequestState,
    SyncMode,
    SyncOutcome,
    User,
    UserType,
)
from governance.permissions import Action, can_globally
from governance.services import dispatch
from governance.services.access_removal import DELETED_FROM_DIRECTORY, DISABLED_IN_DIRECTORY, remove_all_access

# A claim older than this belongs to a sync that died; the next one may take over.
CLAIM_TIMEOUT = timedelta(hours=2)
CHUNK = 500


class SyncAlreadyRunning(DirectorySyncError):
    pass


class SyncNotConfigured(DirectorySyncError):
    pass


@dataclass
class SyncReport:
    mode: str = SyncMode.FULL
    people_read: int = 0
    created: int = 0
    linked: int = 0
    updated: int = 0
    disabled: int = 0
    enabled: int = 0
    missing: int = 0
    groups_read: int = 0
    groups_created: int = 0
    memberships_added: int = 0
    memberships_removed: int = 0
    owners_added: int = 0
    owners_removed: int = 0
    assignments_removed: int = 0
    requests_canceled: int = 0
    skipped: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, Any]:
        data = asdict(self)
        data["skipped"] = data["skipped"][:20]
        return data

    def summary(self) -> str:
        return (
            f"{self.mode} sync: {self.people_read} people read, {self.created} created, {self.linked} linked, "
            f"{self.updated} updated, {self.disabled} disabled, {self.enabled} enabled again, "
            f"{self.missing} no longer in the directory; {self.groups_read} groups read, "
            f"{self.memberships_added} memberships added, {self.memberships_removed} removed, "
            f"{self.owners_added} owners added, {self.owners_removed} removed; "
            f"{self.assignments_removed} assignments removed, {self.requests_canceled} requests canceled."
        )


# --- The sync ------------------------------------------------------------------------------


def sync_directory(*, full: bool | None = None, now: datetime | None = None) -> SyncReport:
    """Run one sync (the beat job and ``manage.py sync_directory``).

    Raises :class:`DirectorySyncError` (not configured, already running, the directory
    refused) after recording the failure on the sync's state row.
    """
    config = sync_config()
    if config is None:
        raise SyncNotConfigured("The directory sync is not configured (set LDAP_SYNC_URL).")
    problems = config_problems(config)
    if problems:
        raise DirectorySyncError(" ".join(problems))
    now = now or timezone.now()
    state = _claim(config.source, now)
    mode = SyncMode.FULL
    try:
        if not full and state.high_water and state.last_full_at:
            due_full = state.last_full_at + timedelta(hours=int(config["full_sync_hours"]))
            mode = SyncMode.FULL if full is None and now >= due_full else SyncMode.INCREMENTAL
        since = state.high_water if mode == SyncMode.INCREMENTAL else ""
        directory = Directory(config)
        try:
            people, newest_person = directory.people(since)
            groups, newest_group = directory.groups(since)
        finally:
            directory.close()
        report = SyncReport(mode=mode, people_read=len(people), groups_read=len(groups))
        with transaction.atomic():
            _apply_people(config, people, report, full=mode == SyncMode.FULL, now=now)
            _apply_groups(config, groups, report, full=mode == SyncMode.FULL)
        for reason, gone in _people_to_offboard(config.source).items():
            removal = remove_all_access(gone, reason)
            report.assignments_removed += removal.assignments_removed
            report.requests_canceled += removal.requests_canceled
    except DirectorySyncError as exc:
        _finish(state, now, mode, SyncOutcome.FAILED, error=exc.message)
        raise
    except Exception as exc:
        _finish(state, now, mode, SyncOutcome.FAILED, error=f"Unexpected error: {exc}")
        raise
    high_water = max(state.high_water, newest_person, newest_group)
    _finish(state, now, mode, SyncOutcome.SUCCEEDED, report=report, high_water=high_water)
    return report


def _claim(source: str, now: datetime) -> DirectorySyncState:
    state, _ = DirectorySyncState.objects.get_or_create(source=source)
    claimed = (
        DirectorySyncState.objects.filter(pk=state.pk)
        .filter(Q(running_since__isnull=True) | Q(running_since__lt=now - CLAIM_TIMEOUT))
        .update(running_since=now, last_started_at=now)
    )
    if not claimed:
        raise SyncAlreadyRunning(f"A directory sync started at {state.running_since:%Y-%m-%d %H:%M} is still running.")
    state.refresh_from_db()
    return state


def _finish(
    state: DirectorySyncState,
    started: datetime,
    mode: str,
    outcome: str,
    *,
    error: str = "",
    report: SyncReport | None = None,
    high_water: str | None = None,
) -> None:
    fields: dict[str, Any] = {
        "running_since": None,
        "last_finished_at": timezone.now(),
        "last_mode": mode,
        "last_outcome": outcome,
        "last_error": error,
    }
    if report is not None:
        fields["last_counts"] = report.counts()
    if high_water is not None:
        fields["high_water"] = high_water
    if outcome == SyncOutcome.SUCCEEDED and mode == SyncMode.FULL:
        fields["last_full_at"] = started
    DirectorySyncState.objects.filter(pk=state.pk).update(**fields)
    state.refresh_from_db()
    if report is not None:
        AuditEvent.objects.create(
            actor_label="directory sync",
            action="directory.synced",
            object_type="directorysyncstate",
            object_id=str(state.pk),
            object_repr=state.source[:512],
            data=report.counts(),
        )


def _people_to_offboard(source: str) -> dict[str, list[UUID]]:
    """Everyone the directory lost or disabled who still has access or an open request,
    by the reason their access goes.

    Asked afresh on every run, so a sync that died between deactivating and removing
    finishes the job the next time."""
    identities = ExternalIdentity.objects.filter(provider=IdentityProvider.LDAP, issuer=source)
    with_access = Q(assignments__state__in=AssignmentState.ACTIVE) | Q(
        requests_as_target__state__in=RequestState.ADMIN_CANCELABLE & RequestState.OPEN
    )
    found: dict[str, list[UUID]] = {}
    for reason, gone in (
        (DELETED_FROM_DIRECTORY, identities.filter(missing_since__isnull=False)),
        (DISABLED_IN_DIRECTORY, identities.filter(disabled=True, missing_since__isnull=True)),
    ):
        found[reason] = list(
            User.objects.filter(pk__in=gone.values("user_id"), is_active=False)
            .filter(with_access)
            .values_list("pk", flat=True)
            .distinct()
        )
    return found


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _apply_people(
    config: SyncConfig, people: list[LdapPerson], report: SyncReport, *, full: bool, now: datetime
) -> None:
    sync = _PeopleSync(config.source, report, now)
    sync.load(people, full=full)
    if full:
        sync.refuse_mass_deletion(people, int(config["max_delete_percent"]))
    seen: list[UUID] = []
    for person in people:
        identity = sync.identities.get(person.uuid) or sync.match(person)
        if identity is not None:
            _update_person(identity, person, report, sync.events, now)
            seen.append(identity.pk)
    sync.save_new()
    for chunk in _chunks(seen):
        ExternalIdentity.objects.filter(pk__in=chunk).update(last_seen_at=now)
    if full:
        sync.mark_missing({p.uuid for p in people})
    _apply_managers(config.source, people, sync.identities)
    AuditEvent.objects.bulk_create(sync.events)


class _PeopleSync:
    """The people half of one sync run: who is known, who is new, what to write."""

    def __init__(self, source: str, report: SyncReport, now: datetime) -> None:
        self.source = source
        self.report = report
        self.now = now
        self.identities: dict[str, ExternalIdentity] = {}
        self.by_username: dict[str, User] = {}
        self.linked_by_user: dict[UUID, ExternalIdentity] = {}
        self.events: list[AuditEvent] = []
        self.new_users: list[User] = []
        self.new_identities: list[ExternalIdentity] = []
        self.creating: set[str] = set()

    def _scope(self) -> Any:
        return ExternalIdentity.objects.select_related("user").filter(
            provider=IdentityProvider.LDAP, issuer=self.source
        )

    def load(self, people: list[LdapPerson], *, full: bool) -> None:
        if full:
            self.identities = {i.subject: i for i in self._scope()}
        else:
            for chunk in _chunks([p.uuid for p in people]):
                self.identities.update({i.subject: i for i in self._scope().filter(subject__in=chunk)})
        unknown = [p.username for p in people if p.uuid not in self.identities]
        for chunk in _chunks(unknown):
            self.by_username.update({u.username: u for u in User.objects.filter(username__in=chunk)})
        self.linked_by_user = {
            i.user_id: i for i in self._scope().filter(user_id__in=[u.pk for u in self.by_username.values()])
        }

    def refuse_mass_deletion(self, people: list[LdapPerson], max_percent: int) -> None:
        """A wrong base or filter looks like everyone left: refuse rather than lock everyone out."""
        seen = {p.uuid for p in people}
        missing = [i for s, i in self.identities.items() if s not in seen and i.missing_since is None]
        limit = max(10, len(self.identities) * max_percent // 100)
        if len(missing) > limit:
            raise DirectorySyncError(
                f"The directory returned {len(people)} people, so {len(missing)} of the {len(self.identities)} "
                f"synced accounts would be deactivated, more than LDAP_SYNC_MAX_DELETE_PERCENT ({max_percent}%) "
                "allows. Check LDAP_SYNC_USER_BASE and LDAP_SYNC_USER_FILTER; nothing was changed."
            )

    def match(self, person: LdapPerson) -> ExternalIdentity | None:
        """A person seen for the first time: an account to link, or a new one (then None)."""
        existing = self.by_username.get(person.username)
        if existing is None:
            if person.username in self.creating:
                self.report.skipped.append(f"{person.dn}: another entry already has the username {person.username}.")
                return None
            self.creating.add(person.username)
            self._create(person)
            return None
        if existing.user_type == UserType.GUEST:
            self.report.skipped.append(f"{person.dn}: the username {person.username} belongs to an external user.")
            return None
        identity = self.linked_by_user.get(existing.pk)
        if identity is not None:
            # The entry was deleted and created again (a new entryUUID): the same person.
            self.identities.pop(identity.subject, None)
            identity.subject = person.uuid
        else:
            identity = ExternalIdentity(
                user=existing, provider=IdentityProvider.LDAP, issuer=self.source, subject=person.uuid
            )
            self.new_identities.append(identity)
            self.report.linked += 1
            self.events.append(build_event(None, "user.linked_to_directory", existing, dn=person.dn))
        self.identities[person.uuid] = identity
        return identity

    def _create(self, person: LdapPerson) -> None:
        user = User(
            username=person.username,
            password=make_password(None),
            user_type=UserType.MEMBER,
            is_active=not person.disabled,
        )
        _copy_fields(user, person)
        self.new_users.append(user)
        identity = ExternalIdentity(
            user=user,
            provider=IdentityProvider.LDAP,
            issuer=self.source,
            subject=person.uuid,
            dn=person.dn.lower(),
            disabled=person.disabled,
            last_seen_at=self.now,
        )
        self.new_identities.append(identity)
        self.identities[person.uuid] = identity
        self.report.created += 1
        self.events.append(build_event(None, "user.created", user, source="ldap", dn=person.dn))

    def save_new(self) -> None:
        _free_upns(self.new_users)
        User.objects.bulk_create(self.new_users, batch_size=CHUNK)
        for identity in self.new_identities:
            identity.user_id = identity.user.pk
        ExternalIdentity.objects.bulk_create(self.new_identities, batch_size=CHUNK)

    def mark_missing(self, seen: set[str]) -> None:
        for subject, identity in self.identities.items():
            if subject in seen or identity.missing_since is not None:
                continue
            identity.missing_since = self.now
            identity.save(update_fields=["missing_since"])
            self.report.missing += 1
            if identity.user.is_active:
                identity.user.is_active = False
                identity.user.save(update_fields=["is_active"])
            self.events.append(build_event(None, "user.deleted_from_directory", identity.user, dn=identity.dn))


def _copy_fields(user: User, person: LdapPerson) -> None:
    user.email = person.email
    user.first_name = person.first_name
    user.last_name = person.last_name
    user.display_name = person.display_name


def _free_upns(users: list[User]) -> None:
    """New people get their email as user principal name, unless someone has it already."""
    wanted = {u.email for u in users if u.email}
    taken = set(User.objects.filter(user_principal_name__in=wanted).values_list("user_principal_name", flat=True))
    for user in users:
        if user.email and user.email not in taken:
            user.user_principal_name = user.email
            taken.add(user.email)


def _update_person(
    identity: ExternalIdentity, person: LdapPerson, report: SyncReport, events: list[AuditEvent], now: datetime
) -> None:
    user = identity.user
    changed: list[str] = []
    for name in ("email", "first_name", "last_name", "display_name"):
        if getattr(user, name) != getattr(person, name):
            setattr(user, name, getattr(person, name))
            changed.append(name)
    if user.username != person.username and not User.objects.filter(username=person.username).exists():
        events.append(build_event(None, "user.renamed", user, previous=user.username, username=person.username))
        user.username = person.username
        changed.append("username")
    was_gone = identity.disabled or identity.missing_since is not None
    if person.disabled and not identity.disabled:
        report.disabled += 1
        events.append(build_event(None, "user.disabled_in_directory", user, dn=person.dn))
    if was_gone and not person.disabled:
        report.enabled += 1
        events.append(build_event(None, "user.enabled_in_directory", user, dn=person.dn))
    if person.disabled and user.is_active:
        user.is_active = False
        changed.append("is_active")
    elif was_gone and not person.disabled and not user.is_active:
        user.is_active = True
        changed.append("is_active")
    if changed:
        user.save(update_fields=changed)
        report.updated += 1
        events.append(build_event(None, "user.updated_from_directory", user, fields=changed))
    before = (identity.dn, identity.disabled, identity.missing_since, identity.subject)
    identity.dn = person.dn.lower()
    identity.disabled = person.disabled
    identity.missing_since = None
    identity.subject = person.uuid
    identity.last_seen_at = now
    # Unchanged identities (nearly all, in a full sync) get last_seen_at in one UPDATE per chunk.
    if not identity._state.adding and before != (identity.dn, identity.disabled, None, identity.subject):
        identity.save(update_fields=["dn", "disabled", "missing_since", "subject"])


def _user_ids_by_dn(source: str, dns: Iterable[str], known: Mapping[str, UUID]) -> dict[str, UUID]:
    found = dict(known)
    lookup = sorted({dn for dn in dns if dn and dn not in found})
    for chunk in _chunks(lookup):
        found.update(
            ExternalIdentity.objects.filter(provider=IdentityProvider.LDAP, issuer=source, dn__in=chunk).values_list(
                "dn", "user_id"
            )
        )
    return found


def _apply_managers(source: str, people: list[LdapPerson], identities: Mapping[str, ExternalIdentity]) -> None:
    known = {i.dn: i.user.pk for i in identities.values() if i.dn}
    by_dn = _user_ids_by_dn(source, (p.manager_dn for p in people), known)
    # One UPDATE per manager (a team at a time), not one per person.
    teams: dict[UUID | None, list[UUID]] = defaultdict(list)
    for person in people:
        identity = identities.get(person.uuid)
        if identity is None:
            continue
        user = identity.user
        manager_id = by_dn.get(person.manager_dn) if person.manager_dn else None
        if manager_id == user.pk:
            manager_id = None
        if user.manager_id != manager_id:
            user.manager_id = manager_id
            teams[manager_id].append(user.pk)
    for manager_id, team in teams.items():
        for chunk in _chunks(team):
            User.objects.filter(pk__in=chunk).update(manager_id=manager_id)


def _apply_groups(config: SyncConfig, groups: list[LdapGroup], report: SyncReport, *, full: bool) -> None:
    existing = {(g.external_id or "").lower(): g for g in DirectoryGroup.objects.filter(source=GroupSource.LDAP)}
    created: list[DirectoryGroup] = []
    synced: dict[UUID, LdapGroup] = {}
    for entry in groups:
        group = existing.get(entry.dn.lower())
        if group is None:
            group = DirectoryGroup(
                display_name=entry.name,
                description=entry.description,
                mail=entry.mail,
                source=GroupSource.LDAP,
                external_id=entry.dn,
            )
            created.append(group)
            report.groups_created += 1
        elif (group.display_name, group.description, group.mail) != (entry.name, entry.description, entry.mail):
            group.display_name, group.description, group.mail = entry.name, entry.description, entry.mail
            group.save(update_fields=["display_name", "description", "mail"])
        synced[group.pk] = entry
    DirectoryGroup.objects.bulk_create(created)

    people = _user_ids_by_dn(config.source, (dn for g in groups for dn in g.member_dns | g.owner_dns), {})
    scope = list(synced)
    if full:
        # Groups gone from the directory keep their place in policies, but nobody is in them.
        scope += [g.pk for key, g in existing.items() if g.pk not in synced]
    memberships = _sync_pairs(
        GroupMembership,
        scope,
        {(group_id, people[dn]) for group_id, g in synced.items() for dn in g.member_dns if dn in people},
    )
    # Rule 17: the ``owner`` attribute says who may add the group to a catalog.
    ownerships = _sync_pairs(
        GroupOwnership,
        scope,
        {(group_id, people[dn]) for group_id, g in synced.items() for dn in g.owner_dns if dn in people},
    )
    report.memberships_added, report.memberships_removed = len(memberships[0]), len(memberships[1])
    report.owners_added, report.owners_removed = len(ownerships[0]), len(ownerships[1])
    events: list[AuditEvent] = []
    for action, (added, removed) in (("group.members_synced", memberships), ("group.owners_synced", ownerships)):
        events += [
            build_event(
                None,
                action,
                group,
                source="ldap",
                added=sum(1 for g, _ in added if g == group.pk),
                removed=sum(1 for g, _ in removed if g == group.pk),
            )
            for group in DirectoryGroup.objects.filter(pk__in={g for g, _ in added | removed})
        ]
    AuditEvent.objects.bulk_create(events)


_Link = TypeVar("_Link", GroupMembership, GroupOwnership)


def _sync_pairs(
    model: type[_Link], scope: Sequence[UUID], wanted: set[tuple[UUID, UUID]]
) -> tuple[set[tuple[UUID, UUID]], set[tuple[UUID, UUID]]]:
    """Make ``model``'s (group, person) rows of the groups in ``scope`` exactly ``wanted``;
    the pairs added and the pairs removed."""
    current: dict[tuple[UUID, UUID], int] = {}
    for chunk in _chunks(scope):
        rows = model.objects.filter(group_id__in=chunk).values_list("pk", "group_id", "user_id")
        current.update({(g, u): pk for pk, g, u in rows})
    stale = [pk for key, pk in current.items() if key not in wanted]
    for chunk in _chunks(stale):
        model.objects.filter(pk__in=chunk).delete()
    added = wanted - current.keys()
    model.objects.bulk_create([model(group_id=g, user_id=u) for g, u in added], batch_size=CHUNK)
    return added, current.keys() - wanted


def pending_offboarding(source: str) -> int:
    """People the directory disabled or lost who still have access (shown on the page)."""
    return sum(len(ids) for ids in _people_to_offboard(source).values())


def request_sync(actor: Any) -> DirectorySyncState:
    """ "Sync now" (Sign-in and directory page): recorded in the audit trail with who asked,
    then run by a worker; the page shows the outcome on the sync's state."""
    if not can_globally(actor, Action.MANAGE_DIRECTORY):
        raise NotAllowed("You may not manage the directory.")
    config = sync_config()
    if config is None:
        raise NotFound("The directory sync is not configured.")
    with transaction.atomic():
        state, _ = DirectorySyncState.objects.get_or_create(source=config.source)
        log_action(actor, "directory.sync_requested", state, source=config.source)
        dispatch.send_on_commit(dispatch.SYNC_DIRECTORY)
    return state
