"""A signed webhook: one JSON event per grant or revoke, for systems with no standard API.

Each POST carries ``Idempotency-Key`` (the same for every retry of one change) and
``X-Portcullis-Signature: t=<unix time>,v1=<hex>``, where ``v1`` is the HMAC-SHA256 of
``"<t>.<body>"`` with the connector's stored secret ``secret``. Receivers should check the
signature, refuse stale timestamps, and deduplicate on the key. 2xx is success,
408/429/5xx and network failures are transient, other 4xx are permanent. Calls go through
:mod:`governance.outbound`; a failure is described by its status only ("HTTP 422
Unprocessable Entity"), never by what the receiver wrote back.

A webhook cannot say who owns what it grants, so only global and user administrators add
its resources to a catalog (rule 17).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Sequence
from typing import Any

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
    outbound_failure,
    transient_status,
)
from governance.connectors.fields import Field, timeout_field
from governance.outbound import OutboundError

SIGNATURE_HEADER = "X-Portcullis-Signature"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: str, header: str, body: bytes, tolerance: int = 300, now: float | None = None) -> bool:
    """What a receiver does: check the signature and refuse replays of old messages."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((now or time.time()) - timestamp) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), header)


class WebhookConnector(BaseConnector):
    kind = "webhook"
    label = "Signed webhook"
    fields = (
        Field("url", "Webhook URL", "url", True, "Receives one signed JSON event per grant or revoke."),
        Field("secret", "Signing secret", "secret", True, "The shared secret the receiver checks signatures with."),
        timeout_field(),
    )

    def _secret(self) -> str:
        return self.secret("secret", "webhook signing secret", "secretMissing")

    def _post(self, event: dict[str, Any], key: str) -> None:
        body = json.dumps(event, separators=(",", ":"), sort_keys=True).encode()
        url = str(self.settings["url"])
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": key,
            SIGNATURE_HEADER: sign(self._secret(), int(time.time()), body),
            "User-Agent": "Portcullis webhook",
        }
        try:
            response = self.http().request("POST", url, content=body, headers=headers)
        except OutboundError as exc:
            raise outbound_failure(exc, f"The webhook {url} could not be reached") from exc
        if response.ok:
            return
        status = response.status
        if transient_status(status):
            raise TransientError(f"The webhook answered {response.summary}.", code=f"http{status}")
        raise PermanentError(f"The webhook refused the change ({response.summary}).", code=f"http{status}")

    def _event(self, kind: str, subject: Subject, role: RoleTarget, key: str) -> dict[str, Any]:
        return {
            "event": kind,
            "idempotencyKey": key,
            "subject": {
                "id": str(subject.id),
                "username": subject.username,
                "email": subject.email,
                "userPrincipalName": subject.user_principal_name,
            },
            "resource": role.resource_origin_id,
            "role": role.role_origin_id,
            "roleLabel": role.label,
            "sentAt": timezone.now().isoformat(),
        }

    def _send_all(
        self, kind: str, role: RoleTarget, subjects: Sequence[Subject], keys: IdempotencyKeys | None
    ) -> BatchResult:
        results: BatchResult = {}
        for subject in subjects:
            key = (keys or {}).get(subject.id) or f"{kind}:{subject.id}:{role.id}"
            try:
                self._post(self._event(kind, subject, role, key), key)
            except ConnectorError as exc:
                results[subject.id] = exc
            else:
                results[subject.id] = None
        return results

    def grant_many(
        self, role: RoleTarget, subjects: Sequence[Subject], keys: IdempotencyKeys | None = None
    ) -> BatchResult:
        return self._send_all("grant", role, subjects, keys)

    def revoke_many(
        self, role: RoleTarget, subjects: Sequence[Subject], keys: IdempotencyKeys | None = None
    ) -> BatchResult:
        return self._send_all("revoke", role, subjects, keys)

    def members(self, role: RoleTarget) -> set[Any]:
        raise PermanentError("A webhook cannot report who has access; drift is not checked for it.", code="unsupported")

    def test(self) -> str:
        key = f"ping:{int(time.time())}"
        self._post({"event": "ping", "idempotencyKey": key, "sentAt": timezone.now().isoformat()}, key)
        return f"The webhook {self.settings['url']} accepted a signed ping."
