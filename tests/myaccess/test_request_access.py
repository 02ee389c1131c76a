"""Seed 002, "Open the My Access portal" and "Request an access package" (rules 5, 9, 11, 12)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from governance import models as m
from governance.services import requests
from tests import factories as f
from tests.clients import signed_in
from tests.myaccess.conftest import content, everything

pytestmark = pytest.mark.django_db


def local_input(value) -> str:
    """What a datetime-local field sends, in the server's zone (no zone cookie in tests)."""
    return timezone.localtime(value).strftime("%Y-%m-%dT%H:%M")


# --- Request access: the list -------------------------------------------------------------


class TestRequestAccessList:
    def test_lists_requestable_packages_with_description_and_roles_in_plain_words(
        self, requestor, developer_tools, make_package
    ):
        m.AccessPackage.objects.filter(pk=make_package(name="Secret rotation").pk).update(is_hidden=True)
        nobody = make_package(name="Admins only", allowed_target_scope=m.TargetScope.NO_ONE)
        response = signed_in(requestor).get("/myaccess/")
        page = content(response)
        assert response.status_code == 200
        assert "<h1>Request access</h1>" in page
        assert "Developer tools" in page
        assert developer_tools.description in page
        role = m.ResourceRole.objects.filter(package_links__package=developer_tools).first()
        assert f"Member of the group {role.resource.display_name}" in page
        assert "Secret rotation" not in page  # rule 9: hidden
        assert str(nobody) not in page  # no policy lets them
        assert f'href="/myaccess/packages/{developer_tools.pk}/request/"' in page

    def test_search_narrows_the_list_and_htmx_gets_only_the_results(self, requestor, developer_tools, make_package):
        make_package(name="Finance reports")
        client = signed_in(requestor)
        page = content(client.get("/myaccess/", {"q": "finance"}))
        assert "Finance reports" in page
        assert "Developer tools" not in page
        partial = client.get("/myaccess/", {"q": "developer"}, HTTP_HX_REQUEST="true")
        assert "Developer tools" in content(partial)
        assert "<html" not in content(partial)
        assert "No access package you can request matches" in content(client.get("/myaccess/", {"q": "zzz"}))

    def test_shows_what_the_person_already_has_or_asked_for(self, requestor, developer_tools, make_package):
        requests.submit_request(requestor, developer_tools.pk, justification="Release work")
        granted = make_package(name="Wiki")
        requests.submit_request(requestor, granted.pk)
        page = content(signed_in(requestor).get("/myaccess/"))
        assert "Requested" in page
        assert "You have access" in page

    def test_anonymous_is_sent_to_sign_in(self, client):
        response = client.get("/myaccess/")
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=/myaccess/")


# --- The package's direct link ----------------------------------------------------------


class TestDirectLink:
    def test_hidden_package_opens_from_its_link_for_an_allowed_person(self, requestor, make_package, approver):
        package = make_package(name="Production on-call", approvers=[approver])
        package.is_hidden = True
        package.save()
        response = signed_in(requestor).get(f"/myaccess/packages/{package.pk}/")
        assert response.status_code == 200
        page = content(response)
        assert "Production on-call" in page
        assert "Approval by " in page
        assert str(approver) in page
        assert "Access for 30 days." in page
        assert f'href="/myaccess/packages/{package.pk}/request/"' in page

    @pytest.mark.parametrize("suffix", ["", "request/"])
    def test_outsider_gets_404(self, outsider, make_package, suffix):
        package = make_package(name="Engineering only", allowed_target_scope=m.TargetScope.SPECIFIC_USERS)
        before = everything()
        assert signed_in(outsider).get(f"/myaccess/packages/{package.pk}/{suffix}").status_code == 404
        assert signed_in(outsider).post(f"/myaccess/packages/{package.pk}/{suffix}").status_code in {404, 405}
        assert everything() == before

    def test_unknown_package_is_404(self, requestor):
        assert signed_in(requestor).get(f"/myaccess/packages/{f.AccessPackageFactory.build().pk}/").status_code == 404

    def test_anonymous_signs_in_first_and_comes_back(self, client, developer_tools, requestor):
        response = client.get(f"/myaccess/packages/{developer_tools.pk}/")
        assert response.status_code == 302
        assert response["Location"] == f"/accounts/login/?next=/myaccess/packages/{developer_tools.pk}/"
        signed = client.post(
            "/accounts/login/",
            {"username": "requestor", "password": "pw", "next": f"/myaccess/packages/{developer_tools.pk}/"},
        )
        assert signed["Location"] == f"/myaccess/packages/{developer_tools.pk}/"

    def test_disabled_policy_makes_the_link_404(self, requestor, developer_tools):
        developer_tools.policies.update(enabled=False)
        assert signed_in(requestor).get(f"/myaccess/packages/{developer_tools.pk}/").status_code == 404


# --- Request: the form ------------------------------------------------------------------


def form_url(package: m.AccessPackage) -> str:
    return f"/myaccess/packages/{package.pk}/request/"


class TestRequestForm:
    def test_form_has_the_seed_words_and_labels(self, requestor, developer_tools):
        page = content(signed_in(requestor).get(form_url(developer_tools)))
        assert '<label for="id_justification">Business justification (required)</label>' in page
        assert "<legend>Request for specific period?</legend>" in page
        assert '<label for="id_start">Start</label>' in page
        assert '<label for="id_end">End</label>' in page
        assert '<label for="id_specific_period_0">No</label>' in page
        assert ">Submit</button>" in page
        assert 'name="policy"' not in page  # one policy: chosen silently (rule 11)

    def test_submit_with_justification_and_period_shows_what_happens_next(self, requestor, approver, developer_tools):
        end = timezone.now() + timedelta(days=30)
        response = signed_in(requestor).post(
            form_url(developer_tools),
            {"justification": "Release 4.2", "specific_period": "yes", "start": "", "end": local_input(end)},
            follow=True,
        )
        request = m.AssignmentRequest.objects.get(target=requestor, package=developer_tools)
        assert response.redirect_chain[-1][0] == f"/myaccess/requests/{request.pk}/?submitted=1"
        page = content(response)
        assert "Your request for Developer tools was submitted." in page
        assert "Request submitted: what happens next" in page
        assert f"Waiting for approval by <strong>{approver}</strong>" in page
        assert request.state == m.RequestState.PENDING_APPROVAL
        assert request.justification == "Release 4.2"
        assert abs(request.schedule_end - end) < timedelta(minutes=1)
        assert m.OutboundEmail.objects.filter(kind="approval_needed", recipient=approver).exists()

    def test_without_approval_it_is_delivering(self, requestor, make_package):
        package = make_package(name="Wiki")
        response = signed_in(requestor).post(form_url(package), {}, follow=True)
        assert "access is being delivered now" in content(response)
        assert m.AssignmentRequest.objects.get(target=requestor).state == m.RequestState.DELIVERING

    def test_justification_required_error_is_next_to_the_field(self, requestor, developer_tools):
        before = everything()
        response = signed_in(requestor).post(form_url(developer_tools), {"justification": "  "})
        assert response.status_code == 200
        assert '<p class="error" id="id_justification_error">A business justification is required.</p>' in content(
            response
        )
        assert everything() == before

    def test_period_longer_than_the_policy_allows_is_refused_at_the_end_field(self, requestor, developer_tools):
        before = everything()
        too_late = timezone.now() + timedelta(days=400)
        response = signed_in(requestor).post(
            form_url(developer_tools),
            {"justification": "x", "specific_period": "yes", "end": local_input(too_late)},
        )
        assert response.status_code == 200
        assert 'id="id_end_error">This policy grants access for 180 days: the end can be' in content(response)
        assert everything() == before

    def test_start_in_the_past_is_refused_at_the_start_field(self, requestor, developer_tools):
        before = everything()
        response = signed_in(requestor).post(
            form_url(developer_tools),
            {"justification": "x", "specific_period": "yes", "start": local_input(timezone.now() - timedelta(days=5))},
        )
        assert 'id="id_start_error">The start cannot be in the past.' in content(response)
        assert everything() == before

    def test_end_before_start_is_refused(self, requestor, developer_tools):
        start = timezone.now() + timedelta(days=5)
        response = signed_in(requestor).post(
            form_url(developer_tools),
            {
                "justification": "x",
                "specific_period": "yes",
                "start": local_input(start),
                "end": local_input(start - timedelta(days=1)),
            },
        )
        assert 'id="id_end_error">The end must be after the start.' in content(response)

    def test_yes_without_dates_asks_for_them(self, requestor, developer_tools):
        before = everything()
        response = signed_in(requestor).post(
            form_url(developer_tools), {"justification": "x", "specific_period": "yes"}
        )
        assert 'id="id_start_error">Enter a start, an end, or both; or answer No.' in content(response)
        assert everything() == before

    def test_answering_no_ignores_the_dates(self, requestor, developer_tools):
        signed_in(requestor).post(
            form_url(developer_tools),
            {"justification": "x", "specific_period": "no", "end": local_input(timezone.now() + timedelta(days=900))},
        )
        request = m.AssignmentRequest.objects.get(target=requestor)
        assert request.schedule_end is None

    def test_future_start_is_scheduled_after_approval(self, requestor, make_package):
        package = make_package(name="Later", allow_custom_schedule=True)
        start = timezone.now() + timedelta(days=3)
        response = signed_in(requestor).post(
            form_url(package), {"specific_period": "yes", "start": local_input(start)}, follow=True
        )
        assert "Access starts on" in content(response)
        assert m.AssignmentRequest.objects.get(target=requestor).state == m.RequestState.SCHEDULED

    def test_bad_dates_are_form_errors_not_500(self, requestor, developer_tools):
        response = signed_in(requestor).post(
            form_url(developer_tools), {"justification": "x", "specific_period": "yes", "start": "yesterday-ish"}
        )
        assert response.status_code == 200
        assert "Enter a valid date/time." in content(response)


class TestSeveralPolicies:
    """Rule 11: several policies apply → the requestor chooses, each one explained."""

    @pytest.fixture
    def two_policies(self, make_package, approver):
        package = make_package(name="Data lake", approvers=[approver], expiration_days=60)
        f.PolicyFactory(
            package=package,
            display_name="Short and quick",
            allowed_target_scope=m.TargetScope.ALL_MEMBERS,
            expiration_type=m.ExpirationType.AFTER_DAYS,
            expiration_days=2,
        )
        return package

    def test_each_policy_is_explained(self, requestor, approver, two_policies):
        page = content(signed_in(requestor).get(form_url(two_policies)))
        assert page.count('name="policy"') == 2
        assert "<legend>Policy</legend>" in page
        assert f"Approval by {approver}." in page
        assert "Access for 60 days." in page
        assert "No approval needed: access is delivered as soon as you submit." in page
        assert "Access for 2 days." in page

    def test_submitting_without_choosing_is_refused(self, requestor, two_policies):
        before = everything()
        response = signed_in(requestor).post(form_url(two_policies), {})
        assert response.status_code == 200
        assert "Choose one of the policies." in content(response)
        assert "This field is required." not in content(response)
        assert everything() == before

    def test_the_chosen_policy_is_used(self, requestor, two_policies):
        quick = two_policies.policies.get(display_name="Short and quick")
        signed_in(requestor).post(form_url(two_policies), {"policy": str(quick.pk)})
        request = m.AssignmentRequest.objects.get(target=requestor)
        assert request.policy == quick
        assert request.state == m.RequestState.DELIVERING

    def test_a_policy_of_another_package_is_refused(self, requestor, two_policies, make_package):
        foreign = make_package(name="Other").policies.get()
        before = everything()
        response = signed_in(requestor).post(form_url(two_policies), {"policy": str(foreign.pk)})
        assert "Select a valid choice." in content(response)
        assert everything() == before


class TestDuplicates:
    """Rule 12: a clear message with a link to what already exists."""

    def test_an_open_request_is_linked(self, requestor, developer_tools):
        existing = requests.submit_request(requestor, developer_tools.pk, justification="first")
        before = everything()
        client = signed_in(requestor)
        page = content(client.get(form_url(developer_tools)))
        assert "You already have an open request for Developer tools (Pending approval)." in page
        assert f'href="/myaccess/requests/{existing.pk}/"' in page
        assert ">Submit</button>" not in page
        response = client.post(form_url(developer_tools), {"justification": "second"})
        assert response.status_code == 200
        assert f'href="/myaccess/requests/{existing.pk}/"' in content(response)
        assert everything() == before

    def test_an_active_assignment_is_linked(self, requestor, make_package):
        package = make_package(name="Wiki")
        made = requests.submit_request(requestor, package.pk)
        page = content(signed_in(requestor).get(f"/myaccess/packages/{package.pk}/"))
        assert "You already have access to Wiki" in page
        assert f'href="/myaccess/access/{made.assignment_id}/"' in page

    def test_a_race_lost_at_submit_shows_the_message(self, requestor, developer_tools, monkeypatch):
        """The check on the page passed, then another tab submitted first."""
        from myaccess.views import catalog

        monkeypatch.setattr(catalog, "_existing", lambda user, package: None)
        first = requests.submit_request(requestor, developer_tools.pk, justification="tab one")
        before = everything()
        response = signed_in(requestor).post(form_url(developer_tools), {"justification": "tab two"})
        assert response.status_code == 200
        assert f'href="/myaccess/requests/{first.pk}/"' in content(response)
        assert everything() == before
