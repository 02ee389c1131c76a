"""Issue 15 item 3 (DESIGN §6): halfway through a stage's timeout its approvers get one
reminder, recorded and never sent twice, with the same safe link; through a real SMTP server."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from governance import models as m
from governance import tasks
from governance.services import approvals, outbox, requests
from tests.myaccess.conftest import path_of

pytestmark = pytest.mark.django_db

LINK = re.compile(r"https?://\S+/myaccess/approvals/[0-9a-f-]{36}/link/[^/\s]+/")


def send_outbox() -> int:
    return sum(1 for pk in outbox.unsent_due() if outbox.send_outbound_email(pk))


def test_halfway_one_reminder_with_the_same_safe_link(
    smtp_inbox,
    requestor,
    approver,
    developer_tools,
    settings,
    time_machine,
):
    settings.SITE_URL = "http://testserver"
    request = requests.submit_request(requestor, developer_tools.pk, justification="Release 4.2")
    stage_days = developer_tools.policies.get().stages.get().timeout_days  # 7
    first_link = m.ApprovalLink.objects.get(request=request, approver=approver)
    send_outbox()

    # Before halfway: nothing.
    time_machine.move_to(timezone.now() + timedelta(days=stage_days / 2) - timedelta(minutes=5))
    assert tasks.remind_approvers() == 0
    # Halfway: one reminder, recorded.
    time_machine.move_to(timezone.now() + timedelta(minutes=10))
    assert tasks.remind_approvers() == 1
    assert m.ApprovalReminder.objects.filter(request=request, approver=approver, stage_order=1).count() == 1
    assert m.AuditEvent.objects.filter(action="request.approvers_reminded", object_id=str(request.pk)).exists()
    # Never twice, however often the beat job runs.
    assert tasks.remind_approvers() == 0
    time_machine.move_to(timezone.now() + timedelta(days=1))
    assert tasks.remind_approvers() == 0
    send_outbox()

    message = smtp_inbox.to(approver.email, "Reminder: approval needed")
    assert str(message["Subject"]) == f"Reminder: approval needed for {requestor}'s request for Developer tools"
    body = message.get_body(("plain",)).get_content()
    request.refresh_from_db()
    due = timezone.localtime(request.stage_due_at).strftime("%Y-%m-%d %H:%M")
    assert f"please approve or deny by {due} UTC" in body
    assert "Business justification: Release 4.2" in body
    # The same safe link: the stored link of the first email (single use, expires with the stage).
    assert m.ApprovalLink.objects.filter(request=request, approver=approver).count() == 1
    link = LINK.search(body).group(0)
    client = Client()
    client.force_login(approver)
    confirm = client.get(path_of(link))
    assert confirm.status_code == 200
    request.refresh_from_db()
    assert request.state == m.RequestState.PENDING_APPROVAL  # GET decides nothing
    first_link.refresh_from_db()
    assert first_link.used_at is None


def test_no_reminder_once_decided_or_past_the_deadline(requestor, approver, outsider, developer_tools, time_machine):
    decided = requests.submit_request(requestor, developer_tools.pk, justification="x")
    approvals.decide(approver, decided.pk, "Approve", "ok")
    developer_tools.policies.get().specific_users.add(outsider)
    late = requests.submit_request(outsider, developer_tools.pk, justification="y")
    # Past the stage's deadline a reminder would be a lie: the timeout cancels it instead.
    time_machine.move_to(timezone.now() + timedelta(days=8))
    assert tasks.remind_approvers() == 0
    assert not m.ApprovalReminder.objects.exists()
    assert tasks.time_out_approvals() == 1
    late.refresh_from_db()
    assert late.state == m.RequestState.CANCELED
