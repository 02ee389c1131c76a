"""Why the system removed an assignment is a recorded fact (``removal_reason`` on the
systemRemove request), set by the service that ends it: expiry, an access review, a person
who left. What follows (the email the person gets) reads the fact, never the justification's
wording; requests made before the field existed get it from their old fixed texts."""

from __future__ import annotations

import importlib
from datetime import timedelta

import pytest
import time_machine
from django.apps import apps
from django.utils import timezone

from governance import models as m
from governance.services import access_removal, assignments, notifications, requests
from tests import factories as f

pytestmark = pytest.mark.django_db


def removal_of(request: m.AssignmentRequest) -> m.AssignmentRequest:
    return m.AssignmentRequest.objects.get(assignment_id=request.assignment_id, request_type="systemRemove")


def test_expiry_records_expiry(make_package, requestor, deliver) -> None:
    made = requests.submit_request(requestor, make_package(expiration_days=1).pk)
    deliver()
    made.refresh_from_db()
    with time_machine.travel(timezone.now() + timedelta(days=2), tick=False):
        assert assignments.expire_due_assignments() == 1
        deliver()
    removal = removal_of(made)
    assert removal.removal_reason == m.RemovalReason.EXPIRY
    assert m.OutboundEmail.objects.filter(request=removal, kind="assignment_expired").count() == 1


def test_a_person_who_left_records_person_left(make_package, requestor, deliver) -> None:
    made = requests.submit_request(requestor, make_package().pk)
    deliver()
    made.refresh_from_db()
    access_removal.remove_all_access([requestor.pk], "Disabled in the directory.")
    removal = removal_of(made)
    assert removal.removal_reason == m.RemovalReason.PERSON_LEFT
    assert removal.justification == "Disabled in the directory."


@pytest.mark.parametrize(
    ("reason", "justification", "kind"),
    [
        # The fact decides, whatever the words say.
        (m.RemovalReason.REVIEW, "Quarterly review of Payroll: denied by the manager.", "review_removed"),
        (m.RemovalReason.EXPIRY, notifications.REVIEW_REMOVAL_REASON, "assignment_expired"),
        (m.RemovalReason.EXPIRY, "", "assignment_expired"),
    ],
)
def test_the_email_follows_the_recorded_reason(reason, justification, kind) -> None:
    assignment = f.AssignmentFactory(state=m.AssignmentState.REMOVED)
    removal = f.RequestFactory(
        request_type=m.RequestType.SYSTEM_REMOVE,
        state=m.RequestState.DELIVERED,
        policy=assignment.policy,
        target=assignment.target,
        requestor=None,
        assignment=assignment,
        justification=justification,
        removal_reason=reason,
    )
    email = notifications.request_completed(removal, save=False)
    assert email is not None
    assert email.kind == kind


def test_the_data_migration_reads_the_old_fixed_texts() -> None:
    migration = importlib.import_module("governance.migrations.0029_sodchat_removal_reason")
    old = {
        "review": f.RequestFactory(request_type="systemRemove", justification="Removed by an access review."),
        "expiry": f.RequestFactory(request_type="systemRemove", justification="The assignment reached its end date."),
        "left": f.RequestFactory(request_type="systemRemove", justification="Deleted from the directory."),
        "admin": f.RequestFactory(request_type="adminRemove", justification="Removed by an access review."),
    }
    m.AssignmentRequest.objects.update(removal_reason="")
    migration.record_reasons(apps, None)
    found = {name: m.AssignmentRequest.objects.get(pk=r.pk).removal_reason for name, r in old.items()}
    assert found == {"review": "review", "expiry": "expiry", "left": "personLeft", "admin": ""}
