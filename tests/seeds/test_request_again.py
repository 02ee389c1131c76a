"""Issue 15 item 1 (rule 3, seed 001): after the reprocess window a requestor cancels a
Delivery failed or Partially delivered request and requests again."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from governance import models as m
from governance.errors import InvalidTransition
from governance.services import requests
from tests.conftest import members_of
from tests.myaccess.conftest import content, signed_in
from tests.portal.conftest import broken_role

pytestmark = pytest.mark.django_db


@pytest.fixture
def partial(requestor, make_package, deliver) -> m.AssignmentRequest:
    """A request whose first role was delivered and whose second failed."""
    package = make_package(name="Wiki", roles=1)
    broken_role(package)
    request = requests.submit_request(requestor, package.pk)
    deliver()
    request.refresh_from_db()
    assert request.state == m.RequestState.PARTIALLY_DELIVERED
    return request


def after_window(request: m.AssignmentRequest) -> timedelta:
    return request.completed_at - timezone.now() + timedelta(days=14, minutes=1)


class TestService:
    def test_within_the_window_the_requestor_is_told_to_wait(self, requestor, partial):
        with pytest.raises(InvalidTransition, match="An administrator can still reprocess this request until"):
            requests.cancel_request_as_requestor(requestor, partial.pk)
        partial.refresh_from_db()
        assert partial.state == m.RequestState.PARTIALLY_DELIVERED

    def test_after_the_window_cancel_revokes_what_was_delivered(self, requestor, partial, deliver, time_machine):
        good = m.ResourceRole.objects.filter(package_links__package=partial.package).order_by("pk")
        delivered_role = next(r for r in good if members_of(r))
        assert requestor.username in members_of(delivered_role)
        time_machine.move_to(timezone.now() + after_window(partial))
        requests.cancel_request_as_requestor(requestor, partial.pk)
        deliver()
        partial.refresh_from_db()
        assert partial.state == m.RequestState.CANCELED
        assert partial.assignment.state == m.AssignmentState.REMOVED
        assert requestor.username not in members_of(delivered_role)  # no access left behind
        assert m.OutboundEmail.objects.filter(kind="request_canceled", request=partial).exists()
        # Rule 12 no longer stands in the way.
        again = requests.submit_request(requestor, partial.package_id)
        assert again.pk != partial.pk

    def test_delivery_failed_too(self, requestor, make_package, deliver, time_machine):
        package = make_package(name="Broken", roles=0)
        broken_role(package)
        request = requests.submit_request(requestor, package.pk)
        deliver()
        request.refresh_from_db()
        assert request.state == m.RequestState.DELIVERY_FAILED
        time_machine.move_to(timezone.now() + after_window(request))
        assert requests.requestor_may_cancel(request)
        requests.cancel_request_as_requestor(requestor, request.pk)
        request.refresh_from_db()
        assert request.state == m.RequestState.CANCELED

    def test_someone_else_cannot(self, outsider, partial, time_machine):
        time_machine.move_to(timezone.now() + after_window(partial))
        with pytest.raises(Exception, match="Request not found"):
            requests.cancel_request_as_requestor(outsider, partial.pk)


class TestPage:
    def test_within_the_window_the_page_says_wait(self, requestor, partial):
        page = content(signed_in(requestor).get(f"/myaccess/requests/{partial.pk}/"))
        assert "An administrator can see the errors and reprocess the request until" in page
        assert "After that you can cancel it and request again." in page
        assert "Cancel and request again" not in page
        refused = signed_in(requestor).post(f"/myaccess/requests/{partial.pk}/request-again/", follow=True)
        assert "past its reprocess window" in content(refused)
        partial.refresh_from_db()
        assert partial.state == m.RequestState.PARTIALLY_DELIVERED

    def test_after_the_window_one_confirmed_action_cancels_and_opens_the_form(self, requestor, partial, time_machine):
        time_machine.move_to(timezone.now() + after_window(partial))
        client = signed_in(requestor)
        page = content(client.get(f"/myaccess/requests/{partial.pk}/"))
        assert "you do not need to request again" not in page
        assert "Cancel it and make a new request" in page
        assert f'href="/myaccess/requests/{partial.pk}/request-again/">Cancel and request again</a>' in page
        confirm = content(client.get(f"/myaccess/requests/{partial.pk}/request-again/"))
        assert "what it set up is removed" in confirm
        partial.refresh_from_db()
        assert partial.state == m.RequestState.PARTIALLY_DELIVERED  # GET changes nothing
        response = client.post(f"/myaccess/requests/{partial.pk}/request-again/")
        assert response.status_code == 302
        assert response["Location"] == f"/myaccess/packages/{partial.package_id}/request/"
        partial.refresh_from_db()
        assert partial.state == m.RequestState.CANCELED
        form = content(client.get(response["Location"]))
        assert "You already have" not in form
        assert ">Submit</button>" in form
