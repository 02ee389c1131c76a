"""Every call Portcullis makes to another system goes through here.

SCIM and webhook connectors, the LDAP connector and the directory sync, single sign-on
(discovery, keys, token, userinfo), custom extensions and chat channels (apprise's notifiers,
through :data:`REQUESTS_LIKE`) reach their targets only through :class:`HttpSession`,
:func:`http_request` and :func:`ldap_server`, which

* refuse link-local (169.254.0.0/16, fe80::/10) and cloud-metadata addresses always, and
  also unspecified, multicast and reserved ones;
* refuse loopback (127.0.0.0/8, ::1) unless ``OUTBOUND_ALLOW_LOOPBACK``, and private ranges
  (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7) when ``OUTBOUND_ALLOW_PRIVATE`` is off;
* check the addresses a name resolves to and connect to exactly the address checked
  (a DNS answer that changes between the check and the connection changes nothing);
* follow no redirects, use short timeouts, and stop reading an answer past
  ``OUTBOUND_MAX_RESPONSE_BYTES``.

Failures are :class:`OutboundError` with a short reason ("connection refused", "address not
allowed: link-local (169.254.169.254)"): never the remote body, which is not ours to show.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import ssl
import threading
import unicodedata
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpcore
import httpx
import ldap3
from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Names that answer with cloud credentials on the instance they are asked from.
METADATA_HOSTS = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "metadata.azure.internal",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.tencentyun.com",
    }
)
_net = ipaddress.ip_network
METADATA_ADDRESSES = (
    _net("169.254.169.254/32"),  # AWS, GCP, Azure, OpenStack, Oracle, DigitalOcean
    _net("169.254.170.2/32"),  # AWS ECS task credentials
    _net("fd00:ec2::254/128"),  # AWS IMDS over IPv6
    _net("100.100.100.200/32"),  # Alibaba Cloud
    _net("168.63.129.16/32"),  # Azure wire server
)
ALWAYS_REFUSED: tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str], ...] = (
    *((network, "cloud metadata") for network in METADATA_ADDRESSES),
    (_net("169.254.0.0/16"), "link-local"),
    (_net("fe80::/10"), "link-local"),
    (_net("0.0.0.0/8"), "unspecified"),
    (_net("::/128"), "unspecified"),
    (_net("224.0.0.0/4"), "multicast"),
    (_net("ff00::/8"), "multicast"),
    (_net("240.0.0.0/4"), "reserved"),
)
LOOPBACK = (_net("127.0.0.0/8"), _net("::1/128"))
PRIVATE = (
    _net("10.0.0.0/8"),
    _net("172.16.0.0/12"),
    _net("192.168.0.0/16"),
    _net("100.64.0.0/10"),
    _net("fc00::/7"),
)
NAT64 = _net("64:ff9b::/96")
CONNECT_TIMEOUT_SECONDS = 5.0


class OutboundError(Exception):
    """A call that did not get an answer we can use; ``reason`` is short and safe to show."""

    transient: ClassVar[bool] = True
    default_code: ClassVar[str] = "unreachable"

    def __init__(self, reason: str, code: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code or self.default_code

    def __str__(self) -> str:
        return self.reason


class AddressNotAllowed(OutboundError):
    transient = False
    default_code = "addressNotAllowed"


class ResponseTooLarge(OutboundError):
    transient = False
    default_code = "responseTooLarge"


# --- Addresses ------------------------------------------------------------------------------


def _embedded_ipv4(address: IPAddress) -> IPAddress:
    """The IPv4 address hidden in an IPv6 one (mapped, 6to4, NAT64), else the address."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
        if address in NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def refusal(address: IPAddress) -> str | None:
    """Why this address may not be called, or None when it may."""
    for candidate in {address, _embedded_ipv4(address)}:
        for network, reason in ALWAYS_REFUSED:
            if candidate.version == network.version and candidate in network:
                return reason
        if not settings.OUTBOUND_ALLOW_LOOPBACK and any(
            candidate.version == n.version and candidate in n for n in LOOPBACK
        ):
            return "loopback"
        if not settings.OUTBOUND_ALLOW_PRIVATE and any(
            candidate.version == n.version and candidate in n for n in PRIVATE
        ):
            return "private network"
    return None


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def allowed_addresses(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to, each checked; any refused one refuses the host."""
    name = (host or "").strip().rstrip(".").lower()
    if not name:
        raise AddressNotAllowed("address not allowed: no host")
    if name in METADATA_HOSTS:
        raise AddressNotAllowed(f"address not allowed: cloud metadata ({name})")
    literal = _literal(name)
    if literal is not None:
        candidates = [literal]
    else:
        try:
            found = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise OutboundError(f"host not found ({name})", code="hostNotFound") from exc
        candidates = []
        for *_, sockaddr in found:
            address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
            if address not in candidates:
                candidates.append(address)
    for address in candidates:
        reason = refusal(address)
        if reason:
            shown = f"{name} is {address}" if literal is None else str(address)
            raise AddressNotAllowed(f"address not allowed: {reason} ({shown})")
    return [str(a) for a in candidates]


def check_url(url: str) -> None:
    """Refuse a URL whose host is a literal address (or metadata name) never allowed, before
    it is saved; names are resolved, and checked again, at every call."""
    host = urlsplit(url).hostname or ""
    if host.lower().rstrip(".") in METADATA_HOSTS:
        raise AddressNotAllowed(f"address not allowed: cloud metadata ({host})")
    literal = _literal(host)
    if literal is not None:
        reason = refusal(literal)
        if reason:
            raise AddressNotAllowed(f"address not allowed: {reason} ({literal})")


def one_line(text: object, limit: int = 120) -> str:
    """Text from another system made safe to show: one line, no control characters, short."""
    cleaned = "".join(" " if unicodedata.category(c).startswith("C") else c for c in str(text or ""))
    cleaned = " ".join(cleaned.split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1].rstrip() + "…"


def _transport_reason(exc: BaseException) -> tuple[str, str]:
    """(reason, code) for a failed connection, from the exception and its causes."""
    if isinstance(exc, httpx.TimeoutException | socket.timeout | TimeoutError):
        return "timed out", "timeout"
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return "TLS certificate not trusted", "tlsError"
        if isinstance(seen, ssl.SSLError):
            return "TLS handshake failed", "tlsError"
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused", "unreachable"
        if isinstance(seen, ConnectionResetError):
            return "connection reset", "unreachable"
        if isinstance(seen, socket.gaierror):
            return "host not found", "hostNotFound"
        if isinstance(seen, httpx.RemoteProtocolError | httpx.DecodingError):
            return "not a valid HTTP answer", "protocolError"
        seen = seen.__cause__ or seen.__context__
    return "connection failed", "unreachable"


# --- HTTP -----------------------------------------------------------------------------------


class _PinnedBackend(httpcore.SyncBackend):
    """Connects only to addresses :func:`allowed_addresses` checked; TLS still verifies the
    certificate against the host name (httpcore passes it as the server name)."""

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        last: Exception | None = None
        for address in allowed_addresses(host, port):
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:
                last = exc
        assert last is not None
        raise last


_ssl_contexts: dict[bool, ssl.SSLContext] = {}


def _ssl_context(verify: bool) -> ssl.SSLContext:
    """One context per verify setting for the process (loading the CA bundle is slow)."""
    if verify not in _ssl_contexts:
        _ssl_contexts[verify] = httpx.create_ssl_context(verify=verify, trust_env=False)
    return _ssl_contexts[verify]


class _PinnedTransport(httpx.HTTPTransport):
    """httpx's transport over a connection pool of our own: the pinned backend, and no proxy
    (a proxy would resolve names itself). Only ``_pool`` is used by the parent's methods."""

    def __init__(self, verify: bool = True) -> None:
        self._pool = httpcore.ConnectionPool(
            ssl_context=_ssl_context(verify),
            max_connections=10,
            max_keepalive_connections=5,
            keepalive_expiry=30.0,
            network_backend=_PinnedBackend(),
        )


@dataclass(frozen=True)
class Reply:
    """An answer read in full (within the size cap)."""

    status: int
    headers: httpx.Headers
    content: bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def reason(self) -> str:
        # The standard phrase for the code, never the one the server sent (it can say anything).
        return httpx.codes.get_reason_phrase(self.status) or "Unknown"

    @property
    def summary(self) -> str:
        """What may be shown of a failed answer: "HTTP 401 Unauthorized"."""
        text = f"HTTP {self.status} {self.reason}"
        return text + " (redirects are not followed)" if 300 <= self.status < 400 else text

    def json(self) -> Any:
        return json.loads(self.content)


def _timeout(seconds: float) -> httpx.Timeout:
    limit = min(float(seconds), float(settings.OUTBOUND_MAX_TIMEOUT_SECONDS))
    return httpx.Timeout(limit, connect=min(limit, CONNECT_TIMEOUT_SECONDS))


def _read_capped(response: httpx.Response) -> bytes:
    cap = int(settings.OUTBOUND_MAX_RESPONSE_BYTES)
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > cap:
        raise ResponseTooLarge(f"answer too large (more than {cap} bytes)")
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > cap:
            raise ResponseTooLarge(f"answer too large (more than {cap} bytes)")
        chunks.append(chunk)
    return b"".join(chunks)


class HttpSession:
    """An HTTP client for one target (a base URL and its headers), kept and reused."""

    def __init__(
        self,
        base_url: str = "",
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
        verify: bool = True,
    ) -> None:
        self._client = httpx.Client(
            base_url=base_url,
            headers={"Accept-Encoding": "identity", **(headers or {})},
            timeout=_timeout(timeout),
            transport=_PinnedTransport(verify=verify),
            follow_redirects=False,
            trust_env=False,
        )

    @property
    def is_closed(self) -> bool:
        return self._client.is_closed

    def request(self, method: str, url: str, **kwargs: Any) -> Reply:
        """Send and read the answer; any failure is an :class:`OutboundError`."""
        try:
            with self._client.stream(method, url, **kwargs) as response:
                content = _read_capped(response)
        except OutboundError:
            raise
        except (httpx.HTTPError, OSError) as exc:
            reason, code = _transport_reason(exc)
            raise OutboundError(reason, code=code) from exc
        return Reply(status=response.status_code, headers=response.headers, content=content)

    def close(self) -> None:
        self._client.close()


def http_request(method: str, url: str, *, timeout: float = 10.0, verify: bool = True, **kwargs: Any) -> Reply:
    """One call, on a session of its own."""
    session = HttpSession(timeout=timeout, verify=verify)
    try:
        return session.request(method, url, **kwargs)
    finally:
        session.close()


# --- For libraries written against ``requests`` ---------------------------------------------


class RequestsLike:
    """A stand-in for the ``requests`` module, for a library that calls
    ``requests.request`` / ``post`` / ``get`` itself to send what it formatted (apprise's
    chat notifiers): each call goes through :func:`http_request`, with every check above.

    A refusal or a failure is raised as :attr:`RequestException`, which such a library
    catches and reports as "not sent"; :meth:`watch` keeps the reason for the caller to
    record (the library itself only logs it)."""

    class RequestException(Exception):
        pass

    codes = SimpleNamespace(ok=200, created=201, accepted=202, no_content=204)

    def __init__(self) -> None:
        self._local = threading.local()

    @contextmanager
    def watch(self) -> Iterator[list[str]]:
        """The failures (short, safe reasons) of the calls made inside the block."""
        seen: list[str] = []
        previous = getattr(self._local, "seen", None)
        self._local.seen = seen
        try:
            yield seen
        finally:
            self._local.seen = previous

    def _failed(self, reason: str) -> RequestsLike.RequestException:
        seen = getattr(self._local, "seen", None)
        if seen is not None:
            seen.append(reason)
        return self.RequestException(reason)

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: Any = 10.0,
        verify: bool = True,
        files: Any = None,
        auth: Any = None,
        **_ignored: Any,  # allow_redirects: never followed here
    ) -> _RequestsReply:
        if files:
            raise self._failed("attachments are not sent")
        if isinstance(timeout, tuple | list):
            timeout = max(float(t) for t in timeout if t is not None) if any(t is not None for t in timeout) else 10.0
        content = data.encode() if isinstance(data, str) else data
        body: dict[str, Any] = {"data": content} if isinstance(content, Mapping) else {"content": content}
        try:
            reply = http_request(
                method,
                url,
                timeout=float(timeout or 10.0),
                verify=bool(verify),
                params=params,
                headers=dict(headers or {}),
                auth=tuple(auth) if auth else None,
                **body,
            )
        except OutboundError as exc:
            raise self._failed(str(exc)) from exc
        if not reply.ok:
            self._failed(reply.summary)
        return _RequestsReply(reply)

    def post(self, url: str, **kwargs: Any) -> _RequestsReply:
        return self.request("POST", url, **kwargs)

    def get(self, url: str, **kwargs: Any) -> _RequestsReply:
        return self.request("GET", url, **kwargs)


@dataclass(frozen=True)
class _RequestsReply:
    """What such a library reads of an answer (status and body, capped like every answer)."""

    reply: Reply

    @property
    def status_code(self) -> int:
        return self.reply.status

    @property
    def content(self) -> bytes:
        return self.reply.content

    @property
    def text(self) -> str:
        return self.reply.content.decode("utf-8", "replace")

    @property
    def headers(self) -> httpx.Headers:
        return self.reply.headers

    def json(self) -> Any:
        return self.reply.json()


REQUESTS_LIKE = RequestsLike()


# --- LDAP -----------------------------------------------------------------------------------


def ldap_server(url: str, *, start_tls: bool = False, ca_file: str = "", timeout: float = 10.0) -> Any:
    """An ldap3 server (or pool of the name's addresses) pinned to checked addresses; TLS
    verifies the certificate against the host name of ``url``."""
    parts = urlsplit(url)
    secure = parts.scheme == "ldaps"
    host = parts.hostname or ""
    port = parts.port or (636 if secure else 389)
    addresses = allowed_addresses(host, port)
    tls = None
    if secure or start_tls:
        tls = ldap3.Tls(
            validate=ssl.CERT_REQUIRED,
            ca_certs_file=ca_file or None,
            valid_names=[host],
            sni=None if _literal(host) else host,
        )
    servers = [
        ldap3.Server(
            address,
            port=port,
            use_ssl=secure,
            tls=tls,
            get_info=ldap3.NONE,
            connect_timeout=min(float(timeout), CONNECT_TIMEOUT_SECONDS),
        )
        for address in addresses
    ]
    if len(servers) == 1:
        return servers[0]
    # One round over the name's addresses (ldap3 takes a count; True would retry forever).
    return ldap3.ServerPool(servers, ldap3.FIRST, active=1, exhaust=True)  # type: ignore[arg-type]
