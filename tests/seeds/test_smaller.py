"""Issue 15 item 8: the smaller words of the seeds."""

from __future__ import annotations

import pytest

from governance import models as m
from governance.errors import StillInUse
from governance.services import packages as package_service
from governance.services import requests
from tests import factories as f
from tests.myaccess.conftest import content, everything, signed_in

pytestmark = pytest.mark.django_db


def form_url(package: m.AccessPackage) -> str:
    return f"/myaccess/packages/{package.pk}/request/"


class TestJustificationBox:
    def test_marked_optional_when_the_policy_does_not_ask(self, requestor, make_package):
        package = make_package(name="Wiki", requestor_justification_required=False)
        page = content(signed_in(requestor).get(form_url(package)))
        assert '<label for="id_justification">Business justification (optional)</label>' in page

    def test_marked_required_when_the_policy_asks(self, requestor, make_package):
        package = make_package(name="Wiki", requestor_justification_required=True)
        page = content(signed_in(requestor).get(form_url(package)))
        assert '<label for="id_justification">Business justification (required)</label>' in page


class TestChoosingAPolicy:
    def test_no_choice_among_several_says_choose_one(self, requestor, make_package):
        package = make_package(name="Wiki")
        f.PolicyFactory(package=package, display_name="Second", allowed_target_scope=m.TargetScope.ALL_MEMBERS)
        before = everything()
        page = content(signed_in(requestor).post(form_url(package), {}))
        assert "Choose one of the policies." in page
        assert "This field is required." not in page
        assert everything() == before


class TestUndeliveredWords:
    def test_the_status_filter_says_undelivered(self, admin):
        page = content(signed_in(admin).get("/governance/requests/"))
        assert ">Delivery failed (Undelivered)</option>" in page

    def test_the_badge_tooltip_says_undelivered(self, admin, requestor, make_package):
        package = make_package(name="Wiki")
        request = requests.submit_request(requestor, package.pk)
        m.AssignmentRequest.objects.filter(pk=request.pk).update(state=m.RequestState.DELIVERY_FAILED)
        page = content(signed_in(admin).get(f"/governance/packages/{package.pk}/requests/"))
        assert 'title="Delivery failed (Undelivered): no resource could be set up">Delivery failed</span>' in page


class TestDeleteRefusal:
    def test_open_requests_refusal_reads_like_the_assignments_one(self, admin, requestor, approver, make_package):
        package = make_package(name="Wiki", approvers=[approver])
        requests.submit_request(requestor, package.pk)
        with pytest.raises(StillInUse) as refused:
            package_service.delete_package(admin, package.pk)
        assert str(refused.value) == "Wiki has 1 open request; cancel them before deleting the package."
        page = content(signed_in(admin).get(f"/governance/packages/{package.pk}/delete/"))
        assert "A package with active assignments or open requests cannot be deleted" in page
