"""Real target systems started by the tests: a SCIM 2.0 server, a webhook receiver, and the
roster service the example connector plugin (examples/portcullis-connector-example) talks to."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import parse_qs, unquote

import httpx
import pytest

from governance.connectors.webhook import SIGNATURE_HEADER, verify
from tests.ldap_server import free_port

SCIM_TOKEN = "scim-test-token"
WEBHOOK_SECRET = "webhook-test-secret"
ROSTER_API_KEY = "roster-test-key"


@dataclass
class ScimServer:
    """`scim2-server` (PyPI) in a subprocess, with helpers that talk to it directly."""

    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        binary = Path(sys.executable).with_name("scim2-server")
        self.process = subprocess.Popen(
            [str(binary), "--port", str(self.port), "--bearer-token", SCIM_TOKEN],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{self.url}/ServiceProviderConfig", timeout=0.5)
                return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("scim2-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def reset(self) -> None:
        """Delete every group and user: a test starts from an empty server."""
        with self._client() as client:
            for kind in ("Groups", "Users"):
                while found := client.get(f"/{kind}", params={"count": 500}).raise_for_status().json().get("Resources"):
                    for resource in found:
                        client.delete(f"/{kind}/{resource['id']}").raise_for_status()

    def _client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {SCIM_TOKEN}", "Content-Type": "application/scim+json"},
        )

    def add_user(self, user_name: str) -> str:
        with self._client() as client:
            body = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": user_name}
            return str(client.post("/Users", json=body).raise_for_status().json()["id"])

    def add_group(self, name: str) -> str:
        with self._client() as client:
            body = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name}
            return str(client.post("/Groups", json=body).raise_for_status().json()["id"])

    def member_names(self, group_id: str) -> set[str]:
        with self._client() as client:
            members = client.get(f"/Groups/{group_id}").raise_for_status().json().get("members") or []
            names = set()
            for member in members:
                names.add(client.get(f"/Users/{member['value']}").raise_for_status().json()["userName"])
            return names


class _Target(Protocol):
    def start(self) -> None: ...
    def stop(self) -> None: ...


_T = TypeVar("_T", bound=_Target)


def _running(target: _T) -> Iterator[_T]:
    """A fixture's body: the target started for the test and stopped after it."""
    target.start()
    try:
        yield target
    finally:
        target.stop()


@pytest.fixture(scope="session")
def scim_server_process() -> Iterator[ScimServer]:
    """One scim2-server for the session (per xdist process); tests use it through ``scim_server``."""
    yield from _running(ScimServer())


@pytest.fixture
def scim_server(scim_server_process: ScimServer) -> ScimServer:
    """The session's SCIM server, empty: running again if a test stopped it, reset otherwise."""
    if scim_server_process.running:
        scim_server_process.reset()
    else:
        scim_server_process.start()
    return scim_server_process


class _QuietHandler(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


@dataclass
class _InThreadServer:
    """An HTTP server on a free port, answering from a thread of the test process."""

    port: int = field(default_factory=free_port)
    server: ThreadingHTTPServer | None = None

    def _serve(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@dataclass
class Receiver(_InThreadServer):
    """Records signed webhook events; can be told to fail or to be slow."""

    events: list[dict[str, Any]] = field(default_factory=list)
    rejected_signatures: int = 0
    fail_next: int = 0
    fail_status: int = 503
    delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/portcullis"

    def keys(self) -> list[str]:
        with self.lock:
            return [e["idempotencyKey"] for e in self.events]

    def start(self) -> None:
        receiver = self

        class Handler(_QuietHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if not verify(WEBHOOK_SECRET, self.headers.get(SIGNATURE_HEADER, ""), body):
                    with receiver.lock:
                        receiver.rejected_signatures += 1
                    self._answer(401, b"bad signature")
                    return
                if receiver.delay:
                    time.sleep(receiver.delay)
                with receiver.lock:
                    if receiver.fail_next:
                        receiver.fail_next -= 1
                        status = receiver.fail_status
                    else:
                        status = 200
                        event = json.loads(body)
                        event["headerKey"] = self.headers.get("Idempotency-Key")
                        receiver.events.append(event)
                self._answer(status, b"ok" if status == 200 else b"receiver says no")

            def _answer(self, status: int, text: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

        self._serve(Handler)


@pytest.fixture
def webhook_receiver() -> Iterator[Receiver]:
    yield from _running(Receiver())


@dataclass
class RosterServer(_InThreadServer):
    """The example plugin's target: teams and their members (usernames) in memory, behind a
    bearer key, with the JSON API its README describes."""

    teams: dict[str, set[str]] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    refused_keys: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def add_team(self, team_id: str, name: str, members: tuple[str, ...] = ()) -> str:
        with self.lock:
            self.teams[team_id] = set(members)
            self.names[team_id] = name
        return team_id

    def members(self, team_id: str) -> set[str]:
        with self.lock:
            return set(self.teams[team_id])

    def _answer(self, method: str, path: str, query: str, body: dict[str, Any]) -> tuple[int, Any]:
        parts = path.removeprefix("/api/").strip("/").split("/")
        with self.lock:
            if parts == ["teams"] and method == "GET":
                search = parse_qs(query).get("search", [""])[0].lower()
                found = [{"id": i, "name": n} for i, n in self.names.items() if search in n.lower()]
                return 200, {"teams": found}
            if len(parts) == 3 and parts[0] == "teams" and parts[2] == "members":
                team = self.teams.get(unquote(parts[1]))
                if team is None:
                    return 404, {"error": "no such team"}
                if method == "POST":
                    team.update(str(v) for v in body.get("add", []))
                    team.difference_update(str(v) for v in body.get("remove", []))
                return 200, {"members": sorted(team)}
        return 404, {"error": "not found"}

    def start(self) -> None:
        roster = self

        class Handler(_QuietHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length", 0) or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if self.headers.get("Authorization") != f"Bearer {ROSTER_API_KEY}":
                    with roster.lock:
                        roster.refused_keys += 1
                    status, answer = 401, {"error": "bad key"}
                else:
                    path, _, query = self.path.partition("?")
                    status, answer = roster._answer(self.command, path, query, body)
                text = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

            do_GET = do_POST = _handle

        self._serve(Handler)


@pytest.fixture
def roster_server() -> Iterator[RosterServer]:
    yield from _running(RosterServer())


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Listener(_InThreadServer):
    """Any HTTP server a test needs: answers every request with ``status``, ``headers`` and
    ``body`` (``body_size`` bytes of filler instead, streamed, when set), and records what it
    was sent. The "attacker's listener" of the security tests, or a throttling target."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    body_size: int = 0
    declare_length: bool = True  # False: no Content-Length, the body ends when the connection closes
    seen: list[Seen] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        listener = self

        class Handler(_QuietHandler):
            def _answer(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
                listener.seen.append(Seen(self.command, self.path, dict(self.headers.items()), body))
                self.send_response(listener.status)
                for name, value in listener.headers.items():
                    self.send_header(name, value)
                size = listener.body_size or len(listener.body)
                if listener.declare_length:
                    self.send_header("Content-Length", str(size))
                else:
                    self.close_connection = True
                self.end_headers()
                if not listener.body_size:
                    self.wfile.write(listener.body)
                    return
                chunk = b"x" * 65536
                with contextlib.suppress(OSError):  # the client may stop reading: that is the point
                    for start in range(0, size, len(chunk)):
                        self.wfile.write(chunk[: size - start])

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _answer

        self._serve(Handler)


@pytest.fixture
def listener() -> Iterator[Listener]:
    yield from _running(Listener())


@dataclass
class RedisServer:
    """A private redis-server, so a test can stop the broker without touching anyone else's."""

    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                import redis

                if redis.Redis(port=self.port, socket_connect_timeout=0.2).ping():
                    return
            except Exception:  # noqa: BLE001 - not up yet
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    import shutil

    from tests.conftest import need

    need(shutil.which("redis-server") is not None, "this test needs redis-server")
    yield from _running(RedisServer())
