"""Rule 16, custom extensions: a catalog's signed webhooks called at a request's stages.
A local HTTP receiver checks every signature; it answers at once, late, never, or with 500,
and a forged resume is refused. Every call is recorded on the request like a delivery
attempt, and a failure or a timeout never blocks a request silently: the policy says
whether it continues or fails."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from governance import models as m
from governance.connectors.webhook import sign
from governance.errors import ValidationFailed
from governance.services import extensions, policies, requests
from tests import factories as f
from tests.myaccess.conftest import content, signed_in
from tests.targets import WEBHOOK_SECRET, Receiver

pytestmark = pytest.mark.django_db

CREATED = m.ExtensionStage.REQUEST_CREATED


def add_extension(admin, catalog, receiver: Receiver, *, mode=m.ExtensionMode.WAIT, stage=CREATED, name="SoD check"):
    return extensions.save_extension(
        admin,
        catalog.pk,
        display_name=name,
        endpoint_url=receiver.url,
        secret=WEBHOOK_SECRET,
        stage=stage,
        mode=mode,
        timeout_minutes=30,
    )


def use(admin, package, *chosen, on_timeout=m.TimeoutAction.CONTINUE) -> None:
    policy = package.policies.get()
    spec = policies.spec_of(policy)
    spec.extension_ids = [e.pk for e in chosen]
    spec.extension_on_timeout = on_timeout
    policies.save_policy(admin, package.pk, spec, policy_id=policy.pk)


def resume_body(call: m.ExtensionCall, state: str | None = None) -> bytes:
    data = {
        "@odata.type": "microsoft.graph.accessPackageAssignmentRequestCallbackData",
        "stage": "assignmentRequestCreated",
        "customExtensionStageInstanceId": str(call.pk),
        "customExtensionStageInstanceDetail": "This user is all verified",
    }
    if state:
        data["state"] = state
    return json.dumps(
        {
            "source": "Contoso.SodCheckProcess",
            "type": "microsoft.graph.accessPackageCustomExtensionStage.assignmentRequestCreated",
            "data": data,
        }
    ).encode()


def post_resume(call, body: bytes, *, secret: str = WEBHOOK_SECRET, token: str | None = None):
    url = f"/v1.0/identityGovernance/entitlementManagement/assignmentRequests/{call.request_id}/resume"
    return Client().post(
        url,
        body,
        content_type="application/json",
        HTTP_X_PORTCULLIS_SIGNATURE=sign(secret, int(time.time()), body),
        HTTP_X_PORTCULLIS_RESUME_TOKEN=extensions.resume_token(call) if token is None else token,
    )


@pytest.fixture
def waiting(admin, requestor, approver, catalog, make_package, webhook_receiver):
    """A request paused for "SoD check", whose event the receiver has."""
    package = make_package(name="Payroll", approvers=[approver])
    use(admin, package, add_extension(admin, catalog, webhook_receiver))
    made = requests.submit_request(requestor, package.pk)
    assert extensions.send_due_calls() == 1
    return made


def state_of(request: m.AssignmentRequest) -> str:
    request.refresh_from_db()
    return request.state


class TestWaitForAnAnswer:
    def test_the_request_pauses_and_the_receiver_gets_a_signed_event(self, waiting, webhook_receiver) -> None:
        assert waiting.state == m.RequestState.SUBMITTED
        assert extensions.waiting_label(waiting) == "Waiting for SoD check"
        [event] = webhook_receiver.events
        assert webhook_receiver.rejected_signatures == 0
        data = event["data"]
        assert data["stage"] == "assignmentRequestCreated"
        assert data["assignmentRequest"]["id"] == str(waiting.pk)
        assert data["callbackUri"].endswith(f"/assignmentRequests/{waiting.pk}/resume")
        call = m.ExtensionCall.objects.get()
        assert (call.state, data["customExtensionStageInstanceId"]) == (m.CallState.WAITING, str(call.pk))
        assert data["resumeToken"] == extensions.resume_token(call)
        assert not m.OutboundEmail.objects.filter(kind="approval_needed").exists()  # not routed yet

    def test_a_signed_resume_continues_to_approval(self, waiting) -> None:
        call = m.ExtensionCall.objects.get()
        answer = post_resume(call, resume_body(call))
        assert answer.status_code == 204, answer.content
        assert state_of(waiting) == m.RequestState.PENDING_APPROVAL
        assert m.OutboundEmail.objects.filter(kind="approval_needed").exists()
        call.refresh_from_db()
        assert (call.state, call.answer_detail) == (m.CallState.CONTINUED, "This user is all verified")
        # One-time: the same resume again is refused and changes nothing.
        again = post_resume(call, resume_body(call))
        assert again.status_code == 409
        assert state_of(waiting) == m.RequestState.PENDING_APPROVAL

    def test_a_resume_that_denies_ends_the_request(self, waiting) -> None:
        call = m.ExtensionCall.objects.get()
        assert post_resume(call, resume_body(call, "denied")).status_code == 204
        assert state_of(waiting) == m.RequestState.DENIED
        assert "Denied by SoD check" in waiting.cancel_reason

    @pytest.mark.parametrize("forgery", ["secret", "token", "other request", "unsigned"])
    def test_a_forged_resume_is_refused(self, waiting, forgery) -> None:
        call = m.ExtensionCall.objects.get()
        body = resume_body(call)
        if forgery == "secret":
            answer = post_resume(call, body, secret="guessed")
        elif forgery == "token":
            answer = post_resume(call, body, token="0" * 64)
        elif forgery == "other request":
            other = f.RequestFactory(package=waiting.package)
            url = f"/v1.0/identityGovernance/entitlementManagement/assignmentRequests/{other.pk}/resume"
            answer = Client().post(url, body, content_type="application/json")
        else:
            url = f"/v1.0/identityGovernance/entitlementManagement/assignmentRequests/{waiting.pk}/resume"
            answer = Client().post(url, body, content_type="application/json")
        assert answer.status_code in {403, 404}, answer.content
        assert "error" in answer.json()
        assert state_of(waiting) == m.RequestState.SUBMITTED
        assert m.ExtensionCall.objects.get().state == m.CallState.WAITING

    def test_no_answer_times_out_and_continues(self, waiting) -> None:
        later = timezone.now() + timedelta(minutes=31)
        assert extensions.time_out_calls(later) == 1
        assert state_of(waiting) == m.RequestState.PENDING_APPROVAL
        call = m.ExtensionCall.objects.get()
        assert call.state == m.CallState.TIMED_OUT
        # The late answer is refused: the request went on without it.
        assert post_resume(call, resume_body(call, "denied")).status_code == 409
        assert state_of(waiting) == m.RequestState.PENDING_APPROVAL

    def test_no_answer_fails_the_request_when_the_policy_says_so(
        self, admin, requestor, catalog, make_package, webhook_receiver
    ) -> None:
        package = make_package(name="Payroll")
        use(admin, package, add_extension(admin, catalog, webhook_receiver), on_timeout=m.TimeoutAction.FAIL)
        made = requests.submit_request(requestor, package.pk)
        extensions.send_due_calls()
        extensions.time_out_calls(timezone.now() + timedelta(hours=1))
        assert state_of(made) == m.RequestState.DENIED
        assert made.cancel_reason == "SoD check did not answer in time."

    def test_a_500_is_retried_and_recorded_then_delivered(
        self, admin, requestor, catalog, make_package, webhook_receiver
    ):
        package = make_package(name="Payroll")
        use(admin, package, add_extension(admin, catalog, webhook_receiver))
        webhook_receiver.fail_next, webhook_receiver.fail_status = 1, 500
        made = requests.submit_request(requestor, package.pk)
        assert extensions.send_due_calls() == 0
        call = m.ExtensionCall.objects.get()
        assert call.state == m.CallState.PENDING
        assert extensions.send_due_calls() == 0  # backing off
        assert extensions.send_due_calls(timezone.now() + timedelta(minutes=5)) == 1
        outcomes = list(call.attempts_log.values_list("outcome", "status_code", "message"))
        assert outcomes == [
            ("retrying", 500, "HTTP 500 Internal Server Error"),
            ("delivered", 200, "HTTP 200 OK"),
        ]
        assert "receiver says no" not in str(outcomes)  # the remote body is never echoed
        assert state_of(made) == m.RequestState.SUBMITTED

    def test_an_endpoint_that_keeps_failing_never_blocks_the_request(
        self, admin, requestor, catalog, make_package, webhook_receiver
    ) -> None:
        package = make_package(name="Payroll")
        use(admin, package, add_extension(admin, catalog, webhook_receiver))
        webhook_receiver.fail_next, webhook_receiver.fail_status = 99, 500
        made = requests.submit_request(requestor, package.pk)
        later = timezone.now()
        for _ in range(extensions.MAX_CALL_ATTEMPTS):
            later += timedelta(hours=3)
            extensions.send_due_calls(later)
        call = m.ExtensionCall.objects.get()
        assert call.state == m.CallState.FAILED
        assert call.attempts_log.count() == extensions.MAX_CALL_ATTEMPTS
        assert state_of(made) == m.RequestState.DELIVERING  # continued (no approval), as the policy says


class TestFireAndForget:
    def test_granted_and_removed_stages_send_events_without_pausing(
        self, admin, requestor, catalog, make_package, webhook_receiver, deliver
    ) -> None:
        package = make_package(name="Wiki")
        granted = add_extension(
            admin, catalog, webhook_receiver, mode=m.ExtensionMode.FIRE_AND_FORGET,
            stage=m.ExtensionStage.ASSIGNMENT_GRANTED, name="Welcome",
        )  # fmt: skip
        removed = add_extension(
            admin, catalog, webhook_receiver, mode=m.ExtensionMode.FIRE_AND_FORGET,
            stage=m.ExtensionStage.ASSIGNMENT_REMOVED, name="Offboard",
        )  # fmt: skip
        use(admin, package, granted, removed)
        made = requests.submit_request(requestor, package.pk)
        deliver()
        assert state_of(made) == m.RequestState.DELIVERED
        assert extensions.send_due_calls() == 1
        made.refresh_from_db()
        requests.request_removal(requestor, made.assignment_id)
        deliver()
        assert extensions.send_due_calls() == 1
        stages = [e["data"]["stage"] for e in webhook_receiver.events]
        assert stages == ["assignmentRequestGranted", "assignmentRequestRemoved"]
        assert set(m.ExtensionCall.objects.values_list("state", flat=True)) == {m.CallState.SENT}


class TestCatalogExtensions:
    def test_secret_is_encrypted_and_write_only(self, admin, catalog, webhook_receiver) -> None:
        extension = add_extension(admin, catalog, webhook_receiver)
        assert WEBHOOK_SECRET not in extension.secret_encrypted
        page = content(signed_in(admin).get(f"/governance/catalogs/{catalog.pk}/extensions/{extension.pk}/"))
        assert WEBHOOK_SECRET not in page
        extensions.save_extension(
            admin, catalog.pk, extension_id=extension.pk, display_name="Renamed", endpoint_url=webhook_receiver.url,
            stage=CREATED, mode=m.ExtensionMode.WAIT,
        )  # fmt: skip
        extension.refresh_from_db()
        assert extension.display_name == "Renamed"
        assert extension.secret_encrypted  # kept

    @pytest.mark.parametrize(
        ("change", "message"),
        [
            ({"endpoint_url": "ftp://example.com/x"}, "https://"),
            ({"endpoint_url": "https://169.254.169.254/latest"}, "cannot be used"),
            ({"stage": m.ExtensionStage.ASSIGNMENT_GRANTED}, "Only an extension run when the request is created"),
            ({"secret": ""}, "signing secret"),
            ({"timeout_minutes": 0}, "Wait between"),
        ],
    )
    def test_bad_extensions_are_refused(self, admin, catalog, webhook_receiver, change, message) -> None:
        values = {
            "display_name": "X",
            "endpoint_url": webhook_receiver.url,
            "secret": "s",
            "stage": CREATED,
            "mode": m.ExtensionMode.WAIT,
            "timeout_minutes": 10,
            **change,
        }
        with pytest.raises(ValidationFailed, match=message):
            extensions.save_extension(admin, catalog.pk, **values)
        assert not m.CustomExtension.objects.exists()

    def test_portal_adds_an_extension_and_a_policy_chooses_it(self, admin, catalog, make_package, webhook_receiver):
        client = signed_in(admin)
        assert "Custom extensions (0)" in content(client.get(f"/governance/catalogs/{catalog.pk}/"))
        response = client.post(
            f"/governance/catalogs/{catalog.pk}/extensions/add/",
            {
                "display_name": "SoD check",
                "endpoint_url": webhook_receiver.url,
                "secret": WEBHOOK_SECRET,
                "stage": CREATED,
                "mode": m.ExtensionMode.WAIT,
                "timeout_minutes": "15",
            },
            follow=True,
        )
        assert "Custom extension SoD check added." in content(response)
        extension = m.CustomExtension.objects.get()
        package = make_package(name="Payroll")
        policy = package.policies.get()
        url = f"/governance/packages/{package.pk}/policies/{policy.pk}/"
        assert "SoD check (Request is created, wait for an answer)" in content(client.get(url))
        saved = client.post(
            url,
            {
                "display_name": "Staff",
                "allowed_target_scope": m.TargetScope.ALL_MEMBERS,
                "expiration_type": m.ExpirationType.AFTER_DAYS,
                "expiration_days": "30",
                "enabled": "on",
                "extensions": [str(extension.pk)],
                "extension_on_timeout": m.TimeoutAction.FAIL,
            },
        )
        assert saved.status_code == 302, content(saved)
        link = m.PolicyExtension.objects.get()
        assert (link.policy_id, link.on_timeout) == (policy.pk, m.TimeoutAction.FAIL)

    def test_request_pages_show_waiting_and_every_call(self, admin, requestor, waiting) -> None:
        admin_page = content(signed_in(admin).get(f"/governance/requests/{waiting.pk}/"))
        assert "Waiting for SoD check" in admin_page
        assert "HTTP 200 OK" in admin_page
        mine = content(signed_in(requestor).get(f"/myaccess/requests/{waiting.pk}/"))
        assert "Waiting for SoD check" in mine
        assert "Waiting for SoD check: the request goes on once it answers." in mine
        assert "access is being delivered now" not in mine

    def test_readers_cannot_manage_extensions(self, catalog_reader, catalog) -> None:
        client = signed_in(catalog_reader)
        page = content(client.get(f"/governance/catalogs/{catalog.pk}/extensions/"))
        assert "Add custom extension" not in page
        answer = client.post(f"/governance/catalogs/{catalog.pk}/extensions/add/", {"display_name": "x"})
        assert answer.status_code == 404
