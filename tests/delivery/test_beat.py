"""Beat jobs, called as the scheduler calls them, against frozen time."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.utils import timezone

from governance import models as m
from governance import tasks
from governance.services import approvals, requests
from portal.celery import app
from tests import factories as f

pytestmark = pytest.mark.django_db


def test_every_scheduled_job_is_a_registered_task():
    app.loader.import_default_modules()
    names = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert names == {
        "governance.tasks.sweep_deliveries",
        "governance.tasks.start_scheduled",
        "governance.tasks.expire_assignments",
        "governance.tasks.send_expiry_reminders",
        "governance.tasks.time_out_approvals",
        "governance.tasks.remind_approvers",
        "governance.tasks.check_drift",
        "governance.tasks.sync_directory",
        "governance.tasks.external_user_lifecycle",
        "governance.tasks.purge_form_submissions",
        "governance.tasks.extension_calls_sweep",
    }
    assert names <= set(app.tasks)


def test_start_then_expire(make_package, requestor, deliver):
    package = make_package(allow_custom_schedule=True, expiration_days=10)
    start = timezone.now() + timedelta(days=2)
    request = requests.submit_request(requestor, package.pk, start=start)
    with time_machine.travel(start - timedelta(minutes=1), tick=False):
        assert tasks.start_scheduled() == 0
    with time_machine.travel(start + timedelta(seconds=30), tick=False):
        assert tasks.start_scheduled() == 1
        deliver()
    request.refresh_from_db()
    assert request.state == m.RequestState.DELIVERED
    end = request.assignment.end_at
    with time_machine.travel(end - timedelta(seconds=1), tick=False):
        assert tasks.expire_assignments() == 0
    with time_machine.travel(end + timedelta(seconds=1), tick=False):
        assert tasks.expire_assignments() == 1
        deliver()
    request.assignment.refresh_from_db()
    assert request.assignment.state == m.AssignmentState.EXPIRED


def test_reminders_once_at_14_and_1_days(make_package, requestor, deliver):
    request = requests.submit_request(requestor, make_package(expiration_days=30, allow_extension=True).pk)
    deliver()
    request.refresh_from_db()
    end = request.assignment.end_at
    for moment, expected in [
        (end - timedelta(days=15), 0),
        (end - timedelta(days=14) + timedelta(minutes=5), 1),
        (end - timedelta(days=13), 0),
        (end - timedelta(hours=23), 1),
        (end - timedelta(hours=1), 0),
    ]:
        with time_machine.travel(moment, tick=False):
            assert tasks.send_expiry_reminders() == expected, moment
    assert m.ExpiryReminder.objects.filter(assignment=request.assignment).count() == 2


def test_approval_timeout_cancels(make_package, requestor, approver):
    request = requests.submit_request(requestor, make_package(approvers=[approver]).pk)
    due = request.stage_due_at
    with time_machine.travel(due - timedelta(minutes=1), tick=False):
        assert tasks.time_out_approvals() == 0
    with time_machine.travel(due + timedelta(minutes=1), tick=False):
        assert tasks.time_out_approvals() == 1
    request.refresh_from_db()
    assert (request.state, request.cancel_reason) == (m.RequestState.CANCELED, approvals.APPROVAL_TIMED_OUT)


def test_drift_job_reports(make_package, requestor, deliver):
    requests.submit_request(requestor, make_package(roles=1).pk)
    deliver()
    m.GroupMembership.objects.filter(user=requestor).delete()
    assert tasks.check_drift() == {"roles": 1, "drifted": 1, "healed": 0}


def test_form_tokens_are_forgotten_after_a_day():
    """A form token only has to outlive a reload of the result page (views/outcomes.py)."""
    sent = f.FormSubmissionFactory()
    with time_machine.travel(sent.created_at + timedelta(hours=23), tick=False):
        assert tasks.purge_form_submissions() == 0
    with time_machine.travel(sent.created_at + timedelta(days=1, minutes=1), tick=False):
        newer = f.FormSubmissionFactory()
        assert tasks.purge_form_submissions() == 1
    assert list(m.FormSubmission.objects.all()) == [newer]
