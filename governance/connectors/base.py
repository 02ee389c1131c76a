"""The connector interface: how the delivery engine reaches a target system.

Every call is idempotent (granting a present member or revoking an absent one succeeds)
and fails with :class:`TransientError` (try again later: timeouts, 5xx, 429, server down)
or :class:`PermanentError` (a person must fix something: no such group, bad credentials),
each with a message a person can act on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar
from uuid import UUID

from governance.models import Connector


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

    def __init__(self, connector: Connector) -> None:
        self.model = connector
        self.config: dict[str, object] = dict(connector.config or {})

    # --- one at a time ----------------------------------------------------------------
    def grant(self, subject: Subject, role: RoleTarget) -> None:
        raise NotImplementedError

    def revoke(self, subject: Subject, role: RoleTarget) -> None:
        raise NotImplementedError

    def members(self, role: RoleTarget) -> set[UUID]:
        """Ids of the people who hold the role in the target system now."""
        raise NotImplementedError

    def test(self) -> str:
        """Check connectivity; return a line saying what was reached."""
        raise NotImplementedError

    def search(self, query: str, limit: int = 20) -> list[tuple[str, str]]:
        """Resources in the target system matching ``query``: (origin id, display name)."""
        return []

    # --- batches (override where the target can do several in one call) --------------
    def grant_many(
        self, role: RoleTarget, subjects: Sequence[Subject], keys: IdempotencyKeys | None = None
    ) -> BatchResult:
        return self._one_by_one(self.grant, role, subjects)

    def revoke_many(
        self, role: RoleTarget, subjects: Sequence[Subject], keys: IdempotencyKeys | None = None
    ) -> BatchResult:
        return self._one_by_one(self.revoke, role, subjects)

    @staticmethod
    def _one_by_one(
        call: Callable[[Subject, RoleTarget], None], role: RoleTarget, subjects: Iterable[Subject]
    ) -> BatchResult:
        results: BatchResult = {}
        for subject in subjects:
            try:
                call(subject, role)
            except ConnectorError as exc:
                results[subject.id] = exc
            else:
                results[subject.id] = None
        return results

    def close(self) -> None:
        """Release connections (called when the worker is done with a batch)."""
