"""Custom extension calls (rule 16), queued where a stage happens: one row per extension a
request's policy runs at that stage, written in the stage's transaction and sent by a worker
(:mod:`governance.services.extensions`). Queuing never blocks or fails the stage itself."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import timedelta
from uuid import UUID

from django.db.models import Exists, OuterRef
from django.utils import timezone

from governance.models import AssignmentRequest
from governance.models.extension import (
    CallState,
    ExtensionCall,
    ExtensionMode,
    ExtensionStage,
    PolicyExtension,
)
from governance.services import dispatch


def fire(request: AssignmentRequest, stage: str) -> list[ExtensionCall]:
    """Queue the calls of ``stage`` for one request; the new ones that wait for an answer."""
    calls = fire_many([(request.pk, request.policy_id)], stage)
    return [call for call in calls if call.state == CallState.PENDING and call.due_at]


def fire_many(requests: Iterable[tuple[UUID, UUID | None]], stage: str) -> list[ExtensionCall]:
    """Queue the calls of ``stage`` for many requests (their ids and their policies' ids):
    one query when no policy runs any."""
    by_policy: dict[UUID, list[UUID]] = defaultdict(list)
    for request_id, policy_id in requests:
        if policy_id is not None:
            by_policy[policy_id].append(request_id)
    if not by_policy:
        return []
    links = list(
        PolicyExtension.objects.filter(policy_id__in=list(by_policy), extension__stage=stage).select_related(
            "extension"
        )
    )
    if not links:
        return []
    now = timezone.now()
    made: list[ExtensionCall] = []
    for link in links:
        extension = link.extension
        waits = extension.mode == ExtensionMode.WAIT and stage in ExtensionStage.WAITABLE
        for request_id in by_policy[link.policy_id]:
            call, created = ExtensionCall.objects.get_or_create(
                request_id=request_id,
                extension=extension,
                stage=stage,
                defaults={
                    "extension_name": extension.display_name,
                    "mode": ExtensionMode.WAIT if waits else ExtensionMode.FIRE_AND_FORGET,
                    "on_timeout": link.on_timeout,
                    "due_at": now + timedelta(minutes=extension.timeout_minutes) if waits else None,
                },
            )
            if created:
                made.append(call)
    if made:
        dispatch.send_on_commit(dispatch.SEND_EXTENSION_CALLS)
    return made


def waiting() -> Exists:
    """A filter for requests paused for a call (``.exclude(waiting())``: the others)."""
    return Exists(
        ExtensionCall.objects.filter(request=OuterRef("pk"), mode=ExtensionMode.WAIT, state__in=CallState.OPEN)
    )


def waiting_for(request: AssignmentRequest) -> list[ExtensionCall]:
    """The calls a request is paused for ("Waiting for <extension>")."""
    return list(
        ExtensionCall.objects.filter(request=request, mode=ExtensionMode.WAIT, state__in=CallState.OPEN).order_by(
            "created_at"
        )
    )
