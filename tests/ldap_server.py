"""A private, throwaway OpenLDAP server (Debian's slapd) on a free port.

Used by the LDAP connector tests and by `make bench`. Each instance has its own config
and data directory; `stop()` and `start()` let fault tests take it away and bring it back
on the same port with the same data. The tests share one per session (per xdist process):
each test starts from an empty people and groups OU (`clear()`).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

SUFFIX = "dc=portcullis,dc=example"
ADMIN_DN = f"cn=admin,{SUFFIX}"
ADMIN_PASSWORD = "secret"
PEOPLE = f"ou=people,{SUFFIX}"
GROUPS = f"ou=groups,{SUFFIX}"

_CONFIG = """dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: {dir}/slapd.pid
olcArgsFile: {dir}/slapd.args

dn: cn=module{{0}},cn=config
objectClass: olcModuleList
cn: module{{0}}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file:///etc/ldap/schema/core.ldif
include: file:///etc/ldap/schema/cosine.ldif
include: file:///etc/ldap/schema/inetorgperson.ldif

dn: olcDatabase={{-1}}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {{-1}}frontend
olcSizeLimit: unlimited

dn: olcDatabase={{0}}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {{0}}config

dn: olcDatabase={{1}}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {{1}}mdb
olcSuffix: {suffix}
olcRootDN: {admin}
olcRootPW: {password}
olcDbDirectory: {dir}/data
olcDbMaxSize: 1073741824
olcDbNoSync: {nosync}
olcDbIndex: objectClass eq
olcDbIndex: uid eq
olcDbIndex: mail eq
olcDbIndex: cn eq,sub
olcDbIndex: member eq
olcDbIndex: uniqueMember eq
olcLimits: dn.exact="{admin}" size=unlimited time=unlimited
"""


def slapd_path() -> str | None:
    return shutil.which("slapd") or ("/usr/sbin/slapd" if Path("/usr/sbin/slapd").exists() else None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Slapd:
    directory: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    # The tests' throwaway data need not survive a power cut: no fsync per write (4x faster).
    # `make bench` keeps a durable server, as a real directory is.
    durable: bool = True

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    def configure(self) -> None:
        (self.directory / "data").mkdir(parents=True, exist_ok=True)
        (self.directory / "slapd.d").mkdir(exist_ok=True)
        ldif = self.directory / "config.ldif"
        ldif.write_text(
            _CONFIG.format(
                dir=self.directory,
                suffix=SUFFIX,
                admin=ADMIN_DN,
                password=ADMIN_PASSWORD,
                nosync="FALSE" if self.durable else "TRUE",
            )
        )
        subprocess.run(
            [slapd_path() or "slapd", "-T", "add", "-n", "0", "-F", str(self.directory / "slapd.d"), "-l", str(ldif)],
            check=True,
            capture_output=True,
        )

    def start(self) -> None:
        binary = slapd_path()
        assert binary, "slapd is not installed"
        self.process = subprocess.Popen(
            [binary, "-h", f"{self.url}/", "-F", str(self.directory / "slapd.d"), "-d", "0"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                output = self.process.stderr.read().decode() if self.process.stderr else ""
                raise RuntimeError(f"slapd exited: {output}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("slapd did not start listening")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    # --- Data, through a plain ldap3 admin connection -----------------------------------
    def admin(self):  # type: ignore[no-untyped-def]
        import ldap3

        return ldap3.Connection(
            ldap3.Server(self.url, get_info=ldap3.NONE), ADMIN_DN, ADMIN_PASSWORD, auto_bind=True, raise_exceptions=True
        )

    def seed(self) -> None:
        with self.admin() as conn:
            conn.add(SUFFIX, ["dcObject", "organization"], {"o": "Portcullis", "dc": "portcullis"})
            conn.add(PEOPLE, ["organizationalUnit"], {"ou": "people"})
            conn.add(GROUPS, ["organizationalUnit"], {"ou": "groups"})

    def clear(self) -> None:
        """Back to what `seed()` made: every other entry is deleted, deepest first."""
        import ldap3

        keep = {SUFFIX.lower(), PEOPLE.lower(), GROUPS.lower()}
        with self.admin() as conn:
            conn.search(SUFFIX, "(objectClass=*)", ldap3.SUBTREE, attributes=[])
            found = {entry.entry_dn.lower(): entry.entry_dn for entry in conn.entries}
            for dn in sorted(found.keys() - keep, key=lambda d: d.count(","), reverse=True):
                conn.delete(found[dn])
        if keep - found.keys():  # a test removed an OU (or the suffix) itself
            self._seed_missing(keep - found.keys())

    def _seed_missing(self, missing: set[str]) -> None:
        entries = [
            (SUFFIX, ["dcObject", "organization"], {"o": "Portcullis", "dc": "portcullis"}),
            (PEOPLE, ["organizationalUnit"], {"ou": "people"}),
            (GROUPS, ["organizationalUnit"], {"ou": "groups"}),
        ]
        with self.admin() as conn:
            for dn, classes, attributes in entries:
                if dn.lower() in missing:
                    conn.add(dn, classes, attributes)

    def add_people(self, usernames: Iterable[str]) -> None:
        with self.admin() as conn:
            for username in usernames:
                conn.add(
                    f"uid={username},{PEOPLE}",
                    ["inetOrgPerson"],
                    {"cn": username, "sn": username, "uid": username, "mail": f"{username}@portcullis.example"},
                )

    def add_group(self, name: str, members: Iterable[str] = (), object_class: str = "groupOfNames") -> str:
        attribute = "uniqueMember" if object_class == "groupOfUniqueNames" else "member"
        dns = [f"uid={m},{PEOPLE}" for m in members] or [f"cn=portcullis-placeholder,{SUFFIX}"]
        dn = f"cn={name},{GROUPS}"
        with self.admin() as conn:
            conn.add(dn, [object_class], {"cn": name, attribute: dns})
        return dn

    def members(self, group_dn: str) -> set[str]:
        """Usernames (uid) that are members of the group, as the directory says."""
        import ldap3

        with self.admin() as conn:
            conn.search(group_dn, "(objectClass=*)", ldap3.BASE, attributes=["member", "uniqueMember"])
            entry = conn.entries[0]
            found = entry.entry_attributes_as_dict
            values = [*found.get("member", []), *found.get("uniqueMember", [])]
        return {dn.split(",")[0].split("=", 1)[1] for dn in values if dn.lower().startswith("uid=")}

    def remove_member(self, group_dn: str, username: str) -> None:
        import ldap3

        with self.admin() as conn:
            conn.modify(group_dn, {"member": [(ldap3.MODIFY_DELETE, [f"uid={username},{PEOPLE}"])]})


def connector_config(server: Slapd, **extra: Any) -> dict[str, Any]:
    """An LDAP connector's configuration for this directory (its password is ADMIN_PASSWORD)."""
    return {
        "url": server.url,
        "bind_dn": ADMIN_DN,
        "user_base": PEOPLE,
        "group_base": GROUPS,
        "user_attribute": "uid",
        "user_match": "username",
        **extra,
    }


def start_slapd(directory: Path, durable: bool = True) -> Slapd:
    server = Slapd(directory, durable=durable)
    server.configure()
    server.start()
    server.seed()
    return server


@pytest.fixture(scope="session")
def slapd_server() -> Iterator[Slapd]:
    """One slapd for the session (per xdist process); tests use it through ``slapd``."""
    from tests.conftest import need

    need(slapd_path() is not None, "LDAP tests need slapd (apt-get install slapd ldap-utils)")
    directory = Path(tempfile.mkdtemp(prefix="portcullis-slapd-"))
    server = start_slapd(directory, durable=False)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def slapd(slapd_server: Slapd) -> Slapd:
    """An empty directory (people and groups OUs) for one test, on the session's slapd: running
    again if a test stopped it, every entry an earlier test added deleted."""
    if not slapd_server.running:
        slapd_server.start()
    slapd_server.clear()
    return slapd_server
