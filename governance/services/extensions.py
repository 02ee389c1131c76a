"""Custom extensions (rule 16): a catalog's extensions, sending their calls, and the answers.

A call is a signed JSON event (``X-Portcullis-Signature: t=<unix time>,v1=<hex>``, the
HMAC-SHA256 of ``"<t>.<body>"`` with the extension's secret, as the webhook connector signs)
POSTed through :mod:`governance.outbound`; 2xx is delivered, 408/429/5xx and network failures
are retried with backoff, other 4xx and too many failures fail the call. A call that waits
for an answer pauses its request ("Waiting for <extension>") until the external system posts
to ``…/assignmentRequests/{id}/resume`` (Graph's resume body) a body signed the same way,
with the call's one-time token in ``X-Portcullis-Resume-Token``; or until its deadline, when
the policy says whether the request continues or fails. A failed call of a waiting extension
is treated like a timeout. Every try and every answer is an :class:`ExtensionAttempt`.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import gettext

from governance import encryption
from governance.audit import log_action
from governance.connectors.webhook import sign, verify
from governance.errors import InvalidTransition, NotAllowed, NotFound, ValidationFailed
from governance.ids import is_uuid
from governance.models import AssignmentRequest, Catalog, RequestState, RequestType
from governance.models.extension import (
    WAIT_REFUSED,
    CallState,
    CustomExtension,
    ExtensionAttempt,
    ExtensionCall,
    ExtensionMode,
    ExtensionStage,
    TimeoutAction,
)
from governance.outbound import OutboundError, check_url, http_request, one_line
from governance.permissions import Action, get_for
from governance.services import notifications
from governance.services.callouts import waiting_for
from governance.services.lifecycle import approve_and_proceed, proceed_after_approval, set_request_state
from governance.services.requests import route_submitted
from governance.services.text import clean_name, clean_text

MAX_CALL_ATTEMPTS = 5
MAX_TIMEOUT_MINUTES = 7 * 24 * 60
RESUME_TOKEN_HEADER = "X-Portcullis-Resume-Token"
SIGNATURE_HEADER = "X-Portcullis-Signature"


# --- The catalog's extensions ---------------------------------------------------------------


def _check_endpoint(url: str) -> str:
    url = (url or "").strip()
    parts = urlsplit(url)
    loopback = (parts.hostname or "") in {"127.0.0.1", "localhost", "::1"}
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback and settings.OUTBOUND_ALLOW_LOOPBACK):
        raise ValidationFailed("The endpoint must be an https:// URL.", field="endpoint_url")
    if len(url) > 2000 or not parts.hostname:
        raise ValidationFailed("Enter a valid URL.", field="endpoint_url")
    try:
        check_url(url)
    except OutboundError as exc:
        raise ValidationFailed(f"This endpoint cannot be used: {exc}.", field="endpoint_url") from None
    return url


def save_extension(
    actor: Any,
    catalog_id: UUID | str,
    *,
    extension_id: UUID | str | None = None,
    display_name: str,
    description: str = "",
    endpoint_url: str,
    secret: str = "",
    stage: str,
    mode: str,
    timeout_minutes: int = 60,
) -> CustomExtension:
    """Create or change an extension. The secret is write-only: empty keeps the stored one."""
    display_name = clean_name(display_name, "display_name")
    description = clean_text(description, "description")
    endpoint_url = _check_endpoint(endpoint_url)
    if stage not in ExtensionStage.values:
        raise ValidationFailed("Choose the stage the extension runs at.", field="stage")
    if mode not in ExtensionMode.values:
        raise ValidationFailed("Choose fire-and-forget or wait for an answer.", field="mode")
    if mode == ExtensionMode.WAIT and stage not in ExtensionStage.WAITABLE:
        raise ValidationFailed(WAIT_REFUSED, field="mode")
    if not 1 <= int(timeout_minutes) <= MAX_TIMEOUT_MINUTES:
        raise ValidationFailed(f"Wait between 1 and {MAX_TIMEOUT_MINUTES} minutes.", field="timeout_minutes")
    if len(secret) > 500:
        raise ValidationFailed("The signing secret can be at most 500 characters.", field="secret")
    with transaction.atomic():
        catalog: Catalog = get_for(actor, Action.MANAGE_CATALOG, Catalog.objects.all(), catalog_id, "catalog")
        if extension_id is None:
            if not secret:
                raise ValidationFailed("Enter the signing secret the endpoint checks signatures with.", field="secret")
            extension = CustomExtension(catalog=catalog)
        else:
            found = (
                CustomExtension.objects.select_for_update().filter(pk=extension_id, catalog=catalog).first()
                if is_uuid(extension_id)
                else None
            )
            if found is None:
                raise NotFound("Custom extension not found.")
            extension = found
        extension.display_name = display_name
        extension.description = description
        extension.endpoint_url = endpoint_url
        extension.stage = stage
        extension.mode = mode
        extension.timeout_minutes = int(timeout_minutes)
        if secret:
            extension.secret_encrypted = encryption.encrypt(secret)
        extension.save()
        log_action(
            actor,
            "extension.created" if extension_id is None else "extension.updated",
            extension,
            stage=stage,
            mode=mode,
            secret_changed=bool(secret),
        )
    return extension


def delete_extension(actor: Any, catalog_id: UUID | str, extension_id: UUID | str) -> None:
    with transaction.atomic():
        catalog: Catalog = get_for(actor, Action.MANAGE_CATALOG, Catalog.objects.all(), catalog_id, "catalog")
        extension = (
            CustomExtension.objects.filter(pk=extension_id, catalog=catalog).first() if is_uuid(extension_id) else None
        )
        if extension is None:
            return
        log_action(actor, "extension.deleted", extension, name=extension.display_name)
        extension.delete()


# --- Sending ----------------------------------------------------------------------------------


def resume_token(call: ExtensionCall) -> str:
    """The call's one-time token: derived, never stored; the call's state makes it one-time."""
    return salted_hmac("governance.extension.resume", str(call.pk)).hexdigest()


def event_of(call: ExtensionCall) -> dict[str, Any]:
    request = call.request
    body: dict[str, Any] = {
        "type": f"microsoft.graph.accessPackageCustomExtensionStage.{call.stage}",
        "source": "portcullis",
        "data": {
            "stage": call.stage,
            "customExtensionStageInstanceId": str(call.pk),
            "mode": call.mode,
            "assignmentRequest": {
                "id": str(request.pk),
                "requestType": request.request_type,
                "state": request.state,
                "justification": request.justification,
                "answers": [
                    {"question": a.question_text, "value": a.value, "displayValue": a.display_value}
                    for a in request.answers.order_by("sequence")
                ],
            },
            "accessPackage": {"id": str(request.package_id), "displayName": request.package.display_name},
            "catalog": {"id": str(request.package.catalog_id), "displayName": request.package.catalog.display_name},
            "target": {
                "id": str(request.target_id),
                "displayName": str(request.target),
                "email": request.target.email,
            },
            "assignmentId": str(request.assignment_id) if request.assignment_id else None,
        },
    }
    if call.mode == ExtensionMode.WAIT:
        path = reverse("api-request-resume", args=[request.pk])
        body["data"]["callbackUri"] = settings.SITE_URL.rstrip("/") + path
        body["data"]["resumeToken"] = resume_token(call)
        body["data"]["expiresDateTime"] = call.due_at.isoformat() if call.due_at else None
    return body


def _attempt(call: ExtensionCall, outcome: str, status: int | None, message: str) -> None:
    ExtensionAttempt.objects.create(call=call, outcome=outcome, status_code=status, message=one_line(message, 480))


def _transient(status: int) -> bool:
    return status in (408, 429) or status >= 500


def send_call(call_id: UUID, now: datetime | None = None) -> bool:
    """Try one queued call once; True when it was delivered (now or before)."""
    with transaction.atomic():
        call = (
            ExtensionCall.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("extension", "request__package__catalog", "request__target")
            .filter(pk=call_id, state=CallState.PENDING)
            .first()
        )
        if call is None:
            return False
        now = now or timezone.now()
        extension = call.extension
        if extension is None:
            _fail(call, "The extension was deleted.", None, now)
            return False
        body = json.dumps(event_of(call), separators=(",", ":")).encode()
        status: int | None = None
        try:
            secret = encryption.decrypt(extension.secret_encrypted)
            reply = http_request(
                "POST",
                extension.endpoint_url,
                content=body,
                headers={"Content-Type": "application/json", SIGNATURE_HEADER: sign(secret, int(time.time()), body)},
                timeout=10.0,
            )
        except encryption.SecretsUnavailable as exc:
            _fail(call, f"The signing secret cannot be read: {exc}", None, now)
            return False
        except OutboundError as exc:
            return _retry(call, str(exc), None, now)
        status = reply.status
        if reply.ok:
            call.attempts += 1
            call.state = CallState.WAITING if call.mode == ExtensionMode.WAIT else CallState.SENT
            call.next_attempt_at = None
            if call.state == CallState.SENT:
                call.finished_at = now
            call.save(update_fields=["attempts", "state", "next_attempt_at", "finished_at"])
            _attempt(call, "delivered", status, reply.summary)
            return True
        if _transient(status):
            return _retry(call, reply.summary, status, now)
        _fail(call, reply.summary, status, now)
        return False


def _retry(call: ExtensionCall, message: str, status: int | None, now: datetime) -> bool:
    call.attempts += 1
    if call.attempts >= MAX_CALL_ATTEMPTS:
        _fail(call, f"{message} (gave up after {call.attempts} tries)", status, now, counted=True)
        return False
    call.next_attempt_at = now + timedelta(seconds=30 * 2 ** min(call.attempts, 8))
    call.save(update_fields=["attempts", "next_attempt_at"])
    _attempt(call, "retrying", status, message)
    return False


def _fail(call: ExtensionCall, message: str, status: int | None, now: datetime, *, counted: bool = False) -> None:
    """A call that cannot be delivered: recorded; a request waiting for it goes on as the
    policy says for a timeout (rule 16: never blocked silently)."""
    if not counted:
        call.attempts += 1
    call.state = CallState.FAILED
    call.finished_at = now
    call.next_attempt_at = None
    call.save(update_fields=["attempts", "state", "finished_at", "next_attempt_at"])
    _attempt(call, "failed", status, message)
    if call.mode == ExtensionMode.WAIT:
        _after_wait(call, call.on_timeout == TimeoutAction.CONTINUE, f"{call.extension_name} could not be reached.")


def due_calls(now: datetime | None = None, limit: int = 200) -> list[UUID]:
    now = now or timezone.now()
    return list(
        ExtensionCall.objects.filter(state=CallState.PENDING)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    )


def send_due_calls(now: datetime | None = None) -> int:
    return sum(1 for pk in due_calls(now) if send_call(pk, now))


# --- Answers: resume and timeout ---------------------------------------------------------------


def _lock_request(request_id: UUID) -> AssignmentRequest:
    return (
        AssignmentRequest.objects.select_for_update(of=("self",))
        .select_related("policy", "package", "target")
        .get(pk=request_id)
    )


# Where a request waits for each waitable stage: created, before routing (submitted);
# approved, before delivery (scheduled: approved, not delivering yet).
PAUSED_IN: dict[str, str] = {
    ExtensionStage.REQUEST_CREATED: RequestState.SUBMITTED,
    ExtensionStage.REQUEST_APPROVED: RequestState.SCHEDULED,
}


def _after_wait(call: ExtensionCall, go_on: bool, reason: str) -> None:
    """One waited-for call is settled: deny the request, or go on once nothing is waited for
    (after "request created": to approval; after "request approved": to delivery)."""
    request = _lock_request(call.request_id)
    if request.state != PAUSED_IN.get(call.stage):
        return  # canceled meanwhile, or already on its way
    if not go_on:
        request.cancel_reason = reason
        request.save(update_fields=["cancel_reason", "modified_at"])
        set_request_state(request, "deny_by_extension", None, extension=call.extension_name, stage=call.stage)
        notifications.request_canceled(request)
        return
    if waiting_for(request):
        return
    log_action(None, "request.extension_continued", request, extension=call.extension_name, stage=call.stage)
    if call.stage == ExtensionStage.REQUEST_APPROVED:
        proceed_after_approval(request, None)
    elif request.request_type == RequestType.USER_ADD and request.policy is not None:
        route_submitted(request, request.policy, None)
    else:
        approve_and_proceed(request, None)


def resume(request_id: UUID | str, body: bytes, signature: str, token: str) -> ExtensionCall:
    """The external system's answer (Graph's resume body), signed with the extension's secret
    and carrying the call's one-time token. Anything forged, replayed or late is refused."""
    if not signature or not token:
        raise NotAllowed("A resume is signed by the extension and carries the call's one-time token.")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed("The body must be JSON.") from None
    if not isinstance(data, dict) or not isinstance(data.get("data"), dict):
        raise ValidationFailed("'data' (accessPackageAssignmentRequestCallbackData) is required.", field="data")
    callback = data["data"]
    call_id = callback.get("customExtensionStageInstanceId")
    if not is_uuid(request_id) or not isinstance(call_id, str) or not is_uuid(call_id):
        raise NotFound("Request not found.")
    state = str(callback.get("state") or "").lower()
    if state not in ("", "denied", "continued", "continue", "approved"):
        raise ValidationFailed("'data.state' is denied, or absent to continue.", field="state")
    detail = one_line(callback.get("customExtensionStageInstanceDetail") or "", 480)
    try:
        return _settle(UUID(str(request_id)), UUID(call_id), body, signature, token, state, detail)
    except _Forged as forged:
        # Recorded in a transaction of its own: the refusal rolls back everything else.
        log_action(None, "extension.resume_refused", forged.request, call=forged.call_id)
        raise NotAllowed("The resume is not signed by the extension, or its token is wrong.") from None


class _Forged(Exception):
    def __init__(self, request: AssignmentRequest, call_id: str) -> None:
        super().__init__(call_id)
        self.request = request
        self.call_id = call_id


def _settle(
    request_id: UUID, call_id: UUID, body: bytes, signature: str, token: str, state: str, detail: str
) -> ExtensionCall:
    with transaction.atomic():
        call = (
            ExtensionCall.objects.select_for_update(of=("self",))
            .select_related("extension")
            .filter(pk=call_id, request_id=request_id, mode=ExtensionMode.WAIT)
            .first()
        )
        if call is None or call.extension is None:
            raise NotFound("Request not found.")
        try:
            secret = encryption.decrypt(call.extension.secret_encrypted)
        except encryption.SecretsUnavailable:
            raise NotAllowed("This resume cannot be checked now.") from None
        if not verify(secret, signature or "", body) or not constant_time_compare(token or "", resume_token(call)):
            raise _Forged(call.request, str(call.pk))
        if call.state not in CallState.OPEN:
            raise InvalidTransition(f"This call was already settled ({call.get_state_display().lower()}).")
        now = timezone.now()
        denied = state == "denied"
        call.state = CallState.DENIED if denied else CallState.CONTINUED
        call.answer_detail = detail
        call.finished_at = now
        call.save(update_fields=["state", "answer_detail", "finished_at"])
        _attempt(call, "answered: deny" if denied else "answered: continue", None, detail)
        log_action(None, "extension.resumed", call.request, call=str(call.pk), decision=call.state)
        reason = f"Denied by {call.extension_name}" + (f": {detail}" if detail else ".")
        _after_wait(call, not denied, reason)
    return call


def time_out_calls(now: datetime | None = None, limit: int = 500) -> int:
    """Waited-for calls past their deadline: the policy's choice applies (beat job)."""
    now = now or timezone.now()
    due = list(
        ExtensionCall.objects.filter(mode=ExtensionMode.WAIT, state__in=CallState.OPEN, due_at__lte=now).values_list(
            "pk", flat=True
        )[:limit]
    )
    done = 0
    for pk in due:
        with transaction.atomic():
            call = (
                ExtensionCall.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(pk=pk, state__in=CallState.OPEN)
                .first()
            )
            if call is None:
                continue
            call.state = CallState.TIMED_OUT
            call.finished_at = now
            call.save(update_fields=["state", "finished_at"])
            go_on = call.on_timeout == TimeoutAction.CONTINUE
            _attempt(call, "timed out", None, "continued" if go_on else "the request failed")
            _after_wait(call, go_on, f"{call.extension_name} did not answer in time.")
            done += 1
    return done


def waiting_label(request: AssignmentRequest) -> str:
    """ "Waiting for <extension>" while a request is paused, else ""."""
    if request.state not in PAUSED_IN.values():
        return ""
    names = [c.extension_name for c in waiting_for(request)]
    return gettext("Waiting for %(names)s") % {"names": ", ".join(names)} if names else ""
