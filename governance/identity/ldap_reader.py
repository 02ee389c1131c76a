"""Reading an LDAP directory for the directory sync: its configuration (``LDAP_SYNC_*``,
read into ``settings.LDAP_SYNC``; README "Directory sync" documents each variable), the
connection, and the people and groups it holds, as plain data.

Nothing here writes to the database: :mod:`governance.services.directory_sync` applies
what this reads. Every address is checked by :mod:`governance.outbound` before a
connection is opened.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import ldap3
from django.conf import settings
from ldap3.core import exceptions as ldap_errors

from governance.connectors.ldap import UNREACHABLE
from governance.outbound import OutboundError, ldap_server

PAGED_RESULTS = "1.2.840.113556.1.4.319"
DEFAULTS: dict[str, Any] = {
    "source": "ldap",
    "url": "",
    "bind_dn": "",
    "bind_password": "",
    "start_tls": False,
    "ca_file": "",
    "timeout": 10,
    "page_size": 500,
    "user_base": "",
    "user_filter": "(objectClass=inetOrgPerson)",
    "username_attribute": "uid",
    "email_attribute": "mail",
    "display_name_attribute": "displayName",
    "first_name_attribute": "givenName",
    "last_name_attribute": "sn",
    "manager_attribute": "manager",
    "disabled_filter": "",
    "group_base": "",
    "group_filter": "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))",
    "group_name_attribute": "cn",
    "full_sync_hours": 24,
    "max_delete_percent": 50,
}


class DirectorySyncError(Exception):
    """The sync could not run; ``message`` says what to fix."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class SyncConfig:
    values: Mapping[str, Any]

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    @property
    def source(self) -> str:
        return str(self.values["source"])

    @property
    def group_base(self) -> str:
        return str(self.values["group_base"] or self.values["user_base"])


def sync_config() -> SyncConfig | None:
    """The configured sync, or None when ``LDAP_SYNC_URL`` is not set."""
    values = {**DEFAULTS, **(getattr(settings, "LDAP_SYNC", None) or {})}
    if not values["url"]:
        return None
    return SyncConfig(values)


def config_problems(config: SyncConfig) -> list[str]:
    """What is wrong with the configuration, in words an operator can act on."""
    problems = []
    url = str(config["url"])
    if not url.startswith(("ldap://", "ldaps://")):
        problems.append(f"LDAP_SYNC_URL must start with ldap:// or ldaps:// (it is {url!r}).")
    if not config["user_base"]:
        problems.append("LDAP_SYNC_USER_BASE is not set: where are the people?")
    if config["bind_dn"] and not config["bind_password"]:
        problems.append("LDAP_SYNC_BIND_DN is set but LDAP_SYNC_BIND_PASSWORD is not.")
    for name in ("user_filter", "group_filter", "disabled_filter"):
        value = str(config[name] or "")
        if value and not _balanced_filter(value):
            problems.append(f"LDAP_SYNC_{name.upper()} is not a valid LDAP filter: {value!r}.")
    for name in ("page_size", "full_sync_hours", "timeout"):
        if int(config[name]) <= 0:
            problems.append(f"LDAP_SYNC_{name.upper()} must be a positive number.")
    return problems


def _balanced_filter(value: str) -> bool:
    depth = 0
    for char in value:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0 and value.startswith("(") and value.endswith(")")


# --- What the directory says -------------------------------------------------------------


@dataclass
class LdapPerson:
    dn: str
    uuid: str
    username: str
    email: str
    display_name: str
    first_name: str
    last_name: str
    manager_dn: str
    disabled: bool = False


@dataclass
class LdapGroup:
    dn: str
    name: str
    description: str
    mail: str
    member_dns: set[str]
    owner_dns: set[str] = field(default_factory=set)


class Directory:
    """A bound ldap3 connection and the searches the sync needs."""

    def __init__(self, config: SyncConfig) -> None:
        self.config = config
        self.conn = self._connect()

    def _connect(self) -> ldap3.Connection:
        config = self.config
        url = str(config["url"])
        timeout = int(config["timeout"])
        try:
            server = ldap_server(
                url, start_tls=bool(config["start_tls"]), ca_file=str(config["ca_file"] or ""), timeout=timeout
            )
            conn = ldap3.Connection(
                server,
                user=config["bind_dn"] or None,
                password=config["bind_password"] or None,
                receive_timeout=timeout,
                raise_exceptions=False,
                auto_referrals=False,
            )
            conn.open()
            if config["start_tls"]:
                conn.start_tls()
            bound = conn.bind()
        except OutboundError as exc:
            raise DirectorySyncError(f"The LDAP server {url} cannot be used: {exc.reason}.") from exc
        except UNREACHABLE as exc:
            raise DirectorySyncError(f"The LDAP server {url} is unreachable: {exc}") from exc
        except ldap_errors.LDAPException as exc:
            raise DirectorySyncError(f"Cannot connect to the LDAP server {url}: {exc}") from exc
        if not bound:
            result = conn.result or {}
            with contextlib.suppress(Exception):
                conn.unbind()
            if result.get("result") == 49:
                raise DirectorySyncError(
                    f"Cannot sign in to {url} as {config['bind_dn'] or 'anonymous'}: invalid credentials "
                    "(check LDAP_SYNC_BIND_DN and LDAP_SYNC_BIND_PASSWORD)."
                )
            raise DirectorySyncError(f"Cannot sign in to {url}: {result.get('description', 'error')}.")
        return conn

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.unbind()

    def search(self, base: str, query: str, attributes: Sequence[str]) -> Iterator[tuple[str, dict[str, list[str]]]]:
        """Every entry under ``base`` matching ``query``, page by page (simple paged results)."""
        cookie: Any = None
        while True:
            try:
                self.conn.search(
                    base,
                    query,
                    ldap3.SUBTREE,
                    attributes=list(attributes),
                    paged_size=int(self.config["page_size"]),
                    paged_cookie=cookie,
                )
            except UNREACHABLE as exc:
                raise DirectorySyncError(f"The connection to the LDAP server was lost: {exc}") from exc
            except ldap_errors.LDAPException as exc:
                raise DirectorySyncError(f"LDAP search of {base} with {query} failed: {exc}") from exc
            result = self.conn.result or {}
            code = result.get("result", 0)
            if code == 32:
                raise DirectorySyncError(f"The search base {base} does not exist in the LDAP directory.")
            if code not in (0,):
                raise DirectorySyncError(
                    f"LDAP search of {base} with {query} failed: {result.get('description', code)}"
                    + (f" ({result['message']})" if result.get("message") else "")
                )
            for response in self.conn.response or []:
                if response.get("type") != "searchResEntry":
                    continue
                raw = response.get("raw_attributes") or {}
                yield (
                    str(response["dn"]),
                    {
                        str(k).lower(): [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in vs]
                        for k, vs in raw.items()
                    },
                )
            cookie = (result.get("controls") or {}).get(PAGED_RESULTS, {}).get("value", {}).get("cookie")
            if not cookie:
                return

    def people(self, since: str) -> tuple[list[LdapPerson], str]:
        c = self.config
        names = [
            c["username_attribute"],
            c["email_attribute"],
            c["display_name_attribute"],
            "cn",
            c["first_name_attribute"],
            c["last_name_attribute"],
            c["manager_attribute"],
            "entryUUID",
            "modifyTimestamp",
        ]
        query = _since(str(c["user_filter"]), since)
        people: list[LdapPerson] = []
        newest = ""
        for dn, values in self.search(str(c["user_base"]), query, names):

            def first(name: str, values: dict[str, list[str]] = values) -> str:
                found = values.get(str(name).lower()) or [""]
                return found[0].strip()

            username = first(c["username_attribute"])
            if not username:
                continue
            newest = max(newest, first("modifyTimestamp"))
            people.append(
                LdapPerson(
                    dn=dn,
                    uuid=first("entryUUID") or dn.lower(),
                    username=username[:150],
                    email=first(c["email_attribute"]).lower()[:254],
                    display_name=(first(c["display_name_attribute"]) or first("cn"))[:256],
                    first_name=first(c["first_name_attribute"])[:150],
                    last_name=first(c["last_name_attribute"])[:150],
                    manager_dn=first(c["manager_attribute"]).lower(),
                )
            )
        disabled_filter = str(c["disabled_filter"] or "")
        if disabled_filter and people:
            disabled_query = _since(f"(&{c['user_filter']}{disabled_filter})", since)
            disabled = {dn.lower() for dn, _ in self.search(str(c["user_base"]), disabled_query, ["1.1"])}
            for person in people:
                person.disabled = person.dn.lower() in disabled
        return people, newest

    def groups(self, since: str) -> tuple[list[LdapGroup], str]:
        c = self.config
        name_attribute = str(c["group_name_attribute"])
        names = [name_attribute, "description", "mail", "member", "uniqueMember", "owner", "modifyTimestamp"]
        groups: list[LdapGroup] = []
        newest = ""
        for dn, values in self.search(self.config.group_base, _since(str(c["group_filter"]), since), names):
            newest = max(newest, (values.get("modifytimestamp") or [""])[0])
            members = {v.lower() for v in [*values.get("member", []), *values.get("uniquemember", [])]}
            groups.append(
                LdapGroup(
                    dn=dn,
                    name=((values.get(name_attribute.lower()) or [""])[0] or dn)[:256],
                    description=(values.get("description") or [""])[0],
                    mail=(values.get("mail") or [""])[0][:254],
                    member_dns=members,
                    owner_dns={v.lower() for v in values.get("owner", [])},
                )
            )
        return groups, newest


def _since(query: str, since: str) -> str:
    return f"(&{query}(modifyTimestamp>={since}))" if since else query
