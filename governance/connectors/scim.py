"""SCIM 2.0 (RFC 7643/7644): group membership with PATCH.

A resource's ``origin_id`` is the SCIM Group's ``id``; its role is membership. People are
looked up by ``userName`` (or another attribute) equal to a Portcullis field. The bearer
token is the connector's stored secret ``token``. Calls go through
:mod:`governance.outbound`. 429 and 5xx answers, timeouts and refused connections are
transient; other 4xx answers are permanent.

A failure is described by its status ("HTTP 404 Not Found") and, when the target answered
with a well-formed SCIM error document (RFC 7644 §3.12), its ``detail`` cut to one short
line: that is the target's own message for an administrator. Any other body is never shown.

RFC 7643's Group has no owners, so only global and user administrators add SCIM groups
to a catalog (rule 17).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import quote
from uuid import UUID

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
    retry_after,
    transient_status,
)
from governance.connectors.fields import Field, timeout_field, user_match_field
from governance.outbound import HttpSession, OutboundError, Reply, one_line

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SCIM_JSON = "application/scim+json"
SCIM_ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
ALREADY_MEMBER = "Already a member of the SCIM group."
NOT_IN_DIRECTORY = "No SCIM user for this person; nothing to remove."
FILTER_CHUNK = 50

_clients: dict[tuple[Any, ...], HttpSession] = {}
_clients_lock = threading.Lock()


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class ScimConnector(BaseConnector):
    kind = "scim"
    label = "SCIM 2.0 application"
    can_read_members = True
    fields = (
        Field("base_url", "SCIM base URL", "url", True, "e.g. https://app.example.com/scim/v2"),
        Field("token", "Bearer token", "secret", True, "The token the application issued for Portcullis."),
        Field("user_attribute", "User attribute", required=True, default="userName"),
        user_match_field(),
        Field("verify_tls", "Verify TLS certificates", "bool", default=True),
        timeout_field(),
    )

    def __init__(self, connector: Any) -> None:
        super().__init__(connector)
        self._ids: dict[str, str] = {}

    @property
    def base_url(self) -> str:
        return str(self.settings["base_url"]).rstrip("/")

    def _token(self) -> str:
        return self.secret("token", "SCIM bearer token", "tokenMissing")

    def _client(self) -> HttpSession:
        token = self._token()
        key = (self.model.pk, self.base_url, token, bool(self.settings["verify_tls"]), self.settings["timeout"])
        with _clients_lock:
            client = _clients.get(key)
            if client is None or client.is_closed:
                client = HttpSession(
                    self.base_url,
                    headers={"Authorization": f"Bearer {token}", "Accept": SCIM_JSON, "Content-Type": SCIM_JSON},
                    timeout=float(self.settings["timeout"]),
                    verify=bool(self.settings["verify_tls"]),
                )
                _clients[key] = client
        return client

    def _request(self, method: str, path: str, what: str, **kwargs: Any) -> Reply:
        try:
            response = self._client().request(method, path, **kwargs)
        except OutboundError as exc:
            raise outbound_failure(exc, f"The SCIM server {self.base_url} could not be reached ({what})") from exc
        if response.ok:
            return response
        status = response.status
        said = self._detail(response)
        summary = response.summary + (f": {said}" if said else "")
        if transient_status(status):
            wait = retry_after(response)
            hint = f"; it asks to retry after {wait:.0f} s" if wait is not None else ""
            raise TransientError(
                f"The SCIM server answered {summary} to {what}{hint}", code=f"http{status}", retry_after=wait
            )
        if status in (401, 403):
            raise PermanentError(
                f"The SCIM server refused the token ({summary}): enter the right token on the connector's page.",
                code=f"http{status}",
            )
        raise PermanentError(f"The SCIM server answered {summary} to {what}", code=f"http{status}")

    def _read(self, method: str, path: str, what: str, **kwargs: Any) -> dict[str, Any]:
        """A call whose answer must be a SCIM JSON object."""
        try:
            body = self._request(method, path, what, **kwargs).json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise PermanentError(
                f"The SCIM server answered {what} with something that is not SCIM JSON.", code="badAnswer"
            )
        return body

    @staticmethod
    def _detail(response: Reply) -> str:
        """The ``detail`` of a well-formed SCIM error document, on one short line; else ""."""
        try:
            body = response.json()
        except ValueError:
            return ""
        if not isinstance(body, dict) or SCIM_ERROR not in (body.get("schemas") or []):
            return ""
        detail = body.get("detail")
        return one_line(detail) if isinstance(detail, str) else ""

    # --- people ---------------------------------------------------------------------------
    def _resolve(self, subjects: Iterable[Subject]) -> dict[UUID, str | ConnectorError]:
        attribute = str(self.settings["user_attribute"])
        wanted = {s.id: self.match_value(s) for s in subjects}
        lookup = sorted({v for v in wanted.values() if v and v.lower() not in self._ids})
        for start in range(0, len(lookup), FILTER_CHUNK):
            chunk = lookup[start : start + FILTER_CHUNK]
            query = " or ".join(f"{attribute} eq {_quote(v)}" for v in chunk)
            body = self._read(
                "GET",
                "/Users",
                "a search for people",
                params={"filter": query, "attributes": attribute, "count": len(chunk)},
            )
            for resource in body.get("Resources", []):
                self._ids[str(resource.get(attribute, "")).lower()] = str(resource["id"])
        resolved: dict[UUID, str | ConnectorError] = {}
        for subject_id, value in wanted.items():
            found = self._ids.get(value.lower()) if value else None
            resolved[subject_id] = found or PermanentError(
                f"No SCIM user with {attribute} {value or '(empty)'} at {self.base_url}.", code="userNotFound"
            )
        return resolved

    def _members(self, group_id: str) -> set[str]:
        body = self._read("GET", f"/Groups/{group_id}", f"reading group {group_id}", params={"attributes": "members"})
        return {str(m["value"]) for m in body.get("members") or [] if isinstance(m, dict) and "value" in m}

    def _group_path(self, role: RoleTarget) -> str:
        return f"/Groups/{role.resource_origin_id}"

    def _read_group(self, role: RoleTarget) -> set[str]:
        try:
            return self._members(role.resource_origin_id)
        except PermanentError as exc:
            if exc.code == "http404":
                raise PermanentError(
                    f"The SCIM group {role.resource_origin_id} ({role.label}) does not exist at {self.base_url}.",
                    code="groupNotFound",
                ) from exc
            raise

    # --- membership ---------------------------------------------------------------------
    def grant_many(
        self, role: RoleTarget, subjects: Sequence[Subject], keys: IdempotencyKeys | None = None
    ) -> BatchResult:
        try:
            ids = self._resolve(subjects)
            present = self._read_group(role)
            adding = sorted({i for i in ids.values() if isinstance(i, str) and i not in present})
            if adding:
                self._request(
                    "PATCH",
                    self._group_path(role),
                    f"adding members to {role.label}",
                    json={
                        "schemas": [PATCH_OP],
                        "Operations": [{"op": "add", "path": "members", "value": [{"value": i} for i in adding]}],
                    },
                )
        except ConnectorError as exc:
            return self.all_failed(subjects, exc)
        return {
            subject_id: found if isinstance(found, ConnectorError) else (ALREADY_MEMBER if found in present else None)
            for subject_id, found in ids.items()
        }

    def revoke_many(
        self, role: RoleTarget, subjects: Sequence[Subject], keys: IdempotencyKeys | None = None
    ) -> BatchResult:
        try:
            ids = self._resolve(subjects)
            present = self._read_group(role)
            removing = sorted({i for i in ids.values() if isinstance(i, str) and i in present})
            if removing:
                self._request(
                    "PATCH",
                    self._group_path(role),
                    f"removing members from {role.label}",
                    json={
                        "schemas": [PATCH_OP],
                        "Operations": [{"op": "remove", "path": f"members[value eq {_quote(i)}]"} for i in removing],
                    },
                )
        except ConnectorError as exc:
            return self.all_failed(subjects, exc)
        return {
            subject_id: NOT_IN_DIRECTORY if isinstance(found, ConnectorError) else None
            for subject_id, found in ids.items()
        }

    def members(self, role: RoleTarget) -> set[UUID]:
        attribute = str(self.settings["user_attribute"])
        member_ids = sorted(self._read_group(role))
        values: set[str] = set()
        for start in range(0, len(member_ids), FILTER_CHUNK):
            chunk = member_ids[start : start + FILTER_CHUNK]
            body = self._read(
                "GET",
                "/Users",
                "reading members",
                params={
                    "filter": " or ".join(f"id eq {_quote(i)}" for i in chunk),
                    "attributes": attribute,
                    "count": len(chunk),
                },
            )
            values.update(str(r.get(attribute, "")).lower() for r in body.get("Resources", []))
        return set().union(*self.people_with(values).values())

    def test(self) -> str:
        self._request("GET", "/ServiceProviderConfig", "the connection test")
        total = self._read("GET", "/Groups", "the connection test", params={"count": 1}).get("totalResults")
        # Only a number is repeated from the answer: nothing else of it is shown.
        count = total if isinstance(total, int) and not isinstance(total, bool) else "an unknown number of"
        return f"Connected to {self.base_url}; {count} groups."

    def check_resource(self, origin_id: str) -> str:
        try:
            body = self._read(
                "GET",
                f"/Groups/{quote(origin_id, safe='')}",
                "looking up the group",
                params={"attributes": "displayName"},
            )
        except PermanentError as exc:
            if exc.code == "http404":
                raise PermanentError(
                    f"No SCIM group has the id {origin_id} at {self.base_url}.", code="groupNotFound"
                ) from exc
            raise
        name = body.get("displayName") if isinstance(body, dict) else None
        return f"Found the SCIM group {one_line(str(name))[:200]!r}." if name else f"Found the SCIM group {origin_id}."

    def search(self, query: str, limit: int = 20, owned_by: Subject | None = None) -> list[tuple[str, str]]:
        if owned_by is not None:
            return []  # SCIM groups have no owners (RFC 7643), so nobody owns one here
        body = self._read(
            "GET",
            "/Groups",
            "a search for groups",
            params={"filter": f"displayName co {_quote(query.strip())}", "attributes": "displayName", "count": limit},
        )
        return sorted((str(r["id"]), str(r.get("displayName", r["id"]))) for r in body.get("Resources", []))
