"""Celery tasks: thin and idempotent. Each takes ids, calls one service, and is safe to
run twice. The database holds the work; a lost task only delays it until the sweeper.

Services send these by name (:mod:`governance.services.dispatch` holds the names), so they
never import this module.
"""

from __future__ import annotations

import logging
from uuid import UUID

from celery import shared_task

from governance.services import (
    approvals,
    assignments,
    bulk_reprocess,
    chat,
    delivery,
    directory_sync,
    dispatch,
    extensions,
    external_users,
    outbox,
    packages,
    reviews,
    submissions,
)

log = logging.getLogger(__name__)


# --- Delivery -------------------------------------------------------------------------


@shared_task(name=dispatch.DELIVER)
def deliver() -> int:
    report = delivery.deliver_until_idle()
    if delivery.has_due_work():
        # Budget spent or contention: go on in a fresh task so others get a turn.
        dispatch.send(dispatch.DELIVER, countdown=1 if report.handled == 0 else None)
    else:
        wait = delivery.next_retry_in()
        if wait is not None:
            dispatch.send(dispatch.DELIVER, countdown=wait + 0.5)
    return report.handled


@shared_task(name="governance.tasks.sweep_deliveries")
def sweep_deliveries() -> dict[str, int]:
    """Safety net: wake workers for work nobody is doing (lost task, killed worker, broker
    outage), settle requests whose grants are done, and resend unsent email."""
    due = delivery.has_due_work()
    if due:
        dispatch.send(dispatch.DELIVER)
    settled = delivery.settle_stalled_requests()
    emails = len(outbox.unsent_due())
    if emails:
        dispatch.send(dispatch.SEND_PENDING_EMAILS)
    resumed = bulk_reprocess.resume_stalled()
    return {"due": int(due), "settled": settled, "emails": emails, "bulk_reprocess_resumed": resumed}


# --- Email ----------------------------------------------------------------------------


@shared_task(name="governance.tasks.send_email")
def send_email(email_id: str) -> bool:
    return outbox.send_outbound_email(UUID(email_id))


@shared_task(name=dispatch.SEND_PENDING_EMAILS)
def send_pending_emails() -> int:
    """Send what the outbox holds; go on in a fresh task if there is more than a minute's worth.

    Access changes go first: while grants wait for delivery (an expiry of thousands, say) or a
    bulk reprocess has batches to go, the sender works in short slices so the same worker
    gets back to granting and revoking."""
    if delivery.has_due_work() or bulk_reprocess.any_unfinished():
        # Access work waits (grants due, or a bulk reprocess's batches): one short slice, and
        # no chain of its own. Every batch that completes requests wakes the sender again, and
        # the sweeper does every minute, so the rest goes out as soon as the access is given.
        # (A chain per wake took most of one worker from a bulk reprocess of 10,000.)
        sent, _ = outbox.send_due(max_seconds=1)
        return sent
    sent, more = outbox.send_due(max_seconds=60)
    if more:
        dispatch.send(dispatch.SEND_PENDING_EMAILS)
    return sent


# --- Resource roles (rule 8) ----------------------------------------------------------


@shared_task(name=dispatch.PROPAGATE_ROLE_OPERATION)
def propagate_role_operation(operation_id: str) -> bool:
    done = packages.propagate_role_operation(UUID(operation_id))
    if not done:
        dispatch.send(dispatch.PROPAGATE_ROLE_OPERATION, operation_id)
    return done


# --- Reprocess all matching (DESIGN §8) -------------------------------------------------


@shared_task(name=dispatch.REPROCESS_MATCHING, acks_late=True, reject_on_worker_lost=True)
def reprocess_matching(operation_id: str) -> bool:
    """Batches of a bulk reprocess; goes on in a fresh task so delivery gets a turn. Safe to
    run twice or after a killed worker: each batch moves the operation's cursor as it commits."""
    done = bulk_reprocess.run_reprocess_matching(UUID(operation_id))
    if not done:
        dispatch.send(dispatch.REPROCESS_MATCHING, operation_id)
    return done


# --- Beat jobs ------------------------------------------------------------------------


@shared_task(name="governance.tasks.start_scheduled")
def start_scheduled() -> int:
    return assignments.start_due_requests()


@shared_task(name="governance.tasks.expire_assignments")
def expire_assignments() -> int:
    return assignments.expire_due_assignments()


@shared_task(name="governance.tasks.send_expiry_reminders")
def send_expiry_reminders() -> int:
    return assignments.send_expiry_reminders()


@shared_task(name=dispatch.SEND_EXTENSION_CALLS)
def send_extension_calls() -> int:
    """Custom extension calls that are due (new ones, and retries whose backoff ended)."""
    return extensions.send_due_calls()


@shared_task(name=dispatch.SEND_CHAT_MESSAGES)
def send_chat_messages() -> int:
    """Chat notifications that are due (new ones, and retries whose backoff ended)."""
    return chat.send_due()


@shared_task(name="governance.tasks.extension_calls_sweep")
def extension_calls_sweep() -> dict[str, int]:
    """Beat: retry due extension calls and chat messages, and apply the policy's choice to
    answers that never came."""
    return {
        "timed_out": extensions.time_out_calls(),
        "sent": extensions.send_due_calls(),
        "chat_sent": chat.send_due(),
    }


@shared_task(name="governance.tasks.time_out_approvals")
def time_out_approvals() -> int:
    return approvals.time_out_due_requests()


@shared_task(name="governance.tasks.remind_approvers")
def remind_approvers() -> int:
    return approvals.remind_due_approvers()


@shared_task(name="governance.tasks.check_drift")
def check_drift() -> dict[str, int]:
    report = delivery.check_drift()
    for error in report.errors or []:
        log.warning("Drift check: %s", error)
    return {"roles": report.roles_checked, "drifted": report.drifted, "healed": report.healed}


# --- Sign-in and directory ---------------------------------------------------------------


@shared_task(name=dispatch.SYNC_DIRECTORY)
def sync_directory() -> dict[str, object]:
    """Beat: import people and groups from LDAP (does nothing unless LDAP_SYNC_URL is set)."""
    if directory_sync.sync_config() is None:
        return {"configured": False}
    try:
        report = directory_sync.sync_directory()
    except directory_sync.SyncAlreadyRunning as exc:
        log.info("Directory sync skipped: %s", exc.message)
        return {"skipped": exc.message}
    except directory_sync.DirectorySyncError as exc:
        # Recorded on the sync's state (shown on the page); the next beat tries again.
        log.warning("Directory sync failed: %s", exc.message)
        return {"failed": exc.message}
    return report.counts()


@shared_task(name="governance.tasks.external_user_lifecycle")
def external_user_lifecycle() -> dict[str, int]:
    """Beat: block external users whose last assignment ended; remove them when their days are up."""
    report = external_users.run_external_user_lifecycle()
    return {"blocked": report.blocked, "removed": report.removed, "kept": report.kept}


# --- Housekeeping -----------------------------------------------------------------------


@shared_task(name="governance.tasks.purge_form_submissions")
def purge_form_submissions() -> int:
    """Beat: forget the form tokens kept to recognise a form sent twice."""
    return submissions.purge_form_submissions()


# --- Access reviews (rule 14) ---------------------------------------------------------------


@shared_task(name="governance.tasks.run_access_reviews")
def run_access_reviews() -> dict[str, int]:
    """Start due instances, remind halfway, end and apply at the end."""
    return reviews.run_due()


@shared_task(name=dispatch.APPLY_ACCESS_REVIEW)
def apply_access_review(instance_id: str) -> int:
    """ "Apply now": remove what an ended review denied (a no-op once applied)."""
    return reviews.apply_instance(None, UUID(instance_id)).removed
