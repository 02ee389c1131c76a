"""Issue 15 item 2 (DESIGN §6): each kind of change gets its own words; times carry their zone."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from governance import models as m
from governance.services import assignments, requests
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _zone(settings):
    settings.SITE_URL = "https://portcullis.example"
    settings.TIME_ZONE = "Europe/Berlin"


def only(kind: str, recipient: m.User) -> m.OutboundEmail:
    return m.OutboundEmail.objects.get(kind=kind, recipient=recipient)


def berlin(value) -> str:
    """How an email writes a time: in the site's zone, with the zone named."""
    return value.astimezone(ZoneInfo("Europe/Berlin")).strftime("%Y-%m-%d %H:%M %Z")


@pytest.fixture
def direct_package(make_package):
    package = make_package(name="Payroll", allowed_target_scope=m.TargetScope.NO_ONE)
    return package


class TestGivenAccess:
    def test_a_direct_assignment_says_given_not_approved(self, admin, requestor, direct_package, deliver):
        policy = direct_package.policies.get()
        assignments.create_direct_assignments(
            admin, direct_package.pk, policy_id=policy.pk, target_ids=[requestor.pk], justification="Onboarding"
        )
        deliver()
        email = only("access_given", requestor)
        assert email.subject == "You were given access to Payroll"
        assert f'{admin} gave you access to "Payroll".' in email.body_text
        assert "Reason: Onboarding" in email.body_text
        assignment = m.Assignment.objects.get(target=requestor)
        assert f"It ends on {berlin(assignment.end_at)}." in email.body_text
        assert "gave you access" in email.body_html
        assert not m.OutboundEmail.objects.filter(recipient=requestor, subject__icontains="approved").exists()
        assert not m.OutboundEmail.objects.filter(recipient=requestor, kind="request_delivered").exists()

    def test_a_scheduled_direct_assignment_names_its_start_with_the_zone(self, admin, requestor, direct_package):
        policy = direct_package.policies.get()
        start = timezone.now() + timedelta(days=3)
        assignments.create_direct_assignments(
            admin, direct_package.pk, policy_id=policy.pk, target_ids=[requestor.pk], start=start
        )
        email = only("access_given", requestor)
        assert email.subject == f"You will have access to Payroll from {berlin(start)}"
        assert berlin(start).endswith(("CET", "CEST"))


class TestEndMoved:
    @pytest.fixture
    def assignment(self, requestor, make_package, deliver):
        package = make_package(name="Wiki", expiration_days=60)
        made = requests.submit_request(requestor, package.pk)
        deliver()
        return m.Assignment.objects.get(pk=made.assignment_id)

    def test_moved_earlier_says_earlier_never_extended(self, admin, requestor, assignment):
        before = assignment.end_at
        new_end = timezone.now() + timedelta(days=5)
        assignments.update_assignment_end(admin, assignment.pk, new_end)
        email = only("end_moved_earlier", requestor)
        assert email.subject == "Your access to Wiki now ends earlier"
        assert f"it now ends on {berlin(new_end)} instead of {berlin(before)}." in email.body_text
        assert "extended" not in email.subject + email.body_text + email.body_html
        assert "moved earlier" in email.body_html

    def test_moved_later_says_extended(self, admin, requestor, assignment):
        before = assignment.end_at
        new_end = before + timedelta(days=30)
        assignments.update_assignment_end(admin, assignment.pk, new_end)
        email = only("request_extended", requestor)
        assert email.subject == "Your access to Wiki was extended"
        assert f"was extended until {berlin(new_end)} (it was to end on {berlin(before)})." in email.body_text
        assert not m.OutboundEmail.objects.filter(kind="end_moved_earlier").exists()


class TestExpiringInNDays:
    @pytest.mark.parametrize(("left", "words"), [(10, "10 days"), (14, "14 days"), (1, "1 day"), (3, "3 days")])
    def test_the_real_number_of_days(self, requestor, make_package, left, words):
        package = make_package(name="Wiki", allow_extension=True)
        end = timezone.now() + timedelta(days=left) - timedelta(minutes=5)
        f.AssignmentFactory(target=requestor, package=package, policy=package.policies.get(), end_at=end)
        assert assignments.send_expiry_reminders() == 1
        email = only("expiry_reminder", requestor)
        assert email.subject == f"Your access to Wiki expires in {words}"
        assert f"ends on {berlin(end)}" in email.body_text
        assert f"ends in {words}" in email.body_html
