"""The built-in directory: groups stored in Portcullis's own database."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from uuid import UUID

from django.db import connection
from django.utils import timezone

from governance.connectors.base import (
    BaseConnector,
    BatchResult,
    ConnectorError,
    IdempotencyKeys,
    PermanentError,
    RoleTarget,
    Subject,
)
from governance.models import (
    Connector,
    DirectoryGroup,
    GroupMembership,
    GroupOwnership,
    GroupSource,
    User,
)
from governance.services.bulk_sql import array, on_postgresql

ALREADY_MEMBER = "Already a member in the target."


class BuiltinConnector(BaseConnector):
    kind = "builtin"
    label = "Built-in directory"
    can_read_members = True
    knows_owners = True
    singleton = True

    def _group_id(self, role: RoleTarget) -> UUID:
        try:
            group_id = UUID(role.resource_origin_id)
        except ValueError:
            group_id = None
        if group_id is None or not DirectoryGroup.objects.filter(pk=group_id).exists():
            raise PermanentError(
                f"The group {role.label!r} does not exist in the built-in directory.", code="groupNotFound"
            )
        return group_id

    def grant_many(
        self, role: RoleTarget, subjects: Sequence[Subject], keys: IdempotencyKeys | None = None
    ) -> BatchResult:
        """Every membership of the batch in one statement: people already in the group are
        told so, people no longer in the directory fail, the others are added."""
        try:
            group_id = self._group_id(role)
        except PermanentError as exc:
            return self.all_failed(subjects, exc)
        ids = list(dict.fromkeys(s.id for s in subjects))
        if on_postgresql():
            added, known = self._insert_memberships(group_id, ids)
        else:
            known = set(User.objects.filter(pk__in=ids).values_list("pk", flat=True))
            present = set(
                GroupMembership.objects.filter(group_id=group_id, user_id__in=ids).values_list("user_id", flat=True)
            )
            added = known - present
            GroupMembership.objects.bulk_create(
                [GroupMembership(group_id=group_id, user_id=pk) for pk in ids if pk in added], ignore_conflicts=True
            )
        return {s.id: self._outcome(s.id, added, known) for s in subjects}

    @staticmethod
    def _outcome(pk: UUID, added: set[UUID], known: set[UUID]) -> ConnectorError | str | None:
        if pk not in known:
            return PermanentError("The person is no longer in the directory.", code="userNotFound")
        return None if pk in added else ALREADY_MEMBER

    @staticmethod
    def _insert_memberships(group_id: UUID, ids: list[UUID]) -> tuple[set[UUID], set[UUID]]:
        """INSERT … ON CONFLICT DO NOTHING for the people who exist; returns (added, existing)."""
        table = GroupMembership._meta.db_table
        users = User._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                WITH wanted AS (SELECT u.id FROM unnest(%s::uuid[]) AS w(id) JOIN "{users}" u ON u.id = w.id),
                added AS (
                    INSERT INTO "{table}" (group_id, user_id, created_at)
                    SELECT %s, id, %s FROM wanted
                    ON CONFLICT (group_id, user_id) DO NOTHING
                    RETURNING user_id
                )
                SELECT wanted.id, added.user_id IS NOT NULL FROM wanted LEFT JOIN added ON added.user_id = wanted.id
                """,
                [array(ids), group_id, timezone.now()],
            )
            rows = cursor.fetchall()
        return {pk for pk, new in rows if new}, {pk for pk, _ in rows}

    def revoke_many(
        self, role: RoleTarget, subjects: Sequence[Subject], keys: IdempotencyKeys | None = None
    ) -> BatchResult:
        """Every membership of the batch removed in one statement (absent ones are fine)."""
        try:
            group_id = self._group_id(role)
        except PermanentError as exc:
            return self.all_failed(subjects, exc)
        ids = list(dict.fromkeys(s.id for s in subjects))
        if on_postgresql():
            with connection.cursor() as cursor:
                cursor.execute(
                    f'DELETE FROM "{GroupMembership._meta.db_table}" WHERE group_id = %s AND user_id = ANY(%s::uuid[])',
                    [group_id, array(ids)],
                )
        else:
            GroupMembership.objects.filter(group_id=group_id, user_id__in=ids).delete()
        return {s.id: None for s in subjects}

    def members(self, role: RoleTarget) -> set[UUID]:
        group_id = self._group_id(role)
        return set(GroupMembership.objects.filter(group_id=group_id).values_list("user_id", flat=True))

    def test(self) -> str:
        count = DirectoryGroup.objects.filter(source=GroupSource.BUILTIN).count()
        return f"Built-in directory reachable: {count} groups."

    def search(self, query: str, limit: int = 20, owned_by: Subject | None = None) -> list[tuple[str, str]]:
        groups = DirectoryGroup.objects.filter(display_name__icontains=query.strip())
        if owned_by is not None:
            groups = groups.filter(ownerships__user_id=owned_by.id)
        found = groups.order_by("display_name").values_list("pk", "display_name")[:limit]
        return [(str(pk), name) for pk, name in found]

    def owners(self, origin_ids: Sequence[str]) -> dict[str, set[UUID]]:
        """Owners kept in the directory: by administrators, or by the sync for LDAP groups."""
        found: dict[str, set[UUID]] = {origin_id: set() for origin_id in origin_ids}
        by_id: dict[UUID, str] = {}
        for origin_id in origin_ids:
            with contextlib.suppress(ValueError):  # not a group id: a group nobody owns
                by_id[UUID(origin_id)] = origin_id
        ownerships = GroupOwnership.objects.filter(group_id__in=by_id).values_list("group_id", "user_id")
        for group_id, user_id in ownerships:
            found[by_id[group_id]].add(user_id)
        return found


BUILTIN_NAME = "Built-in directory"


def builtin_connector() -> Connector:
    """The built-in directory's connector (made by a migration; recreated if it went missing)."""
    connector, _ = Connector.objects.get_or_create(
        kind=BuiltinConnector.kind, defaults={"display_name": BUILTIN_NAME, "enabled": True}
    )
    return connector
