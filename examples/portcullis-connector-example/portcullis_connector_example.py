"""Team roster: an example Portcullis connector plugin, whole in this one module.

A resource's ``origin_id`` is a team's id in the roster service; its role is membership.
Everything a connector needs comes from :mod:`governance.connectors`: the base class (with
its HTTP client, the only way out, and its secret store), the field kinds, the errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote
from uuid import UUID

from governance.connectors import (
    BaseConnector,
    BatchResult,
    ConnectorError,
    Field,
    IdempotencyKeys,
    PermanentError,
    RoleTarget,
    Subject,
    timeout_field,
    user_match_field,
)

ALREADY_MEMBER = "Already on the team."


class RosterConnector(BaseConnector):
    kind = "roster"
    label = "Team roster (example plugin)"
    can_read_members = True  # members() reads the roster: drift checks use it
    fields = (
        Field("url", "Roster URL", "url", True, "The roster service's API, e.g. https://roster.example.com/api"),
        Field("api_key", "API key", "secret", True, "The key the roster service issued for Portcullis."),
        user_match_field(),
        timeout_field(),
    )

    # --- how calls go out: through the base class's client (governance.outbound) ---------
    def http_base_url(self) -> str:
        return str(self.settings["url"]).rstrip("/")

    def http_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret('api_key')}", "Accept": "application/json"}

    def _json(self, method: str, path: str, what: str, **kwargs: Any) -> dict[str, Any]:
        # request() raises TransientError (no answer, 408, 429, 5xx) or PermanentError (the rest).
        body = self.request(method, path, what, **kwargs).json()
        if not isinstance(body, dict):
            raise PermanentError(f"The roster service answered {what} with something that is not JSON.", "badAnswer")
        return body

    def _members(self, role: RoleTarget) -> set[str]:
        try:
            body = self._json("GET", _members_path(role), f"reading the team {role.label}")
        except PermanentError as exc:
            if exc.code == "http404":
                raise PermanentError(f"The roster has no team {role.resource_origin_id!r}.", "teamNotFound") from exc
            raise
        return {str(name).lower() for name in body.get("members") or []}

    # --- a batch of people for one team: one read, at most one change ---------------------
    def _change(self, operation: str, role: RoleTarget, subjects: Sequence[Subject]) -> BatchResult:
        values = {s.id: self.match_value(s) for s in subjects}
        results: BatchResult = {
            subject_id: PermanentError("This person has no value to match in the roster.", "userNotMatched")
            for subject_id, value in values.items()
            if not value
        }
        try:
            present = self._members(role)
            if operation == "add":
                changing = sorted({v for v in values.values() if v and v.lower() not in present})
            else:
                changing = sorted({v for v in values.values() if v and v.lower() in present})
            if changing:
                self._json("POST", _members_path(role), f"changing the team {role.label}", json={operation: changing})
        except ConnectorError as exc:
            return self.all_failed(subjects, exc)
        for subject_id, value in values.items():
            if subject_id not in results:
                already = operation == "add" and value.lower() in present
                results[subject_id] = ALREADY_MEMBER if already else None
        return results

    def grant_many(
        self, role: RoleTarget, subjects: Sequence[Subject], keys: IdempotencyKeys | None = None
    ) -> BatchResult:
        return self._change("add", role, subjects)

    def revoke_many(
        self, role: RoleTarget, subjects: Sequence[Subject], keys: IdempotencyKeys | None = None
    ) -> BatchResult:
        return self._change("remove", role, subjects)

    # --- reading the roster: drift checks, Test connection, the Add resource picker -------
    def members(self, role: RoleTarget) -> set[UUID]:
        return set().union(*self.people_with(self._members(role)).values())

    def test(self) -> str:
        teams = self._json("GET", "/teams", "the connection test").get("teams") or []
        return f"Connected to the roster at {self.http_base_url()}; {len(teams)} teams."

    def search(self, query: str, limit: int = 20, owned_by: Subject | None = None) -> list[tuple[str, str]]:
        if owned_by is not None:
            return []  # the roster does not say who owns a team (knows_owners is False)
        teams = self._json("GET", "/teams", "a search for teams", params={"search": query.strip()}).get("teams") or []
        found = [(str(t["id"]), str(t.get("name") or t["id"])) for t in teams if isinstance(t, dict) and "id" in t]
        return sorted(found, key=lambda team: team[1])[:limit]


def _members_path(role: RoleTarget) -> str:
    return f"/teams/{quote(role.resource_origin_id, safe='')}/members"
