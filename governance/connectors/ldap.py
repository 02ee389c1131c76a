"""LDAP: group membership (``groupOfNames`` / ``groupOfUniqueNames``) by DN, with ldap3.

A resource's ``origin_id`` is the group's DN; its role is membership. People are found
under ``user_base`` by one attribute (``uid``, ``mail``…) matched to a Portcullis field.
The bind password is the connector's stored secret ``password``. The server is reached
through :func:`governance.outbound.ldap_server` (its address checked, then pinned).
A group's owners (rule 17) are its ``owner`` attribute: the directory sync's copy for the
groups it covers, read from the server for the others.
Connections are kept per worker process and reused across batches.

``groupOfNames`` requires at least one member: when the last real member goes, a
placeholder DN (``placeholder_dn``) is put in, in the same modify; it is taken out again
when a real member arrives, and it never counts as a member.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from uuid import UUID

import ldap3
from django.db.models.functions import Lower
from ldap3.core import exceptions as ldap_errors
from ldap3.utils.conv import escape_filter_chars

from governance.connectors.base import (
    BaseConnector,
    BatchResult,
    ConnectorError,
    IdempotencyKeys,
    PermanentError,
    RoleTarget,
    Subject,
    TransientError,
    outbound_failure,
)
from governance.connectors.fields import Field, timeout_field, user_match_field
from governance.models import DirectoryGroup, GroupOwnership, GroupSource
from governance.outbound import OutboundError, ldap_server, one_line

MEMBER_ATTRIBUTES = {"groupofnames": "member", "groupofuniquenames": "uniqueMember"}
# Result codes worth trying again: busy, unavailable, unwillingToPerform (often a replica
# catching up), loopDetect, timeLimitExceeded, adminLimitExceeded.
TRANSIENT_RESULTS = {3, 11, 51, 52, 53, 54}
UNREACHABLE = (
    ldap_errors.LDAPSocketOpenError,
    ldap_errors.LDAPSocketReceiveError,
    ldap_errors.LDAPSocketSendError,
    ldap_errors.LDAPSessionTerminatedByServerError,
    ldap_errors.LDAPResponseTimeoutError,
    ldap_errors.LDAPCommunicationError,
    ldap_errors.LDAPStartTLSError,
)
ALREADY_MEMBER = "Already a member of the LDAP group."
NOT_IN_DIRECTORY = "No LDAP entry for this person; nothing to remove."
BATCH_FILTER_SIZE = 200

_pool: dict[tuple[Any, ...], ldap3.Connection] = {}
_pool_lock = threading.Lock()


class LdapConnector(BaseConnector):
    kind = "ldap"
    label = "LDAP directory"
    can_read_members = True
    knows_owners = True
    fields = (
        Field(
            "url",
            "Server URL",
            "url",
            True,
            "ldap://host:389 or ldaps://host:636",
            default="ldap://",
            schemes=("ldap", "ldaps"),
        ),
        Field("start_tls", "Use StartTLS", "bool", help="Upgrade an ldap:// connection to TLS.", default=False),
        Field("ca_file", "CA certificate file", help="Path on the worker hosts; empty for the system's CAs."),
        Field("bind_dn", "Bind DN", required=True, help="The service account, e.g. cn=portcullis,ou=services,dc=…"),
        Field("password", "Bind password", "secret", True, "The service account's password."),
        Field("user_base", "People base DN", required=True, help="Where people are searched, e.g. ou=people,dc=…"),
        Field("user_attribute", "Person attribute", required=True, help="uid, mail, sAMAccountName…", default="uid"),
        user_match_field(),
        Field("group_base", "Groups base DN", help="Where groups are searched when adding resources."),
        Field(
            "placeholder_dn",
            "Placeholder member DN",
            required=True,
            help="Kept in a groupOfNames when its last real member leaves.",
            default="cn=portcullis-placeholder",
        ),
        timeout_field(),
    )

    def __init__(self, connector: Any) -> None:
        super().__init__(connector)
        self._dn_cache: dict[str, str] = {}
        # Group DN → its owners' DNs (lower-cased), as a search or a read just saw them.
        self._owners_seen: dict[str, set[str]] = {}

    # --- connection -------------------------------------------------------------------
    @property
    def url(self) -> str:
        return str(self.settings["url"])

    def _password(self) -> str:
        return self.secret("password", "LDAP bind password", "passwordMissing")

    def _pool_key(self) -> tuple[Any, ...]:
        return (self.model.pk, self.url, self.settings["bind_dn"], bool(self.settings["start_tls"]))

    def _connect(self) -> ldap3.Connection:
        timeout = int(self.settings["timeout"])
        try:
            server = ldap_server(
                self.url,
                start_tls=bool(self.settings["start_tls"]),
                ca_file=str(self.settings["ca_file"] or ""),
                timeout=timeout,
            )
        except OutboundError as exc:
            raise outbound_failure(exc, f"The LDAP server {self.url} cannot be used") from exc
        conn = ldap3.Connection(
            server,
            user=self.settings["bind_dn"] or None,
            password=self._password() if self.settings["bind_dn"] else None,
            receive_timeout=timeout,
            raise_exceptions=False,
            auto_referrals=False,
        )
        try:
            conn.open()
            if self.settings["start_tls"]:
                conn.start_tls()
            bound = conn.bind()
        except UNREACHABLE as exc:
            raise TransientError(
                f"The LDAP server {self.url} is unreachable: {one_line(exc)}", code="unreachable"
            ) from exc
        if not bound:
            result = conn.result or {}
            conn.unbind()
            if result.get("result") == 49:
                raise PermanentError(
                    f"Cannot sign in to {self.url} as {self.settings['bind_dn']}: invalid credentials "
                    "(enter the right bind password on the connector's page).",
                    code="invalidCredentials",
                )
            raise self._error(result, f"bind to {self.url}")
        return conn

    def _connection(self) -> ldap3.Connection:
        key = self._pool_key()
        with _pool_lock:
            conn = _pool.get(key)
        if conn is not None and not conn.closed and conn.bound:
            return conn
        conn = self._connect()
        with _pool_lock:
            _pool[key] = conn
        return conn

    def _drop(self) -> None:
        with _pool_lock:
            conn = _pool.pop(self._pool_key(), None)
        if conn is not None:
            # It is broken already; we only let go of it.
            with contextlib.suppress(Exception):
                conn.unbind()

    def _call(self, operation: str, action: Any) -> Any:
        """Run ``action(conn)``; a broken connection is dropped and reported as transient."""
        conn = self._connection()
        try:
            return action(conn)
        except UNREACHABLE as exc:
            self._drop()
            raise TransientError(
                f"The LDAP server {self.url} is unreachable: the connection was lost during {operation} "
                f"({one_line(exc)}).",
                code="unreachable",
            ) from exc

    @staticmethod
    def _error(result: Mapping[str, Any], operation: str, dn: str = "") -> ConnectorError:
        code = int(result.get("result", 80))
        description = one_line(result.get("description", "error"), 64)
        # The server's diagnostic message: its own words for an administrator, kept short.
        detail = one_line(result.get("message", ""))
        text = f"LDAP {operation} failed: {description}" + (f" ({detail})" if detail else "")
        if code == 32:
            return PermanentError(f"The group {dn} does not exist in the LDAP directory.", code="noSuchObject")
        if code == 50:
            return PermanentError(f"Not allowed to change {dn}: {description}.", code="insufficientAccessRights")
        if code in TRANSIENT_RESULTS:
            return TransientError(text, code=description)
        return PermanentError(text, code=description)

    # --- people -------------------------------------------------------------------------
    def _resolve(self, conn: ldap3.Connection, subjects: Iterable[Subject]) -> dict[UUID, str | ConnectorError]:
        """Each person's DN, found by ``user_attribute`` under ``user_base``."""
        attribute = str(self.settings["user_attribute"])
        wanted = {s.id: self.match_value(s) for s in subjects}
        lookup = sorted({v.lower() for v in wanted.values() if v and v.lower() not in self._dn_cache})
        for start in range(0, len(lookup), BATCH_FILTER_SIZE):
            chunk = lookup[start : start + BATCH_FILTER_SIZE]
            query = "(|" + "".join(f"({attribute}={escape_filter_chars(v)})" for v in chunk) + ")"
            found = conn.search(self.settings["user_base"], query, ldap3.SUBTREE, attributes=[attribute])
            if not found and (conn.result or {}).get("result", 0) not in (0, 32):
                raise self._error(conn.result, "search for people", str(self.settings["user_base"]))
            for entry in conn.entries:
                for value in entry.entry_attributes_as_dict.get(attribute, []):
                    self._dn_cache[str(value).lower()] = entry.entry_dn
        resolved: dict[UUID, str | ConnectorError] = {}
        for subject_id, value in wanted.items():
            dn = self._dn_cache.get(value.lower()) if value else None
            resolved[subject_id] = dn or PermanentError(
                f"No LDAP entry with {attribute}={value or '(empty)'} under {self.settings['user_base']}.",
                code="userNotFound",
            )
        return resolved

    # --- groups ---------------------------------------------------------------------------
    def _group(self, conn: ldap3.Connection, dn: str) -> tuple[str, set[str], bool]:
        """The group's member attribute, its members (lower-cased DNs), and whether it must
        keep at least one member."""
        if not conn.search(dn, "(objectClass=*)", ldap3.BASE, attributes=["objectClass", "member", "uniqueMember"]):
            raise self._error(conn.result, "read of the group", dn)
        values = conn.entries[0].entry_attributes_as_dict
        classes = {str(c).lower() for c in values.get("objectClass", [])}
        attribute = next((MEMBER_ATTRIBUTES[c] for c in classes if c in MEMBER_ATTRIBUTES), "member")
        members = {str(v).lower() for v in values.get(attribute, [])}
        return attribute, members, bool(classes & MEMBER_ATTRIBUTES.keys())

    def _modify(self, conn: ldap3.Connection, dn: str, changes: dict[str, list[tuple[Any, list[str]]]]) -> None:
        if not conn.modify(dn, changes):
            raise self._error(conn.result, "modify of the group", dn)

    def grant_many(
        self, role: RoleTarget, subjects: Sequence[Subject], keys: IdempotencyKeys | None = None
    ) -> BatchResult:
        group_dn = role.resource_origin_id

        def run(conn: ldap3.Connection) -> BatchResult:
            dns = self._resolve(conn, subjects)
            attribute, members, _ = self._group(conn, group_dn)
            placeholder = str(self.settings["placeholder_dn"]).lower()
            adding = sorted({dn for dn in dns.values() if isinstance(dn, str) and dn.lower() not in members})
            if adding:
                changes: list[tuple[Any, list[str]]] = [(ldap3.MODIFY_ADD, adding)]
                if placeholder in members:
                    changes.append((ldap3.MODIFY_DELETE, [self.settings["placeholder_dn"]]))
                self._modify(conn, group_dn, {attribute: changes})
            return {
                subject_id: dn
                if isinstance(dn, ConnectorError)
                else (ALREADY_MEMBER if dn.lower() in members else None)
                for subject_id, dn in dns.items()
            }

        return self._batch(subjects, "grant", lambda: self._call("grant", run))

    def revoke_many(
        self, role: RoleTarget, subjects: Sequence[Subject], keys: IdempotencyKeys | None = None
    ) -> BatchResult:
        group_dn = role.resource_origin_id

        def run(conn: ldap3.Connection) -> BatchResult:
            dns = self._resolve(conn, subjects)
            attribute, members, must_keep_one = self._group(conn, group_dn)
            placeholder = str(self.settings["placeholder_dn"])
            removing = sorted({dn for dn in dns.values() if isinstance(dn, str) and dn.lower() in members})
            if removing:
                remaining = members - {dn.lower() for dn in removing}
                changes: list[tuple[Any, list[str]]] = []
                if must_keep_one and not remaining:
                    changes.append((ldap3.MODIFY_ADD, [placeholder]))
                changes.append((ldap3.MODIFY_DELETE, removing))
                self._modify(conn, group_dn, {attribute: changes})
            return {
                subject_id: NOT_IN_DIRECTORY if isinstance(dn, ConnectorError) else None
                for subject_id, dn in dns.items()
            }

        return self._batch(subjects, "revoke", lambda: self._call("revoke", run))

    def _batch(self, subjects: Sequence[Subject], operation: str, run: Any) -> BatchResult:
        try:
            result: BatchResult = run()
        except ConnectorError as exc:
            return self.all_failed(subjects, exc)
        return result

    def members(self, role: RoleTarget) -> set[UUID]:
        group_dn = role.resource_origin_id

        def run(conn: ldap3.Connection) -> set[str]:
            _, members, _ = self._group(conn, group_dn)
            return self._values_at(conn, members - {str(self.settings["placeholder_dn"]).lower()})

        return set().union(*self.people_with(self._call("read of members", run)).values())

    def _values_at(self, conn: ldap3.Connection, dns: Iterable[str]) -> set[str]:
        """The ``user_attribute`` values (lower-cased) of the people at these DNs: from the
        DN itself when it is named by that attribute, else read from the entry."""
        attribute_name = str(self.settings["user_attribute"])
        values: set[str] = set()
        for dn in dns:
            rdn_attribute, _, rdn_value = dn.split(",", 1)[0].partition("=")
            if rdn_attribute.strip().lower() == attribute_name.lower():
                values.add(rdn_value.strip().lower())
            elif conn.search(dn, "(objectClass=*)", ldap3.BASE, attributes=[attribute_name]) and conn.entries:
                values.update(str(v).lower() for v in conn.entries[0].entry_attributes_as_dict.get(attribute_name, []))
        return values

    def owners(self, origin_ids: Sequence[str]) -> dict[str, set[UUID]]:
        """A group's ``owner`` attribute: as the directory sync last read it for the groups it
        covers, read from the server for the others."""
        found: dict[str, set[UUID]] = {dn: set() for dn in origin_ids}
        synced = {
            key: group_id
            for group_id, key in DirectoryGroup.objects.filter(source=GroupSource.LDAP)
            .annotate(key=Lower("external_id"))
            .filter(key__in={dn.lower() for dn in origin_ids})
            .values_list("pk", "key")
        }
        by_group: dict[UUID, set[UUID]] = {}
        for group_id, user_id in GroupOwnership.objects.filter(group_id__in=synced.values()).values_list(
            "group_id", "user_id"
        ):
            by_group.setdefault(group_id, set()).add(user_id)
        unsynced = [dn for dn in origin_ids if dn.lower() not in synced]

        def run(conn: ldap3.Connection) -> dict[str, set[str]]:
            values: dict[str, set[str]] = {}
            for dn in unsynced:
                key = dn.lower()
                if key not in self._owners_seen:
                    self._owners_seen[key] = set()
                    # A group that does not exist is owned by nobody.
                    if conn.search(dn, "(objectClass=*)", ldap3.BASE, attributes=["owner"]) and conn.entries:
                        owner_dns = conn.entries[0].entry_attributes_as_dict.get("owner", [])
                        self._owners_seen[key] = {str(v).lower() for v in owner_dns}
                values[dn] = self._values_at(conn, self._owners_seen[key])
            return values

        values: dict[str, set[str]] = self._call("read of owners", run) if unsynced else {}
        people = self.people_with(v for found_values in values.values() for v in found_values)
        for dn in origin_ids:
            if dn.lower() in synced:
                found[dn] = by_group.get(synced[dn.lower()], set())
            else:
                found[dn] = set().union(*(people.get(v, set()) for v in values.get(dn, set())))
        return found

    def test(self) -> str:
        group_base = str(self.settings["group_base"] or self.settings["user_base"])

        def run(conn: ldap3.Connection) -> str:
            found = conn.search(
                group_base,
                "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))",
                ldap3.SUBTREE,
                attributes=["cn"],
                size_limit=1000,
            )
            # 4 is sizeLimitExceeded: more than a thousand groups is still a working server.
            if not found and (conn.result or {}).get("result") not in (0, 4):
                raise self._error(conn.result, "search for groups", group_base)
            return (
                f"Connected to {self.url} as {self.settings['bind_dn'] or 'anonymous'}; "
                f"{len(conn.entries)} groups under {group_base}."
            )

        result: str = self._call("test", run)
        return result

    def search(self, query: str, limit: int = 20, owned_by: Subject | None = None) -> list[tuple[str, str]]:
        group_base = str(self.settings["group_base"] or self.settings["user_base"])
        text = escape_filter_chars(query.strip())

        def run(conn: ldap3.Connection) -> list[tuple[str, str]]:
            query = f"(&(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))(cn=*{text}*))"
            if owned_by is not None:
                owner_dn = self._resolve(conn, [owned_by])[owned_by.id]
                if isinstance(owner_dn, ConnectorError):
                    return []  # not in this directory: owns nothing in it
                query = f"(&{query}(owner={escape_filter_chars(owner_dn)}))"
            conn.search(group_base, query, ldap3.SUBTREE, attributes=["cn", "owner"], size_limit=limit)
            for entry in conn.entries:
                owners = entry.entry_attributes_as_dict.get("owner", [])
                self._owners_seen[entry.entry_dn.lower()] = {str(v).lower() for v in owners}
            return sorted((e.entry_dn, str(e.cn.value)) for e in conn.entries)

        found: list[tuple[str, str]] = self._call("search", run)
        return found
