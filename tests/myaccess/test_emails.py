"""DESIGN §6: every message, plain text and HTML, absolute links, to the right person."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from governance import models as m
from governance.services import approvals, assignments, notifications, requests
from tests import factories as f
from tests.myaccess.conftest import approval_link

pytestmark = pytest.mark.django_db

EMAILS = Path(django_settings.BASE_DIR) / "templates" / "emails"
KINDS = sorted(p.stem for p in EMAILS.glob("*.txt"))
SITE = "https://portcullis.example"
HREF = re.compile(r'href="([^"]+)"')


@pytest.fixture(autouse=True)
def _site(settings):
    settings.SITE_URL = SITE


def only(kind: str, recipient: m.User | None = None) -> m.OutboundEmail:
    emails = m.OutboundEmail.objects.filter(kind=kind)
    if recipient is not None:
        emails = emails.filter(recipient=recipient)
    return emails.get()


def assert_well_formed(email: m.OutboundEmail) -> None:
    """Both parts present; every link absolute and on the site."""
    assert email.subject
    assert email.body_text.startswith(f"Hello {email.recipient},")
    assert email.body_html.startswith("<!doctype html>")
    assert f"Hello {email.recipient}," in email.body_html
    links = HREF.findall(email.body_html)
    assert links
    for url in links + re.findall(r"https?://\S+", email.body_text):
        assert url == SITE or url.startswith(f"{SITE}/"), url
    assert "{{" not in email.body_text + email.body_html
    assert "{%" not in email.body_text + email.body_html


def test_every_message_has_a_text_and_an_html_template():
    assert set(KINDS) == {p.stem for p in EMAILS.glob("*.html") if not p.stem.startswith("_") and p.stem != "base"}
    assert len(KINDS) == 16


class TestRequestorEmails:
    def test_submitted_names_the_approvers(self, requestor, approver, developer_tools):
        requests.submit_request(requestor, developer_tools.pk, justification="Release")
        email = only("request_submitted", requestor)
        assert_well_formed(email)
        assert email.subject == "Your request for Developer tools was submitted"
        assert f"waiting for approval by {approver}" in email.body_text
        request = m.AssignmentRequest.objects.get()
        assert f"https://portcullis.example/myaccess/requests/{request.pk}/" in email.body_text

    def test_approval_needed(self, requestor, approver, developer_tools):
        request = requests.submit_request(requestor, developer_tools.pk, justification="Release 4.2")
        email = only("approval_needed", approver)
        assert_well_formed(email)
        assert email.subject == f"Approval needed: {requestor} requests Developer tools"
        assert "Business justification: Release 4.2" in email.body_text
        assert approval_link(approver, request) in email.body_text
        assert approval_link(approver, request) in email.body_html
        assert f"https://portcullis.example/myaccess/approvals/{request.pk}/" in email.body_text
        assert "works once" in email.body_text

    def test_approved_then_delivered(self, requestor, approver, developer_tools, deliver):
        request = requests.submit_request(requestor, developer_tools.pk, justification="Release")
        approvals.decide(approver, request.pk, m.Decision.APPROVE)
        approved = only("request_approved", requestor)
        assert_well_formed(approved)
        assert "Access is being delivered now" in approved.body_text
        deliver()
        delivered = only("request_delivered", requestor)
        assert_well_formed(delivered)
        assert delivered.subject == "You now have access to Developer tools"
        request.refresh_from_db()
        assert f"https://portcullis.example/myaccess/access/{request.assignment_id}/" in delivered.body_text

    def test_denied_with_the_justification(self, requestor, approver, developer_tools):
        request = requests.submit_request(requestor, developer_tools.pk, justification="Release")
        approvals.decide(approver, request.pk, m.Decision.DENY, "Ask your lead first")
        email = only("request_denied", requestor)
        assert_well_formed(email)
        assert f"was denied by {approver}" in email.body_text
        assert "Reason: Ask your lead first" in email.body_text
        assert "Ask your lead first" in email.body_html

    def test_delivery_failed(self, requestor, make_package, deliver):
        package = make_package(name="Broken")
        role = m.ResourceRole.objects.get(package_links__package=package)
        m.Resource.objects.filter(pk=role.resource_id).update(origin_id="00000000-0000-0000-0000-000000000000")
        requests.submit_request(requestor, package.pk)
        deliver()
        email = only("request_delivery_failed", requestor)
        assert_well_formed(email)
        assert "delivery failed" in email.body_text

    def test_canceled_by_an_administrator(self, requestor, admin, developer_tools):
        request = requests.submit_request(requestor, developer_tools.pk, justification="Release")
        requests.cancel_request_as_admin(admin, request.pk, reason="Project stopped")
        email = only("request_canceled", requestor)
        assert_well_formed(email)
        assert "Reason: Project stopped" in email.body_text
        assert f"https://portcullis.example/myaccess/packages/{developer_tools.pk}/" in email.body_text

    def test_approval_timed_out_with_a_request_again_link(self, requestor, developer_tools):
        request = requests.submit_request(requestor, developer_tools.pk, justification="Release")
        approvals.time_out_due_requests(now=request.stage_due_at + timedelta(seconds=1))
        email = only("request_timed_out", requestor)
        assert_well_formed(email)
        assert f"please request it again: https://portcullis.example/myaccess/packages/{developer_tools.pk}/" in (
            email.body_text
        )
        assert ">Request again</a>" in email.body_html

    @pytest.mark.parametrize("days", [14, 1])
    def test_expiry_reminders_with_the_extend_link(self, requestor, developer_tools, days):
        assignment = f.AssignmentFactory(
            target=requestor,
            policy=developer_tools.policies.get(),
            end_at=timezone.now() + timedelta(days=days) - timedelta(hours=1),
        )
        assert assignments.send_expiry_reminders() == 1
        email = only("expiry_reminder", requestor)
        assert_well_formed(email)
        assert email.subject == f"Your access to Developer tools expires in {days} day{'s' if days > 1 else ''}"
        assert f"https://portcullis.example/myaccess/access/{assignment.pk}/#extend" in email.body_text
        assert ">Extend</a>" in email.body_html
        assert assignments.send_expiry_reminders() == 0  # never twice

    def test_expired(self, requestor, make_package, deliver):
        package = make_package(name="Wiki")
        made = requests.submit_request(requestor, package.pk)
        deliver()
        m.Assignment.objects.filter(pk=made.assignment_id).update(end_at=timezone.now() - timedelta(minutes=1))
        assignments.expire_due_assignments()
        deliver()
        email = only("assignment_expired", requestor)
        assert_well_formed(email)
        assert f"https://portcullis.example/myaccess/packages/{package.pk}/" in email.body_text

    def test_extended_and_removed(self, requestor, make_package, deliver):
        package = make_package(name="Wiki", allow_extension=True)
        made = requests.submit_request(requestor, package.pk)
        deliver()
        m.Assignment.objects.filter(pk=made.assignment_id).update(end_at=timezone.now() + timedelta(days=2))
        extension = requests.request_extension(requestor, made.assignment_id)
        extended = only("request_extended", requestor)
        assert_well_formed(extended)
        assert f"until {timezone.localtime(extension.schedule_end):%Y-%m-%d %H:%M}" in extended.body_text
        requests.request_removal(requestor, made.assignment_id, "Done with it")
        deliver()
        removed = only("access_removed", requestor)
        assert_well_formed(removed)
        assert "Reason: Done with it" in removed.body_text


class TestShareLink:
    """Seed 004's "Email this link", called by the admin portal."""

    def test_invitation_with_description_roles_and_note(self, developer_tools, admin, requestor, outsider):
        mute = f.UserFactory(username="mute", email="")
        sent = notifications.share_package_link(developer_tools, [requestor, outsider, mute], admin, "See you there")
        assert sent == 2
        email = only("package_link", requestor)
        assert_well_formed(email)
        assert email.subject == f"{admin} shared the access package Developer tools with you"
        assert f"Request access package: https://portcullis.example/myaccess/packages/{developer_tools.pk}/" in (
            email.body_text
        )
        role = m.ResourceRole.objects.filter(package_links__package=developer_tools).select_related("resource")[0]
        assert f"- Member of the group {role.resource.display_name}" in email.body_text
        assert f"Message from {admin}: See you there" in email.body_text
        assert ">Request access package</a>" in email.body_html


class TestEscaping:
    def test_text_is_not_html_escaped_and_html_is(self, make_package, approver):
        person = f.UserFactory(username="obrien", display_name="Dara O'Brien <dev>")
        package = make_package(name="R&D tools", approvers=[approver])
        requests.submit_request(person, package.pk, justification="Need <b>this</b> & that")
        email = only("approval_needed", approver)
        assert email.subject.removeprefix("Approval needed: ") == "Dara O'Brien <dev> requests R&D tools"
        assert "Business justification: Need <b>this</b> & that" in email.body_text
        assert "Need &lt;b&gt;this&lt;/b&gt; &amp; that" in email.body_html
        assert "<b>this</b>" not in email.body_html


def test_times_are_in_the_site_zone_whoever_clicked(settings, requestor, approver, developer_tools):
    settings.TIME_ZONE = "Europe/Paris"
    with timezone.override("Pacific/Auckland"):
        request = requests.submit_request(requestor, developer_tools.pk, justification="x")
    email = only("approval_needed", approver)
    due = timezone.localtime(request.stage_due_at, timezone=__import__("zoneinfo").ZoneInfo("Europe/Paris"))
    assert f"by {due:%Y-%m-%d %H:%M}" in email.body_text
