"""The connector interface: how the delivery engine reaches a target system.

Every call is idempotent (granting a present member or revoking an absent one succeeds)
and fails with :class:`TransientError` (try again later: timeouts, 5xx, 429, server down)
or :class:`PermanentError` (a person must fix something: no such group, bad credentials),
each with a message a person can act on.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar
from uuid import UUID

from governance.encryption import SecretsUnavailable
from governance.models import Connector
from governance.models.connector import LEGACY_SECRET_PREFIX


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


class BaseConnector:
    kind: ClassVar[str]
    # Whether `members()` can read the target (drift checks skip connectors that cannot).
    can_read_members: ClassVar[bool] = True
    # The configuration keys a connector understands, with their defaults.
    defaults: ClassVar[dict[str, Any]] = {}
    # Whether the target system says who owns its resources (rule 17). Where it cannot, only
    # global and user administrators may add the connector's resources to a catalog.
    knows_owners: ClassVar[bool] = False

    def __init__(self, connector: Connector) -> None:
        self.model = connector
        self.config: dict[str, object] = dict(connector.config or {})
        self.settings: dict[str, Any] = {**self.defaults, **self.config}
        self._secrets: dict[str, str] | None = None

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

    def secret(self, name: str, what: str, code: str) -> str:
        """The connector's secret ``name``, decrypted from the database.

        A connector saved before secrets were stored may still name an environment variable
        in its config; only ``PORTCULLIS_CONNECTOR_*`` variables are read, any other name is
        refused (it could be DATABASE_URL or SECRET_KEY sent to the target).
        """
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

    def members(self, role: RoleTarget) -> set[UUID]:
        """Ids of the people who hold the role in the target system now."""
        raise NotImplementedError

    def test(self) -> str:
        """Check connectivity; return a line saying what was reached."""
        raise NotImplementedError

    def search(self, query: str, limit: int = 20, owned_by: Subject | None = None) -> list[tuple[str, str]]:
        """Resources in the target system matching ``query``: (origin id, display name);
        with ``owned_by``, only those that person owns there."""
        return []

    def owners(self, origin_ids: Sequence[str]) -> dict[str, set[UUID]] | None:
        """Per resource, the ids of the people who own it in the target system (rule 17);
        None when the target system does not say who owns its resources."""
        return None

    def close(self) -> None:
        """Release connections (called when the worker is done with a batch)."""
