#!/usr/bin/env python
"""Load a realistic governance data set fast: catalogs, packages, people, assignments with
their grants, requests with their decisions, and a person who may request 500 packages.

PostgreSQL: one COPY per table (psycopg's ``cursor.copy``), secondary indexes dropped
during the load and rebuilt after it, then ANALYZE. Other databases (the test suite's
SQLite): the same rows through ``executemany``, so the generator is tested everywhere.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/portcullis_scale python bench/generate.py
    ... --scale small      (1/100 of the data)     ... --force   (rebuild)

Idempotent: when the database already holds a data set of the requested size, it is kept.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import sys
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ADMIN = "bench-admin"
REQUESTOR = "bench-requestor"
PASSWORD = "bench-password"
META_TABLE = "bench_dataset"
# Tables whose secondary indexes are dropped during a PostgreSQL load and rebuilt after it.
BIG_TABLES = (
    "governance_user",
    "governance_assignment",
    "governance_rolegrant",
    "governance_assignmentrequest",
    "governance_approvaldecision",
    "governance_deliveryattempt",
    "governance_groupmembership",
)


@dataclass(frozen=True)
class Sizes:
    catalogs: int = 200
    packages: int = 20_000
    users: int = 100_000
    assignments: int = 1_000_000
    requests: int = 2_000_000
    # Packages the My Access person may request (policies for all members, not hidden).
    visible: int = 500

    @classmethod
    def named(cls, scale: str) -> Sizes:
        if scale == "full":
            return cls()
        if scale == "small":
            return cls(catalogs=20, packages=200, users=1_000, assignments=10_000, requests=20_000, visible=50)
        raise ValueError(f"unknown scale {scale!r} (full or small)")

    def check(self) -> None:
        slots = -(-self.assignments // self.users) + -(-max(0, self.requests - self.assignments) // self.users)
        if slots > self.packages:
            raise ValueError("too few packages: each person needs a different package per assignment/request")
        if self.visible * 2 > self.packages or self.catalogs > self.packages:
            raise ValueError("visible packages must be at most half of the packages, catalogs at most packages")


# --- Writing rows -------------------------------------------------------------------------


class Writer:
    """Rows into tables: COPY on PostgreSQL, executemany elsewhere. Values are Python
    objects; the fallback prepares them with the model's fields, as the ORM would."""

    def __init__(self) -> None:
        from django.db import connection

        self.connection = connection
        self.postgres = connection.vendor == "postgresql"
        self.counts: dict[str, int] = {}

    def rows(self, model: Any, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        table = model._meta.db_table
        fields = [model._meta.get_field(name) for name in columns]
        # Columns not given take the model's default, the same for every row (the database
        # has no defaults of its own: Django applies them).
        extra, constants = [], []
        for field in model._meta.concrete_fields:
            if field in fields or (field.primary_key and not field.has_default()):
                continue
            if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
                extra.append(field)
                constants.append(_NOW)
            elif field.has_default() and not callable(field.default):
                extra.append(field)
                constants.append(field.default)
            elif not field.null and not field.has_default():
                raise ValueError(f"{table}.{field.column} needs a value")
        if extra:
            fields = fields + extra
            tail = tuple(constants)
            rows = (tuple(row) + tail for row in rows)
        names = ", ".join(self.connection.ops.quote_name(f.column) for f in fields)
        n = 0
        with self.connection.cursor() as cursor:
            if self.postgres:
                with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                        n += 1
            else:
                marks = ", ".join(["%s"] * len(fields))
                sql = f"INSERT INTO {table} ({names}) VALUES ({marks})"
                for batch in _batches(rows, 2000):
                    prepared = [
                        [f.get_db_prep_save(v, self.connection) for f, v in zip(fields, row, strict=True)]
                        for row in batch
                    ]
                    cursor.executemany(sql, prepared)
                    n += len(batch)
        self.counts[table] = self.counts.get(table, 0) + n
        return n


_NOW = None  # set when a generator starts, so every defaulted timestamp is the same


def _batches(rows: Iterable[Any], size: int) -> Iterable[list[Any]]:
    iterator = iter(rows)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def new_id(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


# --- The data set -------------------------------------------------------------------------

FIRST = [
    "Ada",
    "Alan",
    "Barbara",
    "Claude",
    "Dennis",
    "Edsger",
    "Frances",
    "Grace",
    "Hedy",
    "John",
    "Ken",
    "Linus",
    "Margaret",
    "Niklaus",
    "Radia",
    "Tim",
]
LAST = [
    "Lovelace",
    "Turing",
    "Liskov",
    "Shannon",
    "Ritchie",
    "Dijkstra",
    "Allen",
    "Hopper",
    "Lamarr",
    "Backus",
    "Thompson",
    "Torvalds",
    "Hamilton",
]
ASSIGNMENT_MIX = [  # state, weight: mostly delivered, some attention, some ended
    ("delivered", 85),
    ("partiallyDelivered", 4),
    ("deliveryFailed", 2),
    ("delivering", 1),
    ("expired", 6),
    ("removed", 2),
]
OTHER_REQUEST_MIX = [("denied", 35), ("canceled", 35), ("pendingApproval", 10), ("scheduled", 5), ("userExtend", 15)]


def _picker(mix: list[tuple[str, int]], rng: random.Random) -> Any:
    values = [v for v, w in mix for _ in range(w)]
    return lambda: values[rng.randrange(len(values))]


class Generator:
    def __init__(self, sizes: Sizes, seed: int = 9) -> None:
        sizes.check()
        self.sizes = sizes
        self.rng = random.Random(seed)
        self.w = Writer()
        from django.utils import timezone

        self.now = timezone.now().replace(microsecond=0)
        global _NOW
        _NOW = self.now

    def ago(self, max_days: float) -> datetime:
        return self.now - timedelta(seconds=self.rng.randrange(1, int(max_days * 86400)))

    # The directory: connectors, catalogs, resources, roles, packages, policies.
    def directory(self) -> None:
        from governance import models as m
        from governance.connectors.builtin import builtin_connector

        s, rng = self.sizes, self.rng
        builtin = builtin_connector()
        ldap, _ = m.Connector.objects.get_or_create(
            display_name="Bench LDAP",
            defaults={"kind": "ldap", "enabled": False, "config": {"url": "ldap://127.0.0.1:1", "user_base": "o=x"}},
        )
        scim, _ = m.Connector.objects.get_or_create(
            display_name="Bench SCIM",
            defaults={"kind": "scim", "enabled": False, "config": {"base_url": "http://127.0.0.1:1/scim"}},
        )
        self.organizations = [
            m.ConnectedOrganization.objects.create(display_name=f"Partner {i}", description="Bench partner")
            for i in range(3)
        ]
        catalogs = [
            m.Catalog(id=new_id(rng), display_name=f"Catalog {i:03d}", description=f"Bench catalog {i}")
            for i in range(s.catalogs)
        ]
        m.Catalog.objects.bulk_create(catalogs)
        groups, resources, roles = [], [], []
        self.catalog_roles: list[list[m.ResourceRole]] = []
        self.catalog_groups: list[m.DirectoryGroup] = []
        for i, catalog in enumerate(catalogs):
            requestors = m.DirectoryGroup(id=new_id(rng), display_name=f"Catalog {i:03d} requestors")
            groups.append(requestors)
            self.catalog_groups.append(requestors)
            mine = []
            for j, connector in enumerate([builtin, builtin, ldap, ldap, scim]):
                if connector is builtin:
                    group = m.DirectoryGroup(id=new_id(rng), display_name=f"Catalog {i:03d} group {j}")
                    groups.append(group)
                    origin = str(group.pk)
                elif connector is ldap:
                    origin = f"cn=c{i:03d}-g{j},ou=groups,dc=bench,dc=example"
                else:
                    origin = f"app-{i:03d}-{j}"
                resource = m.Resource(
                    id=new_id(rng), catalog=catalog, connector=connector, display_name=f"C{i:03d} resource {j}",
                    origin_id=origin, resource_type="application" if connector is scim else "group",
                )  # fmt: skip
                resources.append(resource)
                role = m.ResourceRole(id=new_id(rng), resource=resource)
                roles.append(role)
                mine.append(role)
            self.catalog_roles.append(mine)
        m.DirectoryGroup.objects.bulk_create(groups, batch_size=2000)
        m.Resource.objects.bulk_create(resources, batch_size=2000)
        m.ResourceRole.objects.bulk_create(roles, batch_size=2000)
        self.connector_of = {r.pk: r.resource.connector_id for r in roles}

        # Packages: spread over the catalogs; one in three bundles one role, the rest two.
        self.package_ids = [new_id(rng) for _ in range(s.packages)]
        self.package_catalog = [i * s.catalogs // s.packages for i in range(s.packages)]
        step = s.packages // s.visible
        self.visible = {i * step for i in range(s.visible)}
        self.package_roles: list[list[m.ResourceRole]] = []
        for i in range(s.packages):
            own = self.catalog_roles[self.package_catalog[i]]
            first = own[i % len(own)]
            self.package_roles.append([first] if i % 3 == 0 else [first, own[(i + 2) % len(own)]])
        hidden = {i for i in range(s.packages) if i % 50 == 7 and i not in self.visible}
        self.w.rows(
            m.AccessPackage,
            ["id", "catalog", "display_name", "description", "is_hidden", "created_at", "modified_at"],
            (
                (pid, catalogs[self.package_catalog[i]].pk, f"Package {i:05d}", f"Bench package {i} of catalog "
                 f"{self.package_catalog[i]:03d}", i in hidden, self.now, self.now)
                for i, pid in enumerate(self.package_ids)
            ),
        )  # fmt: skip
        self.w.rows(
            m.PackageResourceRole,
            ["id", "package", "resource_role", "created_at"],
            ((new_id(rng), pid, role.pk, self.now) for i, pid in enumerate(self.package_ids)
             for role in self.package_roles[i]),
        )  # fmt: skip

        # Policies: every package has an admin-direct policy and a request policy. Request
        # policies admit all members on the visible packages, a catalog's requestor group
        # elsewhere; half of them ask the requestor's manager to approve.
        self.direct_policy = [new_id(rng) for _ in range(s.packages)]
        self.request_policy = [new_id(rng) for _ in range(s.packages)]
        self.approval = [i % 2 == 1 for i in range(s.packages)]
        policy_columns = [
            "id", "package", "display_name", "description", "allowed_target_scope", "requires_approval",
            "requestor_justification_required", "approver_justification_required", "allow_custom_schedule",
            "expiration_type", "expiration_days", "allow_extension", "extension_requires_approval", "enabled",
            "created_at", "modified_at",
        ]  # fmt: skip

        def policies() -> Iterable[tuple[Any, ...]]:
            for i, pid in enumerate(self.package_ids):
                yield (
                    self.direct_policy[i],
                    pid,
                    "Direct assignment",
                    "",
                    "notSpecified",
                    False,
                    False,
                    False,
                    False,
                    "after_days",
                    365,
                    False,
                    False,
                    True,
                    self.now - timedelta(days=800),
                    self.now,
                )
                scope = "allMemberUsers" if i in self.visible else "specificDirectoryUsers"
                yield (self.request_policy[i], pid, "Employees", "Request it", scope, self.approval[i],
                       i % 4 == 1, False, i % 5 == 0, "after_days", 180, True, False, True,
                       self.now - timedelta(days=799), self.now)  # fmt: skip

        self.w.rows(m.AssignmentPolicy, policy_columns, policies())
        through = m.AssignmentPolicy.specific_groups.through
        self.w.rows(
            through,
            ["assignmentpolicy", "directorygroup"],
            ((self.request_policy[i], self.catalog_groups[self.package_catalog[i]].pk)
             for i in range(s.packages) if i not in self.visible),
        )  # fmt: skip
        self.stage_of: dict[int, uuid.UUID] = {}
        stages = []
        for i in range(s.packages):
            if self.approval[i]:
                self.stage_of[i] = new_id(rng)
                stages.append((self.stage_of[i], self.request_policy[i], 1, 14))
        self.w.rows(m.ApprovalStage, ["id", "policy", "order", "timeout_days"], stages)

    # People: members and externals, managers, the two bench personas.
    def people(self) -> None:
        from django.contrib.auth.hashers import make_password

        from governance import models as m

        s, rng = self.sizes, self.rng
        self.user_ids = [new_id(rng) for _ in range(s.users)]
        self.names = [f"{FIRST[u % len(FIRST)]} {LAST[(u // len(FIRST)) % len(LAST)]} {u:06d}" for u in range(s.users)]
        managers = max(1, s.users // 50)
        self.manager_index = [u % managers if u >= managers else None for u in range(s.users)]
        self.manager_of = [self.user_ids[k] if k is not None else None for k in self.manager_index]
        columns = [
            "id", "password", "is_superuser", "username", "first_name", "last_name", "email", "is_staff",
            "is_active", "date_joined", "display_name", "user_principal_name", "user_type",
            "connected_organization", "manager", "sponsor",
        ]  # fmt: skip
        organizations = self.organizations

        def users() -> Iterable[tuple[Any, ...]]:
            for u, uid in enumerate(self.user_ids):
                guest = u % 10 == 9
                domain = f"partner{u % 3}.example" if guest else "corp.example"
                first, last, _ = self.names[u].split(" ")
                yield (uid, "!", False, f"user{u:06d}", first, last, f"user{u:06d}@{domain}", False, True,
                       self.now - timedelta(days=900), self.names[u], f"user{u:06d}@{domain}",
                       "guest" if guest else "member", organizations[u % 3].pk if guest else None,
                       self.manager_of[u], self.manager_of[u] if guest else None)  # fmt: skip

        self.w.rows(m.User, columns, users())
        self.w.rows(
            m.GroupMembership,
            ["group", "user", "created_at"],
            ((group.pk, self.user_ids[(c * 7919 + k) % s.users], self.now)
             for c, group in enumerate(self.catalog_groups) for k in range(min(200, s.users))),
        )  # fmt: skip
        stage_approvers = []
        for stage in self.stage_of.values():
            stage_approvers.append((new_id(rng), stage, "manager", None, False))
        self.admin = m.User.objects.create(
            username=ADMIN, display_name="Bench Admin", email="bench-admin@corp.example",
            password=make_password(PASSWORD), is_staff=True,
        )  # fmt: skip
        m.DirectoryRoleAssignment.objects.create(user=self.admin, role=m.GlobalRole.GLOBAL_ADMIN)
        self.requestor = m.User.objects.create(
            username=REQUESTOR, display_name="Bench Requestor", email="bench-requestor@corp.example",
            password=make_password(PASSWORD), manager_id=self.user_ids[0],
        )  # fmt: skip
        for stage in self.stage_of.values():
            stage_approvers.append((new_id(rng), stage, "user", self.admin.pk, True))
        self.w.rows(m.StageApprover, ["id", "stage", "kind", "user", "is_fallback"], stage_approvers)

    def package_for(self, u: int, slot: int) -> int:
        """The package of a person's n-th slot: different for every slot of one person, so
        rule 12 (one active assignment, one open add-request) holds by construction."""
        return (u * 7919 + slot * 97) % self.sizes.packages

    # Assignments, their grants and delivery errors, their requests and decisions.
    def assignments(self, chunk: int = 50_000) -> None:
        self.active: list[tuple[uuid.UUID, int, int]] = []  # assignment, person, package
        pick = _picker(ASSIGNMENT_MIX, self.rng)
        for first in range(0, self.sizes.assignments, chunk):
            self._assignment_chunk(range(first, min(first + chunk, self.sizes.assignments)), pick)

    def _assignment_chunk(self, indexes: range, pick: Any) -> None:
        from governance import models as m

        s, rng, now, admin = self.sizes, self.rng, self.now, self.admin
        assignments: list[tuple[Any, ...]] = []
        grants: list[tuple[Any, ...]] = []
        attempts: list[tuple[Any, ...]] = []
        decisions: list[tuple[Any, ...]] = []
        requests: list[tuple[Any, ...]] = []
        for i in indexes:
            u, slot = i % s.users, i // s.users
            p = self.package_for(u, slot)
            state = pick()
            roles = self.package_roles[p]
            if state == "partiallyDelivered" and len(roles) == 1:
                state = "delivered"
            created = self.ago(700)
            aid, rid = new_id(rng), new_id(rng)
            by_user = i % 3 != 0
            policy = self.request_policy[p] if by_user else self.direct_policy[p]
            ended = state in ("expired", "removed")
            end_at = created + timedelta(days=180 if by_user else 365)
            if state == "expired":
                end_at = min(end_at, now - timedelta(days=1))
            elif not ended and end_at <= now:
                end_at = now + timedelta(days=1 + i % 300)
            ended_at = (end_at if state == "expired" else created + timedelta(days=30)) if ended else None
            assignments.append((aid, self.package_ids[p], policy, self.user_ids[u], state, created, end_at, created,
                                ended_at or created, ended_at))  # fmt: skip
            if not ended:
                self.active.append((aid, u, p))
            # The add request that made it (and, for an ended one, the request that ended it).
            add_state = "delivered" if ended else state
            requests.append((
                rid, "userAdd" if by_user else "adminAdd", add_state, self.package_ids[p], policy, aid,
                self.user_ids[u], self.user_ids[u] if by_user else admin.pk,
                self.names[u] if by_user else "Bench Admin", "Needed for my project" if by_user else "",
                None, None, 0, None, created - timedelta(hours=2), created,
                None if add_state == "delivering" else created, "",
            ))  # fmt: skip
            if by_user and self.approval[p]:
                decisions.append(self._decision(rid, p, u, "Approve", created - timedelta(hours=1)))
            if ended:
                requests.append((
                    new_id(rng), "systemRemove" if state == "expired" else "adminRemove", "delivered",
                    self.package_ids[p], policy, aid, self.user_ids[u], None if state == "expired" else admin.pk,
                    "" if state == "expired" else "Bench Admin", "", None, None, 0, None, ended_at, ended_at,
                    ended_at, "",
                ))  # fmt: skip
            # Its grants, one per role of the package, and the failed tries of failed ones.
            for k, role in enumerate(roles):
                if ended:
                    grant_state = "revoked"
                elif state == "delivering":
                    grant_state = "pending"
                elif state == "deliveryFailed" or (state == "partiallyDelivered" and k == 1):
                    grant_state = "failed"
                else:
                    grant_state = "granted"
                gid = new_id(rng)
                failed = grant_state == "failed"
                grants.append((
                    gid, aid, role.pk, self.user_ids[u], rid, grant_state, 3 if failed else 1,
                    created + timedelta(minutes=5) if grant_state == "pending" else None,
                    "Target system refused the change" if failed else "",
                    created + timedelta(seconds=3) if grant_state in ("granted", "revoked") else None,
                    ended_at or created,
                ))  # fmt: skip
                if failed:
                    for n in range(3):
                        attempts.append((
                            gid, rid, self.connector_of[role.pk], "grant", "transient" if n < 2 else "permanent",
                            "unavailable" if n < 2 else "refused", "Target system refused the change",
                            created + timedelta(minutes=n), 40 + n,
                        ))  # fmt: skip
        self.w.rows(m.Assignment, ASSIGNMENT_COLUMNS, assignments)
        self.w.rows(m.AssignmentRequest, REQUEST_COLUMNS, requests)
        self.w.rows(m.ApprovalDecision, DECISION_COLUMNS, decisions)
        self.w.rows(m.RoleGrant, GRANT_COLUMNS, grants)
        self.w.rows(m.DeliveryAttempt, ATTEMPT_COLUMNS, attempts)

    def _decision(self, rid: uuid.UUID, p: int, u: int, decision: str, at: datetime) -> tuple[Any, ...]:
        manager = self.manager_index[u]
        approver = self.user_ids[manager] if manager is not None else self.admin.pk
        label = self.names[manager] if manager is not None else "Bench Admin"
        return (new_id(self.rng), rid, 1, self.stage_of[p], approver, label, decision,
                "" if decision == "Approve" else "Not needed for this role", at)  # fmt: skip

    def other_requests(self) -> None:
        """Requests that made no assignment: denied, canceled, pending approval, scheduled,
        and extensions of active assignments."""
        from governance import models as m

        s, rng = self.sizes, self.rng

        pick = _picker(OTHER_REQUEST_MIX, rng)
        first_slot = -(-s.assignments // s.users)
        written = sum(v for k, v in self.w.counts.items() if k == m.AssignmentRequest._meta.db_table)
        remaining = max(0, s.requests - written)
        decisions: list[tuple[Any, ...]] = []

        def rows() -> Iterable[tuple[Any, ...]]:
            for j in range(remaining):
                kind = pick()
                if kind == "userExtend" and self.active:
                    aid, u, p = self.active[rng.randrange(len(self.active))]
                    created = self.ago(300)
                    yield (new_id(rng), "userExtend", "delivered", self.package_ids[p], self.request_policy[p], aid,
                           self.user_ids[u], self.user_ids[u], self.names[u], "Still needed", None, None, 0, None,
                           created, created, created, "")  # fmt: skip
                    continue
                u, slot = j % s.users, first_slot + j // s.users
                p = self.package_for(u, slot)
                state = "canceled" if kind == "userExtend" else kind
                if state in ("denied", "pendingApproval") and not self.approval[p]:
                    state = "canceled"
                if state == "scheduled" and self.approval[p]:
                    state = "pendingApproval"
                created = self.ago(10 if state in ("pendingApproval", "scheduled") else 700)
                rid = new_id(rng)
                completed = created + timedelta(days=2) if state in ("denied", "canceled") else None
                start = created + timedelta(days=30) if state == "scheduled" else None
                yield (rid, "userAdd", state, self.package_ids[p], self.request_policy[p], None, self.user_ids[u],
                       self.user_ids[u], self.names[u], "For the quarter", start,
                       start + timedelta(days=90) if start else None, 1 if state == "pendingApproval" else 0,
                       created + timedelta(days=14) if state == "pendingApproval" else None, created,
                       completed or created, completed, "Changed my mind" if state == "canceled" else "")  # fmt: skip
                if state == "denied":
                    decisions.append(self._decision(rid, p, u, "Deny", created + timedelta(days=2)))

        self.w.rows(m.AssignmentRequest, REQUEST_COLUMNS, rows())
        self.w.rows(m.ApprovalDecision, DECISION_COLUMNS, decisions)

    def run(self) -> dict[str, int]:
        self.directory()
        self.people()
        self.assignments()
        self.other_requests()
        return dict(self.w.counts)


ASSIGNMENT_COLUMNS = [
    "id", "package", "policy", "target", "state", "start_at", "end_at", "created_at", "modified_at", "ended_at",
]  # fmt: skip
REQUEST_COLUMNS = [
    "id", "request_type", "state", "package", "policy", "assignment", "target", "requestor", "requestor_label",
    "justification", "schedule_start", "schedule_end", "current_stage", "stage_due_at", "created_at", "modified_at",
    "completed_at", "cancel_reason",
]  # fmt: skip
DECISION_COLUMNS = [
    "id", "request", "stage_order", "stage", "approver", "approver_label", "decision", "justification", "decided_at",
]  # fmt: skip
GRANT_COLUMNS = [
    "id", "assignment", "resource_role", "subject", "request", "state", "attempts", "next_attempt_at", "last_error",
    "granted_at", "updated_at",
]  # fmt: skip
ATTEMPT_COLUMNS = [
    "grant", "request", "connector", "operation", "outcome", "error_code", "message", "started_at", "duration_ms",
]  # fmt: skip


# --- PostgreSQL: meta, indexes, size ------------------------------------------------------------


def _meta(cursor: Any) -> dict[str, Any] | None:
    cursor.execute(f"CREATE TABLE IF NOT EXISTS {META_TABLE} (id int PRIMARY KEY, info jsonb NOT NULL)")
    cursor.execute(f"SELECT info FROM {META_TABLE} WHERE id = 1")
    row = cursor.fetchone()
    if row is None:
        return None
    info = row[0]
    return info if isinstance(info, dict) else json.loads(info)


def _drop_secondary_indexes(cursor: Any) -> list[str]:
    """Drop the indexes no constraint stands on; return their definitions to rebuild."""
    cursor.execute(
        """
        SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
        FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
        WHERE t.relname = ANY(%s)
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
        """,
        [list(BIG_TABLES)],
    )
    found = cursor.fetchall()
    for name, _ in found:
        cursor.execute(f"DROP INDEX {name}")
    return [definition for _, definition in found]


def _all_tables() -> list[str]:
    from django.apps import apps

    return sorted(
        {
            model._meta.db_table
            for label in ("governance", "myaccess", "sessions")
            if label in {a.label for a in apps.get_app_configs()}
            for model in apps.get_app_config(label).get_models(include_auto_created=True)
        }
    )


def database_size() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_database_size(current_database())")
        return int(cursor.fetchone()[0])


def generate(sizes: Sizes, *, force: bool = False, verbose: bool = True) -> dict[str, Any]:
    """Load the data set (or keep the one there). Returns counts, seconds, database size."""
    from django.db import connection, transaction

    def say(text: str) -> None:
        if verbose:
            print(f"  generate: {text}", flush=True)

    postgres = connection.vendor == "postgresql"
    wanted = asdict(sizes)
    if postgres:
        with connection.cursor() as cursor:
            info = _meta(cursor)
        if info is not None and info.get("sizes") == wanted and not force:
            say(f"kept the data set already loaded ({info['load_seconds']} s to load)")
            return {**info, "skipped": True, "database_bytes": database_size()}

    start = time.perf_counter()
    with transaction.atomic():
        with connection.cursor() as cursor:
            if postgres:
                _meta(cursor)
                tables = ", ".join(connection.ops.quote_name(t) for t in _all_tables())
                cursor.execute(f"TRUNCATE {tables}, {META_TABLE} CASCADE")
                if sizes.assignments >= 100_000:
                    # Foreign-key triggers off for the big load: the rows are consistent by
                    # construction, and smaller loads (the test, --scale small) check them.
                    cursor.execute("SET LOCAL session_replication_role = replica")
                cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
                indexes = _drop_secondary_indexes(cursor)
        generator = Generator(sizes)
        counts = generator.run()
        say(f"rows written in {time.perf_counter() - start:.1f} s")
        if postgres:
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL session_replication_role = origin")
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # check the deferred foreign keys now
                for definition in indexes:
                    cursor.execute(definition)
            say(f"indexes rebuilt at {time.perf_counter() - start:.1f} s")
    if postgres:
        with connection.cursor() as cursor:
            # VACUUM cannot run inside a transaction (the test suite's): ANALYZE can.
            cursor.execute("ANALYZE" if connection.in_atomic_block else "VACUUM ANALYZE")
    seconds = round(time.perf_counter() - start, 1)
    info = {"sizes": wanted, "counts": counts, "load_seconds": seconds}
    if postgres:
        with connection.cursor() as cursor:
            cursor.execute(f"INSERT INTO {META_TABLE} (id, info) VALUES (1, %s)", [json.dumps(info)])
        info["database_bytes"] = database_size()
    say(f"done in {seconds} s")
    return {**info, "skipped": False}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="full", choices=["full", "small"])
    parser.add_argument("--force", action="store_true", help="rebuild even if the data set is there")
    for name in ("catalogs", "packages", "users", "assignments", "requests", "visible"):
        parser.add_argument(f"--{name}", type=int)
    args = parser.parse_args()
    sizes = Sizes.named(args.scale)
    sizes = replace(sizes, **{k: v for k, v in vars(args).items() if k in asdict(sizes) and v is not None})
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    print(json.dumps(generate(sizes, force=args.force), indent=2))


if __name__ == "__main__":
    main()
