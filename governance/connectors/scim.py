"""SCIM 2.0 (RFC 7643/7644): group membership with PATCH, over httpx.

A resource's ``origin_id`` is the SCIM Group's ``id``; its role is membership. People are
looked up by ``userName`` (or another attribute) equal to a Portcullis field. The bearer
token comes from the environment variable the config names. 429 and 5xx answers,
timeouts and refused connections are transient; other 4xx answers are permanent.

RFC 7643's Group has no owners, so only global and user administrators add SCIM groups
to a catalog (rule 17).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from email.utils import parsedate_to_datetime
from typing import Any
from uuid import UUID

import httpx
from django.db.models.functions import Lower
from django.utils import timezone

from governance.connectors.base import (
    BaseConnector,
    BatchResult,
    ConnectorError,
    IdempotencyKeys,
    PermanentError,
    RoleTarget,
    Subject,
    TransientError,
)
from governance.models import User

DEFAULTS: dict[str, Any] = {
    "base_url": "",
    "token_env": "PORTCULLIS_SCIM_TOKEN",
    "user_attribute": "userName",
    "user_match": "username",
    "timeout": 10,
    "verify_tls": True,
}
USER_FIELDS = {"username": "username", "email": "email", "user_principal_name": "user_principal_name"}
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SCIM_JSON = "application/scim+json"
ALREADY_MEMBER = "Already a member of the SCIM group."
NOT_IN_DIRECTORY = "No SCIM user for this person; nothing to remove."
FILTER_CHUNK = 50

_clients: dict[tuple[Any, ...], httpx.Client] = {}
_clients_lock = threading.Lock()


def _seconds(header: str | None) -> float | None:
    """Retry-After as seconds: a number, or an HTTP date."""
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


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class ScimConnector(BaseConnector):
    kind = "scim"
    defaults = DEFAULTS

    def __init__(self, connector: Any) -> None:
        super().__init__(connector)
        self._ids: dict[str, str] = {}

    @property
    def base_url(self) -> str:
        return str(self.settings["base_url"]).rstrip("/")

    def _token(self) -> str:
        return self.secret_from_env("token_env", "SCIM bearer token", "tokenMissing")

    def _client(self) -> httpx.Client:
        token = self._token()
        key = (self.model.pk, self.base_url, token, bool(self.settings["verify_tls"]))
        with _clients_lock:
            client = _clients.get(key)
            if client is None or client.is_closed:
                client = httpx.Client(
                    base_url=self.base_url,
                    headers={"Authorization": f"Bearer {token}", "Accept": SCIM_JSON, "Content-Type": SCIM_JSON},
                    timeout=float(self.settings["timeout"]),
                    verify=bool(self.settings["verify_tls"]),
                )
                _clients[key] = client
        return client

    def _request(self, method: str, path: str, what: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._client().request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise TransientError(
                f"The SCIM server {self.base_url} did not answer in time ({what}).", code="timeout"
            ) from exc
        except httpx.TransportError as exc:
            raise TransientError(f"The SCIM server {self.base_url} is unreachable: {exc}", code="unreachable") from exc
        if response.is_success:
            return response
        detail = self._detail(response)
        status = response.status_code
        if status == 429 or status >= 500:
            wait = _seconds(response.headers.get("Retry-After"))
            hint = f"; it asks to retry after {wait:.0f} s" if wait is not None else ""
            raise TransientError(
                f"The SCIM server answered {status} to {what}: {detail}{hint}", code=f"http{status}", retry_after=wait
            )
        if status in (401, 403):
            raise PermanentError(
                f"The SCIM server refused the token in ${self.settings['token_env']} (HTTP {status}): {detail}",
                code=f"http{status}",
            )
        raise PermanentError(f"The SCIM server answered {status} to {what}: {detail}", code=f"http{status}")

    @staticmethod
    def _detail(response: httpx.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            return response.text[:300] or response.reason_phrase
        return str(body.get("detail") or body.get("scimType") or body)[:300]

    # --- people ---------------------------------------------------------------------------
    def _value_of(self, subject: Subject) -> str:
        return str(getattr(subject, USER_FIELDS.get(str(self.settings["user_match"]), "username")) or "")

    def _resolve(self, subjects: Iterable[Subject]) -> dict[UUID, str | ConnectorError]:
        attribute = str(self.settings["user_attribute"])
        wanted = {s.id: self._value_of(s) for s in subjects}
        lookup = sorted({v for v in wanted.values() if v and v.lower() not in self._ids})
        for start in range(0, len(lookup), FILTER_CHUNK):
            chunk = lookup[start : start + FILTER_CHUNK]
            query = " or ".join(f"{attribute} eq {_quote(v)}" for v in chunk)
            body = self._request(
                "GET",
                "/Users",
                "a search for people",
                params={"filter": query, "attributes": attribute, "count": len(chunk)},
            ).json()
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
        response = self._request(
            "GET", f"/Groups/{group_id}", f"reading group {group_id}", params={"attributes": "members"}
        )
        return {str(m["value"]) for m in response.json().get("members") or []}

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
            return {s.id: exc for s in subjects}
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
            return {s.id: exc for s in subjects}
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
            body = self._request(
                "GET",
                "/Users",
                "reading members",
                params={
                    "filter": " or ".join(f"id eq {_quote(i)}" for i in chunk),
                    "attributes": attribute,
                    "count": len(chunk),
                },
            ).json()
            values.update(str(r.get(attribute, "")).lower() for r in body.get("Resources", []))
        field = USER_FIELDS.get(str(self.settings["user_match"]), "username")
        return set(User.objects.annotate(key=Lower(field)).filter(key__in=values).values_list("pk", flat=True))

    def test(self) -> str:
        self._request("GET", "/ServiceProviderConfig", "the connection test")
        total = self._request("GET", "/Groups", "the connection test", params={"count": 1}).json()
        return f"Connected to {self.base_url}; {total.get('totalResults', 0)} groups."

    def search(self, query: str, limit: int = 20, owned_by: Subject | None = None) -> list[tuple[str, str]]:
        if owned_by is not None:
            return []  # SCIM groups have no owners (RFC 7643), so nobody owns one here
        body = self._request(
            "GET",
            "/Groups",
            "a search for groups",
            params={"filter": f"displayName co {_quote(query.strip())}", "attributes": "displayName", "count": limit},
        ).json()
        return sorted((str(r["id"]), str(r.get("displayName", r["id"]))) for r in body.get("Resources", []))
