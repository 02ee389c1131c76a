"""What someone trying `make run` sees in My Access with the demo people (DESIGN §9)."""

from __future__ import annotations

import re

import pytest
from django.core.management import call_command
from django.test import Client

from governance import models as m

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo() -> dict[str, m.AccessPackage]:
    call_command("load_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    return {p.display_name: p for p in m.AccessPackage.objects.all()}


def as_(username: str) -> Client:
    client = Client()
    assert client.login(username=username, password="portcullis")
    return client


def test_requestor_sees_developer_tools_but_not_the_hidden_on_call(demo):
    page = as_("requestor").get("/myaccess/").content.decode()
    assert "Developer tools" in page
    assert "Production on-call" not in page
    assert "Member of the group Developers" in page


def test_the_hidden_package_opens_from_its_link_for_requestor_only(demo):
    on_call = demo["Production on-call"]
    page = as_("requestor").get(f"/myaccess/packages/{on_call.pk}/").content.decode()
    assert "On-call volunteers" in page
    assert "Approval by Arturo Approver." in page  # the requestor's manager
    assert "Admin direct assignment" not in page  # not a policy anyone can request through
    assert as_("outsider").get(f"/myaccess/packages/{on_call.pk}/").status_code == 404


def test_partner_requests_the_partner_portal_and_the_sponsor_approves_by_link(demo, settings):
    settings.SITE_URL = "http://testserver"
    portal = demo["Partner portal"]
    partner = as_("partner")
    assert "Partner portal" in partner.get("/myaccess/").content.decode()
    partner.post(f"/myaccess/packages/{portal.pk}/request/", {"justification": "Joint project"})
    request = m.AssignmentRequest.objects.get(target__username="partner")
    assert request.state == m.RequestState.PENDING_APPROVAL
    email = m.OutboundEmail.objects.get(kind="approval_needed")
    assert email.recipient.username == "owner"  # the sponsor, not the fallback
    link = re.search(r"http://testserver(/myaccess/approvals/\S+/link/\S+/)", email.body_text).group(1)
    owner = as_("owner")
    assert owner.get(link).status_code == 200
    owner.post(link, {"decision": "Approve"})
    request.refresh_from_db()
    assert request.state == m.RequestState.DELIVERING


def test_outsider_has_nothing_to_request(demo):
    page = as_("outsider").get("/myaccess/").content.decode()
    assert "There are no access packages you can request right now." in page
