"""Task dispatch: the one way a service asks a worker to do something.

Services never import :mod:`governance.tasks` (an interface, a floor above them): they send
a task by its name here, and the task module registers itself under the same names. A task
only wakes a worker (the rows are the work), so sending never fails the caller: a broker
outage is logged, and the sweeper (beat) picks the work up later.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from celery import current_app
from django.db import transaction

log = logging.getLogger(__name__)

DELIVER = "governance.tasks.deliver"
SEND_PENDING_EMAILS = "governance.tasks.send_pending_emails"
PROPAGATE_ROLE_OPERATION = "governance.tasks.propagate_role_operation"
REPROCESS_MATCHING = "governance.tasks.reprocess_matching"
SYNC_DIRECTORY = "governance.tasks.sync_directory"
SEND_EXTENSION_CALLS = "governance.tasks.send_extension_calls"
SEND_CHAT_MESSAGES = "governance.tasks.send_chat_messages"


def send(name: str, *args: Any, countdown: float | None = None) -> None:
    """Enqueue the task called ``name`` now; a broker outage is logged, never raised."""
    try:
        current_app.send_task(name, args=args, countdown=countdown)
    except Exception as exc:  # noqa: BLE001 - kombu raises many kinds; all mean "not now"
        log.warning("Broker unavailable, %s left for the sweeper: %s", name, exc)


def send_on_commit(name: str, *args: Any) -> None:
    """Enqueue once the current transaction commits, so the worker sees its rows."""
    transaction.on_commit(lambda: send(name, *args))


def on_commit_once(callback: Callable[[], None]) -> None:
    """``transaction.on_commit``, but a callback already waiting for this commit is not
    added twice (a bulk change wakes a worker once, not once per row)."""
    connection = transaction.get_connection()
    if connection.in_atomic_block and any(entry[1] is callback for entry in connection.run_on_commit):
        return
    transaction.on_commit(callback)


def _deliver() -> None:
    send(DELIVER)


def _send_pending_emails() -> None:
    send(SEND_PENDING_EMAILS)


def wake_delivery() -> None:
    """Ask a worker to look for delivery work once the current transaction commits.

    Only a nudge: the grant rows are the work, and the sweeper finds them if this is lost.
    """
    on_commit_once(_deliver)


def wake_email_sender() -> None:
    """Ask a worker to send what the outbox holds once the current transaction commits."""
    on_commit_once(_send_pending_emails)
