"""The connector interface: how the delivery engine reaches a target system.

A connector is one class in one module: its ``kind``, its ``label``, its configuration
``fields`` (the portal's form is made from them) and its calls. The four that come with
Portcullis and any installed plugin are found through :mod:`governance.connectors.registry`.

Every call is idempotent (granting a present member or revoking an absent one succeeds)
and fails with :class:`TransientError` (try again later: timeouts, 5xx, 429, server down)
or :class:`PermanentError` (a person must fix something: no such group, bad credentials),
each with a message a person can act on. HTTP goes out only through :meth:`BaseConnector.http`
and :meth:`BaseConnector.request` (:mod:`governance.outbound`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar
from uuid import UUID

from django.db.models.functions import Lower
from django.utils import timezone

from governance.connectors.fields import USER_MATCH, Field
from governance.encryption import SecretsUnavailable
from governance.models import Connector, User
from governance.models.connector import LEGACY_SECRET_PREFIX
from governance.outbound import HttpSession, OutboundError, Reply


class ConnectorError(Exception):
    transient: ClassVar[bool] = False

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.code = code or type(self).__name__

    def __str__(self) -> str:
        return self.message


class TransientError(ConnectorError):
    transient = True

    def __init__(self, message: str, code: str = "", retry_after: float | None = None) -> None:
        super().__init__(message, code)
        # Seconds the target asked us to wait (HTTP Retry-After), honoured by the backoff.
        self.retry_after = retry_after


class PermanentError(ConnectorError):
    transient = False


@dataclass(frozen=True)
class Subject:
    """A person as connectors see them."""

    id: UUID
    username: str
    email: str
    user_principal_name: str


@dataclass(frozen=True)
class RoleTarget:
    """A resource role as connectors see it."""

    id: UUID
    resource_origin_id: str
    role_origin_id: str
    label: str


# Per subject id: None when done, a short note when done with something worth saying
# ("already a member"), or the error it met.
BatchResult = dict[UUID, "ConnectorError | str | None"]
# Per subject id: a key that is the same for every retry of one change (webhook receivers
# deduplicate on it).
IdempotencyKeys = Mapping[UUID, str]


def outbound_failure(exc: OutboundError, text: str) -> ConnectorError:
    """An outbound call that got no answer: transient or permanent as the outbound layer
    judged it (refused address: permanent; timeout, connection refused: transient)."""
    error = TransientError if exc.transient else PermanentError
    return error(f"{text}: {exc.reason}.", code=exc.code)


def transient_status(status: int) -> bool:
    """HTTP answers worth trying again: 408, 429 and every 5xx."""
    return status in (408, 429) or status >= 500


def retry_after(reply: Reply) -> float | None:
    """Seconds the target asked us to wait (Retry-After: a number or an HTTP date)."""
    header = reply.headers.get("Retry-After")
    if not header:
        return None
    try:
        return max(float(header), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    return max((when - timezone.now()).total_seconds(), 0.0)


class BaseConnector:
    """What every connector is. A subclass sets ``kind`` (lower-case letters, digits, ``_``
    or ``-``; stored on each connector row), ``label`` and ``fields``, and implements
    ``grant_many``, ``revoke_many`` and ``test``; ``members`` for drift checks (with
    ``can_read_members``), ``search`` and ``owners`` for the Add resource picker are optional."""

    kind: ClassVar[str]
    # What the portal calls this kind ("LDAP directory").
    label: ClassVar[str] = ""
    # The configuration the portal's form asks for, in order (governance.connectors.fields).
    fields: ClassVar[tuple[Field, ...]] = ()
    # Whether `members()` can read the target (drift checks skip connectors that cannot).
    can_read_members: ClassVar[bool] = False
    # Whether the target system says who owns its resources (rule 17). Where it cannot, only
    # global and user administrators may add the connector's resources to a catalog.
    knows_owners: ClassVar[bool] = False
    # Exactly one exists, made by a migration (the built-in directory): never added or
    # deleted in the portal.
    singleton: ClassVar[bool] = False

    def __init__(self, connector: Connector) -> None:
        self.model = connector
        self.config: dict[str, object] = dict(connector.config or {})
        self.settings: dict[str, Any] = {**self.config_defaults(), **self.config}
        self._secrets: dict[str, str] | None = None
        self._http: HttpSession | None = None

    @classmethod
    def config_defaults(cls) -> dict[str, Any]:
        """Each setting's default, for a config saved before a field existed."""
        return {f.name: f.default for f in cls.fields if not f.is_secret}

    @classmethod
    def secret_fields(cls) -> tuple[Field, ...]:
        return tuple(f for f in cls.fields if f.is_secret)

    # --- batches: what connectors implement (one call for many people where the target can)
    def grant_many(
        self, role: RoleTarget, subjects: Sequence[Subject], keys: IdempotencyKeys | None = None
    ) -> BatchResult:
        raise NotImplementedError

    def revoke_many(
        self, role: RoleTarget, subjects: Sequence[Subject], keys: IdempotencyKeys | None = None
    ) -> BatchResult:
        raise NotImplementedError

    # --- one at a time, on top of the batches ---------------------------------------------
    def grant(self, subject: Subject, role: RoleTarget) -> None:
        self._raise_for(subject, self.grant_many(role, [subject]))

    def revoke(self, subject: Subject, role: RoleTarget) -> None:
        self._raise_for(subject, self.revoke_many(role, [subject]))

    @staticmethod
    def _raise_for(subject: Subject, result: BatchResult) -> None:
        outcome = result.get(subject.id)
        if isinstance(outcome, ConnectorError):
            raise outcome

    @staticmethod
    def all_failed(subjects: Iterable[Subject], error: ConnectorError) -> BatchResult:
        """A batch that failed as a whole: the same error for everyone in it."""
        return {s.id: error for s in subjects}

    # --- secrets ----------------------------------------------------------------------------
    def secret(self, name: str, what: str = "", code: str = "secretMissing") -> str:
        """The connector's secret ``name``, decrypted from the database.

        A connector saved before secrets were stored may still name an environment variable
        in its config; only ``PORTCULLIS_CONNECTOR_*`` variables are read, any other name is
        refused (it could be DATABASE_URL or SECRET_KEY sent to the target).
        """
        what = what or next((f.label.lower() for f in self.fields if f.name == name), name)
        if self._secrets is None:
            try:
                self._secrets = self.model.stored_secrets()
            except SecretsUnavailable as exc:
                raise PermanentError(exc.message, code="secretUnreadable") from exc
        value = self._secrets.get(name)
        if value:
            return value
        variable = self.model.legacy_secret_variable(name)
        if not variable:
            raise PermanentError(
                f"No {what} is stored for {self.model.display_name}: enter it on the connector's page.", code=code
            )
        if not variable.startswith(LEGACY_SECRET_PREFIX):
            raise PermanentError(
                f"The {what} of {self.model.display_name} is read from the environment variable {variable}, and "
                f"only {LEGACY_SECRET_PREFIX}* variables may be: enter the {what} on the connector's page.",
                code="secretVariableRefused",
            )
        value = os.environ.get(variable, "")
        if not value:
            raise PermanentError(
                f"The environment variable {variable} that should hold the {what} is not set.", code=code
            )
        return value

    # --- HTTP: the only way out ---------------------------------------------------------------
    def http_base_url(self) -> str:
        """Where relative URLs given to :meth:`request` go (override; "" for absolute URLs)."""
        return ""

    def http_headers(self) -> dict[str, str]:
        """Headers sent with every call, e.g. ``Authorization`` from a secret (override)."""
        return {}

    def http(self) -> HttpSession:
        """This connector object's HTTP client, made on first use and closed by :meth:`close`.

        It is :class:`governance.outbound.HttpSession`: every address checked and pinned, no
        redirects, no proxies from the environment, time (the ``timeout`` setting, at most
        ``OUTBOUND_MAX_TIMEOUT_SECONDS``) and answer size bounded; TLS certificates are checked
        unless a ``verify_tls`` setting says otherwise."""
        if self._http is None or self._http.is_closed:
            self._http = HttpSession(
                self.http_base_url(),
                headers=self.http_headers(),
                timeout=float(self.settings.get("timeout") or 10),
                verify=bool(self.settings.get("verify_tls", True)),
            )
        return self._http

    def request(self, method: str, url: str, what: str, **kwargs: Any) -> Reply:
        """One call through :meth:`http` whose failure is already the right error, described by
        its status only (never the target's body): no answer → as :func:`outbound_failure`;
        408, 429, 5xx → transient (honouring Retry-After); 401, 403 → permanent, asking for the
        right secret; any other non-2xx → permanent. ``what`` says what the call was for."""
        name = self.model.display_name
        try:
            reply = self.http().request(method, url, **kwargs)
        except OutboundError as exc:
            raise outbound_failure(exc, f"{name} could not be reached ({what})") from exc
        if reply.ok:
            return reply
        code = f"http{reply.status}"
        if transient_status(reply.status):
            raise TransientError(f"{name} answered {reply.summary} to {what}.", code, retry_after(reply))
        if reply.status in (401, 403):
            secrets = " or ".join(f.label.lower() for f in self.secret_fields()) or "credentials"
            raise PermanentError(
                f"{name} refused the {secrets} ({reply.summary}): enter the right one on the connector's page.", code
            )
        raise PermanentError(f"{name} answered {reply.summary} to {what}.", code)

    # --- people ---------------------------------------------------------------------------------
    def match_value(self, subject: Subject) -> str:
        """The person's value of the field the ``user_match`` setting names (username by default)."""
        field = str(self.settings.get("user_match") or "username")
        return str(getattr(subject, field if field in USER_MATCH else "username") or "")

    def people_with(self, values: Iterable[str]) -> dict[str, set[UUID]]:
        """Portcullis people whose ``user_match`` field is one of ``values``, ignoring case:
        each value (lower-cased) with the ids of the people who have it (for ``members``)."""
        field = str(self.settings.get("user_match") or "username")
        field = field if field in USER_MATCH else "username"
        wanted = {v.lower() for v in values}
        people: dict[str, set[UUID]] = {}
        for key, pk in User.objects.annotate(key=Lower(field)).filter(key__in=wanted).values_list("key", "pk"):
            people.setdefault(key, set()).add(pk)
        return people

    # --- reading the target -------------------------------------------------------------------
    def members(self, role: RoleTarget) -> set[UUID]:
        """Ids of the people who hold the role in the target system now (set
        ``can_read_members`` when implemented)."""
        raise PermanentError(
            f"{self.label or self.kind} cannot report who has access; drift is not checked for it.", code="unsupported"
        )

    def test(self) -> str:
        """Check connectivity; return a line saying what was reached."""
        raise NotImplementedError

    def search(self, query: str, limit: int = 20, owned_by: Subject | None = None) -> list[tuple[str, str]]:
        """Resources in the target system matching ``query``: (origin id, display name);
        with ``owned_by``, only those that person owns there."""
        return []

    def check_resource(self, origin_id: str) -> str:
        """The Add resource form's "Test" of a resource typed by its id: a line saying what
        was found. A target that cannot look resources up checks that it can be reached."""
        return f"{self.test()} It cannot look up {origin_id!r} itself: check the id with the system's owner."

    def owners(self, origin_ids: Sequence[str]) -> dict[str, set[UUID]] | None:
        """Per resource, the ids of the people who own it in the target system (rule 17);
        None when the target system does not say who owns its resources."""
        return None

    def close(self) -> None:
        """Release connections (called when the worker is done with a batch). A subclass that
        keeps its own connections closes them and calls ``super().close()``."""
        if self._http is not None:
            self._http.close()
            self._http = None
