"""Rule 16 at the "request is approved" stage: a custom extension that waits for an answer
pauses an approved request before delivery ("Waiting for <extension>", approved and not
delivering: scheduled) until a signed resume continues or denies it, or its deadline makes
the policy's choice. As in Entra, only "request is created" and "request is approved" can
wait: the assignment's stages are fire-and-forget, and the extension form, the policy form
and the API refuse a waiting extension there with a clear message. A local HTTP receiver
checks every signature; the answer comes late, never, after a 500, or forged (refused)."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from governance import models as m
from governance.connectors.webhook import sign
from governance.errors import ValidationFailed
from governance.services import approvals, assignments, extensions, policies, requests
from tests import factories as f
from tests.myaccess.conftest import content, signed_in
from tests.sod.test_custom_extensions import add_extension, state_of, use
from tests.targets import WEBHOOK_SECRET, Receiver

pytestmark = pytest.mark.django_db

APPROVED = m.ExtensionStage.REQUEST_APPROVED


def resume(call: m.ExtensionCall, state: str | None = None, *, secret: str = WEBHOOK_SECRET, token: str | None = None):
    data = {
        "@odata.type": "microsoft.graph.accessPackageAssignmentRequestCallbackData",
        "stage": "assignmentRequestApproved",
        "customExtensionStageInstanceId": str(call.pk),
        "customExtensionStageInstanceDetail": "Ticket CHG-1042 closed",
    }
    if state:
        data["state"] = state
    body = json.dumps({"source": "Contoso.Ticketing", "data": data}).encode()
    return Client().post(
        f"/v1.0/identityGovernance/entitlementManagement/assignmentRequests/{call.request_id}/resume",
        body,
        content_type="application/json",
        HTTP_X_PORTCULLIS_SIGNATURE=sign(secret, int(time.time()), body),
        HTTP_X_PORTCULLIS_RESUME_TOKEN=extensions.resume_token(call) if token is None else token,
    )


@pytest.fixture
def payroll(admin, approver, catalog, make_package, webhook_receiver: Receiver) -> m.AccessPackage:
    package = make_package(name="Payroll", approvers=[approver])
    use(admin, package, add_extension(admin, catalog, webhook_receiver, stage=APPROVED, name="Ticketing"))
    return package


@pytest.fixture
def paused(payroll, requestor, approver) -> m.AssignmentRequest:
    """Approved by the approver, then paused for "Ticketing", whose event the receiver has."""
    made = requests.submit_request(requestor, payroll.pk)
    assert not m.ExtensionCall.objects.exists()  # nothing runs before the approval
    approvals.decide(approver, made.pk, m.Decision.APPROVE)
    assert extensions.send_due_calls() == 1
    made.refresh_from_db()
    return made


def call_of(request: m.AssignmentRequest) -> m.ExtensionCall:
    return m.ExtensionCall.objects.get(request=request, stage=APPROVED)


class TestPausedBeforeDelivery:
    def test_an_approved_request_waits_and_the_receiver_gets_a_signed_event(
        self, paused, approver, webhook_receiver
    ) -> None:
        assert paused.state == m.RequestState.SCHEDULED
        assert paused.assignment_id is None  # nothing delivered
        assert extensions.waiting_label(paused) == "Waiting for Ticketing"
        [event] = webhook_receiver.events
        assert webhook_receiver.rejected_signatures == 0
        assert event["type"] == "microsoft.graph.accessPackageCustomExtensionStage.assignmentRequestApproved"
        assert event["data"]["callbackUri"].endswith(f"/assignmentRequests/{paused.pk}/resume")
        assert event["data"]["resumeToken"] == extensions.resume_token(call_of(paused))
        assert call_of(paused).state == m.CallState.WAITING
        # Audited; the requestor is told it was approved; approvers are done with it.
        audit = m.AuditEvent.objects.get(action="request.await_extension", object_id=str(paused.pk))
        assert audit.data["extensions"] == ["Ticketing"]
        assert m.OutboundEmail.objects.filter(kind="request_approved", request=paused).count() == 1
        assert not m.AssignmentRequest.objects.awaiting_decision_by(approver).exists()
        assert approvals.time_out_due_requests(timezone.now() + timedelta(days=30)) == 0
        assert state_of(paused) == m.RequestState.SCHEDULED

    def test_a_signed_resume_delivers_it(self, paused, deliver) -> None:
        call = call_of(paused)
        assert resume(call).status_code == 204
        deliver()
        assert state_of(paused) == m.RequestState.DELIVERED
        assert paused.assignment.state == m.AssignmentState.DELIVERED
        call.refresh_from_db()
        assert (call.state, call.answer_detail) == (m.CallState.CONTINUED, "Ticket CHG-1042 closed")
        assert m.AuditEvent.objects.filter(action="request.extension_continued", object_id=str(paused.pk)).exists()
        assert m.AuditEvent.objects.filter(action="extension.resumed", object_id=str(paused.pk)).exists()
        assert resume(call).status_code == 409  # one-time
        # The requestor was told "approved" once, not again when it went on.
        assert m.OutboundEmail.objects.filter(kind="request_approved", request=paused).count() == 1

    def test_the_requestors_history_says_what_it_waited_for_in_their_language(self, paused, requestor, deliver) -> None:
        assert resume(call_of(paused)).status_code == 204
        deliver()
        page = content(signed_in(requestor).get(f"/myaccess/requests/{paused.pk}/"))
        for step in ("Waiting for Ticketing", "Ticketing answered: the request goes on", "Delivered"):
            assert f"<strong>{step}</strong>" in page
        assert "Await extension" not in page
        assert "Extension continued" not in page
        requestor.preferred_language = "de"
        requestor.save(update_fields=["preferred_language"])
        german = content(signed_in(requestor).get(f"/myaccess/requests/{paused.pk}/"))
        for step in ("Wartet auf Ticketing", "Ticketing hat geantwortet: Der Antrag geht weiter", "Bereitgestellt"):
            assert f"<strong>{step}</strong>" in german

    def test_a_late_answer_within_the_deadline_is_taken(self, paused, deliver) -> None:
        with time_machine.travel(timezone.now() + timedelta(minutes=29)):
            assert extensions.time_out_calls() == 0
            assert resume(call_of(paused)).status_code == 204
            deliver()
        assert state_of(paused) == m.RequestState.DELIVERED

    def test_a_resume_that_denies_ends_it_without_access(self, paused, deliver) -> None:
        assert resume(call_of(paused), "denied").status_code == 204
        deliver()
        assert state_of(paused) == m.RequestState.DENIED
        assert paused.assignment_id is None
        assert paused.cancel_reason == "Denied by Ticketing: Ticket CHG-1042 closed"
        assert m.AuditEvent.objects.filter(action="request.deny_by_extension", object_id=str(paused.pk)).exists()

    @pytest.mark.parametrize("forgery", ["secret", "token"])
    def test_a_forged_resume_is_refused(self, paused, forgery) -> None:
        call = call_of(paused)
        answer = resume(call, secret="guessed") if forgery == "secret" else resume(call, token="0" * 64)
        assert answer.status_code == 403, answer.content
        assert state_of(paused) == m.RequestState.SCHEDULED
        assert call_of(paused).state == m.CallState.WAITING
        assert m.AuditEvent.objects.filter(action="extension.resume_refused", object_id=str(paused.pk)).exists()

    def test_no_answer_times_out_and_continues(self, paused, deliver) -> None:
        assert extensions.time_out_calls(timezone.now() + timedelta(minutes=31)) == 1
        deliver()
        assert state_of(paused) == m.RequestState.DELIVERED
        call = call_of(paused)
        assert call.state == m.CallState.TIMED_OUT
        assert list(call.attempts_log.values_list("outcome", "message"))[-1] == ("timed out", "continued")
        assert resume(call).status_code == 409  # too late: it went on without the answer

    def test_no_answer_fails_it_when_the_policy_says_so(self, admin, payroll, requestor, approver, deliver) -> None:
        use(admin, payroll, m.CustomExtension.objects.get(), on_timeout=m.TimeoutAction.FAIL)
        made = requests.submit_request(requestor, payroll.pk)
        approvals.decide(approver, made.pk, m.Decision.APPROVE)
        extensions.send_due_calls()
        extensions.time_out_calls(timezone.now() + timedelta(hours=1))
        deliver()
        assert state_of(made) == m.RequestState.DENIED
        assert made.cancel_reason == "Ticketing did not answer in time."
        assert made.assignment_id is None

    def test_a_500_is_retried_and_the_request_keeps_waiting(
        self, payroll, requestor, approver, webhook_receiver, deliver
    ) -> None:
        webhook_receiver.fail_next, webhook_receiver.fail_status = 1, 500
        made = requests.submit_request(requestor, payroll.pk)
        approvals.decide(approver, made.pk, m.Decision.APPROVE)
        assert extensions.send_due_calls() == 0
        assert state_of(made) == m.RequestState.SCHEDULED
        assert extensions.send_due_calls(timezone.now() + timedelta(minutes=5)) == 1
        call = call_of(made)
        assert list(call.attempts_log.values_list("outcome", "status_code")) == [("retrying", 500), ("delivered", 200)]
        assert resume(call).status_code == 204
        deliver()
        assert state_of(made) == m.RequestState.DELIVERED

    def test_an_endpoint_that_keeps_failing_never_blocks_it(
        self, payroll, requestor, approver, webhook_receiver, deliver
    ) -> None:
        webhook_receiver.fail_next, webhook_receiver.fail_status = 99, 500
        made = requests.submit_request(requestor, payroll.pk)
        approvals.decide(approver, made.pk, m.Decision.APPROVE)
        later = timezone.now()
        for _ in range(extensions.MAX_CALL_ATTEMPTS):
            later += timedelta(hours=3)
            extensions.send_due_calls(later)
        deliver()
        assert call_of(made).state == m.CallState.FAILED
        assert state_of(made) == m.RequestState.DELIVERED  # continued, as the policy says

    def test_a_later_start_stays_scheduled_and_the_start_waits_for_the_answer(
        self, paused, payroll, requestor, approver, deliver
    ) -> None:
        # Another request, for a start in two days; the start comes before the answer.
        m.AssignmentPolicy.objects.filter(package=payroll).update(allow_custom_schedule=True)
        other = f.UserFactory(manager=approver)
        start = timezone.now() + timedelta(days=2)
        made = requests.submit_request(other, payroll.pk, start=start, end=start + timedelta(days=30))
        approvals.decide(approver, made.pk, m.Decision.APPROVE)
        extensions.send_due_calls()
        with time_machine.travel(start + timedelta(minutes=1), tick=False):
            assert assignments.start_due_requests() == 0  # still waiting for Ticketing
            assert state_of(made) == m.RequestState.SCHEDULED
        # Answered before the start: it stays scheduled, and the start delivers it.
        assert resume(call_of(made)).status_code == 204
        assert state_of(made) == m.RequestState.SCHEDULED
        with time_machine.travel(start + timedelta(minutes=1), tick=False):
            assert assignments.start_due_requests() == 1
            deliver()
        assert state_of(made) == m.RequestState.DELIVERED

    def test_a_direct_assignment_waits_too(self, admin, payroll, deliver) -> None:
        direct = f.PolicyFactory(package=payroll, allowed_target_scope=m.TargetScope.NO_ONE)
        m.PolicyExtension.objects.create(policy=direct, extension=m.CustomExtension.objects.get())
        person = f.UserFactory()
        [made] = assignments.create_direct_assignments(admin, payroll.pk, policy_id=direct.pk, target_ids=[person.pk])
        assert state_of(made) == m.RequestState.SCHEDULED
        extensions.send_due_calls()
        assert resume(call_of(made)).status_code == 204
        deliver()
        assert state_of(made) == m.RequestState.DELIVERED

    def test_request_pages_show_the_waiting_state_and_the_calls(self, admin, requestor, paused) -> None:
        admin_page = content(signed_in(admin).get(f"/governance/requests/{paused.pk}/"))
        assert "Waiting for Ticketing" in admin_page
        assert "Request is approved" in admin_page
        assert "HTTP 200 OK" in admin_page
        mine = content(signed_in(requestor).get(f"/myaccess/requests/{paused.pk}/"))
        assert "Approved. Waiting for Ticketing: access is delivered once it answers." in mine
        assert "Access starts on" not in mine


class TestOnlyRequestStagesWait:
    @pytest.mark.parametrize(
        "stage",
        [m.ExtensionStage.ASSIGNMENT_GRANTED, m.ExtensionStage.REMOVAL_SCHEDULED, m.ExtensionStage.ASSIGNMENT_REMOVED],
    )
    def test_an_extension_at_an_assignment_stage_cannot_wait(self, admin, catalog, webhook_receiver, stage) -> None:
        with pytest.raises(ValidationFailed, match=r"the assignment's stages .* are fire-and-forget"):
            add_extension(admin, catalog, webhook_receiver, stage=stage)
        assert not m.CustomExtension.objects.exists()

    def test_the_portal_form_says_why(self, admin, catalog, webhook_receiver) -> None:
        response = signed_in(admin).post(
            f"/governance/catalogs/{catalog.pk}/extensions/add/",
            {
                "display_name": "Welcome",
                "endpoint_url": webhook_receiver.url,
                "secret": WEBHOOK_SECRET,
                "stage": m.ExtensionStage.ASSIGNMENT_GRANTED,
                "mode": m.ExtensionMode.WAIT,
                "timeout_minutes": "15",
            },
        )
        assert response.status_code == 200
        assert "Only an extension run when the request is created or approved can wait" in content(response)
        assert not m.CustomExtension.objects.exists()

    def test_the_policy_form_refuses_a_waiting_extension_where_nothing_can_wait(
        self, admin, catalog, make_package, webhook_receiver
    ) -> None:
        # A row made before this rule (or by hand): the policy still cannot use it.
        stray = m.CustomExtension.objects.create(
            catalog=catalog, display_name="Welcome", endpoint_url=webhook_receiver.url,
            stage=m.ExtensionStage.ASSIGNMENT_GRANTED, mode=m.ExtensionMode.WAIT,
        )  # fmt: skip
        package = make_package(name="Payroll")
        policy = package.policies.get()
        response = signed_in(admin).post(
            f"/governance/packages/{package.pk}/policies/{policy.pk}/",
            {
                "display_name": "Staff",
                "allowed_target_scope": m.TargetScope.ALL_MEMBERS,
                "expiration_type": m.ExpirationType.AFTER_DAYS,
                "expiration_days": "30",
                "enabled": "on",
                "extensions": [str(stray.pk)],
                "extension_on_timeout": m.TimeoutAction.CONTINUE,
            },
        )
        page = content(response)
        assert response.status_code == 200
        assert "Welcome waits for an answer, so it cannot run at" in page
        assert not m.PolicyExtension.objects.exists()

    def test_the_api_takes_custom_extension_stage_settings_at_the_stages_that_wait(
        self, admin, admin_api, catalog, make_package, webhook_receiver
    ) -> None:
        created = add_extension(admin, catalog, webhook_receiver, name="SoD check")
        approved = add_extension(admin, catalog, webhook_receiver, stage=APPROVED, name="Ticketing")
        policy = make_package(name="Payroll").policies.get()
        answer = admin_api.patch(
            f"assignmentPolicies/{policy.pk}",
            {
                "customExtensionStageSettings": [
                    {
                        "stage": "assignmentRequestCreated",
                        "customExtension": {
                            "@odata.type": "#microsoft.graph.accessPackageAssignmentRequestWorkflowExtension",
                            "id": str(created.pk),
                        },
                    },
                    {"stage": "assignmentRequestApproved", "customExtension": {"id": str(approved.pk)}},
                ]
            },
        )
        assert answer.status in (200, 204), answer.body
        assert set(m.PolicyExtension.objects.values_list("extension_id", flat=True)) == {created.pk, approved.pk}
        read = admin_api.get(f"assignmentPolicies/{policy.pk}").body["customExtensionStageSettings"]
        assert [(s["stage"], s["customExtension"]["id"]) for s in read] == [
            ("assignmentRequestCreated", str(created.pk)),
            ("assignmentRequestApproved", str(approved.pk)),
        ]

    def test_a_stage_graph_has_not_is_never_shown_and_kept_by_a_patch(
        self, admin, admin_api, catalog, make_package, webhook_receiver
    ) -> None:
        scheduled = add_extension(
            admin, catalog, webhook_receiver, mode=m.ExtensionMode.FIRE_AND_FORGET,
            stage=m.ExtensionStage.REMOVAL_SCHEDULED, name="Offboarding",
        )  # fmt: skip
        approved = add_extension(admin, catalog, webhook_receiver, stage=APPROVED, name="Ticketing")
        package = make_package(name="Payroll")
        use(admin, package, scheduled)
        policy = package.policies.get()
        assert admin_api.get(f"assignmentPolicies/{policy.pk}").body["customExtensionStageSettings"] == []
        settings = [{"stage": "assignmentRequestApproved", "customExtension": {"id": str(approved.pk)}}]
        assert admin_api.patch(
            f"assignmentPolicies/{policy.pk}", {"customExtensionStageSettings": settings}
        ).status in (
            200,
            204,
        )
        assert set(m.PolicyExtension.objects.values_list("extension_id", flat=True)) == {scheduled.pk, approved.pk}

    def test_the_api_refuses_a_waiting_extension_at_a_stage_that_cannot_wait(
        self, admin, admin_api, catalog, make_package, webhook_receiver
    ) -> None:
        approved = add_extension(admin, catalog, webhook_receiver, stage=APPROVED, name="Ticketing")
        policy = make_package(name="Payroll").policies.get()
        settings = [{"stage": "assignmentRequestGranted", "customExtension": {"id": str(approved.pk)}}]
        answer = admin_api.patch(f"assignmentPolicies/{policy.pk}", {"customExtensionStageSettings": settings})
        assert answer.status == 400
        message = answer.body["error"]["message"]
        assert 'Ticketing waits for an answer, so it cannot run at "Assignment is granted"' in message
        assert "the assignment's stages (granted, removal scheduled, removed) are fire-and-forget" in message
        assert not m.PolicyExtension.objects.exists()

    def test_the_api_refuses_a_stage_that_is_not_the_extensions(
        self, admin, admin_api, catalog, make_package, webhook_receiver
    ) -> None:
        approved = add_extension(admin, catalog, webhook_receiver, stage=APPROVED, name="Ticketing")
        policy = make_package(name="Payroll").policies.get()
        settings = [{"stage": "assignmentRequestCreated", "customExtension": {"id": str(approved.pk)}}]
        answer = admin_api.patch(f"assignmentPolicies/{policy.pk}", {"customExtensionStageSettings": settings})
        assert answer.status == 400
        assert "Ticketing runs when request is approved" in answer.body["error"]["message"]
        bad = [{"stage": "sometime", "customExtension": {"id": str(approved.pk)}}]
        assert admin_api.patch(f"assignmentPolicies/{policy.pk}", {"customExtensionStageSettings": bad}).status == 400

    def test_the_service_refuses_it_too(self, admin, catalog, make_package, webhook_receiver) -> None:
        approved = add_extension(admin, catalog, webhook_receiver, stage=APPROVED, name="Ticketing")
        package = make_package(name="Payroll")
        spec = policies.spec_of(package.policies.get())
        spec.extension_ids = [approved.pk]
        spec.extension_stages = {str(approved.pk): m.ExtensionStage.ASSIGNMENT_REMOVED}
        with pytest.raises(ValidationFailed, match='cannot run at "Assignment is removed"'):
            policies.save_policy(admin, package.pk, spec, policy_id=package.policies.get().pk)
