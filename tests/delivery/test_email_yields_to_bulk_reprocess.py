"""Email waits for access work (DESIGN §8, bulk reprocess of 10,000 all done < 60 s): while a
bulk reprocess has batches to go, the sender sends one short slice per wake and starts no
chain of its own; once nothing waits, it goes on in a chain as before."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import mail
from django.utils import timezone

from governance import models as m
from governance import tasks
from governance.services import bulk_reprocess, dispatch, requests

pytestmark = pytest.mark.django_db


@pytest.fixture
def enqueued(monkeypatch: pytest.MonkeyPatch, settings: Any) -> list[str]:
    """The broker, at the edge: the names of the tasks sent."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    sent: list[str] = []
    monkeypatch.setattr(dispatch, "send", lambda name, *args, countdown=None: sent.append(name))
    return sent


def _operation(admin: m.User, state: str) -> m.BulkReprocess:
    return m.BulkReprocess.objects.create(
        kind=m.BulkReprocessKind.REQUESTS, actor=admin, actor_label="admin", as_of=timezone.now(), state=state
    )


def test_while_a_bulk_reprocess_runs_one_slice_and_no_chain(
    admin: m.User, make_package: Any, requestor: m.User, approver: m.User, enqueued: list[str]
) -> None:
    requests.submit_request(requestor, make_package(approvers=[approver]).pk)
    operation = _operation(admin, m.BulkReprocessState.RUNNING)
    assert bulk_reprocess.any_unfinished()
    assert tasks.send_pending_emails() >= 1
    assert mail.outbox
    assert dispatch.SEND_PENDING_EMAILS not in enqueued
    m.BulkReprocess.objects.filter(pk=operation.pk).update(state=m.BulkReprocessState.DONE)
    assert not bulk_reprocess.any_unfinished()


def test_queued_counts_done_does_not(admin: m.User) -> None:
    _operation(admin, m.BulkReprocessState.DONE)
    assert not bulk_reprocess.any_unfinished()
    _operation(admin, m.BulkReprocessState.QUEUED)
    assert bulk_reprocess.any_unfinished()
