"""A personal token acts exactly as its user: requests, cancels, approvals (rule 4)."""

from __future__ import annotations

import pytest

from governance import models as m
from tests import factories as f
from tests.api.conftest import Api, ApiMaker
from tests.conftest import PackageMaker, snapshot

pytestmark = pytest.mark.django_db


@pytest.fixture
def package(make_package: PackageMaker, approver: m.User) -> m.AccessPackage:
    return make_package(approvers=[approver], name="Developer tools", requestor_justification_required=True)


def _ask(api: Api, package: m.AccessPackage, justification: str = "Need it") -> dict:
    answer = api.post(
        "assignmentRequests",
        {"requestType": "userAdd", "assignment": {"accessPackageId": str(package.pk)}, "justification": justification},
    )
    assert answer.status == 201, answer.body
    return answer.body


def test_request_then_cancel_own_request(api_as: ApiMaker, requestor: m.User, package: m.AccessPackage) -> None:
    mine = api_as(user=requestor)
    made = _ask(mine, package)
    assert made["requestType"] == "userAdd"
    assert made["state"] == "pendingApproval"
    assert made["assignment"]["targetId"] == str(requestor.pk)
    request = m.AssignmentRequest.objects.get(pk=made["id"])
    assert request.requestor == requestor
    assert request.requestor_label == f"api:{m.ApiClient.objects.get(user=requestor).name} as requestor"

    listed = mine.get("assignmentRequests/filterByCurrentUser(on='target')")
    assert [r["id"] for r in listed.body["value"]] == [made["id"]]
    assert mine.post(f"assignmentRequests/{made['id']}/cancel").status == 200
    assert m.AssignmentRequest.objects.get(pk=made["id"]).state == m.RequestState.CANCELED


def test_missing_justification_is_a_400_and_writes_nothing(
    api_as: ApiMaker, requestor: m.User, package: m.AccessPackage
) -> None:
    mine = api_as(user=requestor)
    before = snapshot()
    answer = mine.post(
        "assignmentRequests", {"requestType": "userAdd", "assignment": {"accessPackageId": str(package.pk)}}
    )
    assert answer.status == 400
    inner = answer.error.pop("innerError")
    assert answer.error == {
        "code": "invalidRequest",
        "message": "A business justification is required.",
        "target": "justification",
    }
    assert inner["request-id"] == answer.headers["request-id"]
    assert snapshot() == before


def test_a_second_request_is_a_409(api_as: ApiMaker, requestor: m.User, package: m.AccessPackage) -> None:
    mine = api_as(user=requestor)
    _ask(mine, package)
    again = mine.post(
        "assignmentRequests",
        {"requestType": "userAdd", "assignment": {"accessPackageId": str(package.pk)}, "justification": "x"},
    )
    assert again.status == 409
    assert again.error["code"] == "duplicateRequest"


def test_approver_approves_and_a_second_decision_is_409(
    api_as: ApiMaker, requestor: m.User, approver: m.User, package: m.AccessPackage
) -> None:
    second = f.UserFactory(username="second")
    stage = package.policies.get().stages.get()
    f.StageApproverFactory(stage=stage, kind=m.ApproverKind.USER, user=second)
    made = _ask(api_as(user=requestor), package)
    as_approver = api_as(user=approver)

    waiting = as_approver.get("accessPackageAssignmentApprovals/filterByCurrentUser(on='approver')")
    assert [a["id"] for a in waiting.body["value"]] == [made["id"]]
    approval = as_approver.get(f"accessPackageAssignmentApprovals/{made['id']}")
    assert approval.status == 200
    [shown] = approval.body["stages"]
    assert shown["id"] == str(stage.pk)
    assert shown["assignedToMe"] is True
    assert (shown["status"], shown["reviewResult"]) == ("InProgress", "NotReviewed")

    path = f"accessPackageAssignmentApprovals/{made['id']}/stages/{stage.pk}"
    decided = as_approver.patch(path, {"reviewResult": "Approve", "justification": "Fine"})
    assert decided.status == 204, decided.body
    request = m.AssignmentRequest.objects.get(pk=made["id"])
    assert request.state == m.RequestState.DELIVERING
    decision = request.decisions.get()
    assert decision.approver == approver
    assert decision.approver_label.endswith(" as approver")

    late = api_as(user=second).patch(path, {"reviewResult": "Deny", "justification": "No"})
    assert late.status == 409
    assert late.error["code"] == "alreadyDecided"
    assert "Already decided by" in late.error["message"]
    after = as_approver.get(path).body
    assert (after["status"], after["reviewResult"], after["reviewedBy"]["id"]) == (
        "Completed",
        "Approve",
        str(approver.pk),
    )


def test_requestor_cannot_approve_own_request(api_as: ApiMaker, requestor: m.User, package: m.AccessPackage) -> None:
    mine = api_as(user=requestor)
    made = _ask(mine, package)
    stage = package.policies.get().stages.get()
    answer = mine.patch(f"accessPackageAssignmentApprovals/{made['id']}/stages/{stage.pk}", {"reviewResult": "Approve"})
    assert answer.status == 403
    assert answer.error["message"] == "You cannot approve or deny your own request."
    assert not m.ApprovalDecision.objects.exists()


def test_outsider_cannot_see_or_decide_someone_elses_request(
    api_as: ApiMaker, requestor: m.User, outsider: m.User, package: m.AccessPackage
) -> None:
    made = _ask(api_as(user=requestor), package)
    stage = package.policies.get().stages.get()
    theirs = api_as(user=outsider)
    assert theirs.get(f"assignmentRequests/{made['id']}").status == 404
    assert theirs.post(f"assignmentRequests/{made['id']}/cancel").status == 404
    answer = theirs.patch(f"accessPackageAssignmentApprovals/{made['id']}/stages/{stage.pk}", {"reviewResult": "Deny"})
    assert answer.status == 404
    assert theirs.get("assignmentRequests").body["value"] == []
    assert not m.ApprovalDecision.objects.exists()


def test_application_tokens_do_not_request_or_approve_as_a_person(
    api_as: ApiMaker, requestor: m.User, package: m.AccessPackage
) -> None:
    app = api_as(role="global_admin")
    answer = app.post(
        "assignmentRequests",
        {"requestType": "userAdd", "assignment": {"accessPackageId": str(package.pk)}, "justification": "x"},
    )
    assert answer.status == 403
    made = _ask(api_as(user=requestor), package)
    stage = package.policies.get().stages.get()
    decided = app.patch(f"accessPackageAssignmentApprovals/{made['id']}/stages/{stage.pk}", {"reviewResult": "Approve"})
    assert decided.status == 403
    assert decided.error["message"] == "Only a person can approve or deny a request."


def test_personal_token_cannot_request_for_someone_else(
    api_as: ApiMaker, requestor: m.User, outsider: m.User, package: m.AccessPackage
) -> None:
    answer = api_as(user=requestor).post(
        "assignmentRequests",
        {
            "requestType": "userAdd",
            "assignment": {"accessPackageId": str(package.pk), "targetId": str(outsider.pk)},
            "justification": "x",
        },
    )
    assert answer.status == 403
    assert not m.AssignmentRequest.objects.exists()


def test_personal_token_has_exactly_its_users_admin_rights(
    api_as: ApiMaker, catalog_reader: m.User, package: m.AccessPackage
) -> None:
    reader = api_as(user=catalog_reader)
    assert reader.get(f"accessPackages/{package.pk}").status == 200
    assert reader.patch(f"accessPackages/{package.pk}", {"isHidden": True}).status == 403
    assert api_as(user=f.UserFactory()).get(f"accessPackages/{package.pk}").status == 404


def test_extend_and_remove_own_access(api_as: ApiMaker, requestor: m.User, catalog: m.Catalog, deliver) -> None:
    package = f.AccessPackageFactory(catalog=catalog, display_name="Wiki")
    f.PackageResourceRoleFactory(package=package)
    policy = f.PolicyFactory(
        package=package, allowed_target_scope=m.TargetScope.ALL_MEMBERS, allow_extension=True, expiration_days=30
    )
    mine = api_as(user=requestor)
    made = _ask(mine, package)
    deliver()
    assignment_id = m.AssignmentRequest.objects.get(pk=made["id"]).assignment_id
    assert mine.get("assignments/filterByCurrentUser(on='target')").body["value"][0]["id"] == str(assignment_id)

    extend = mine.post(
        "assignmentRequests",
        {"requestType": "userUpdate", "assignment": {"id": str(assignment_id)}, "justification": "more"},
    )
    assert extend.status == 201, extend.body
    assert extend.body["requestType"] == "userUpdate"  # Graph's name (DESIGN §3)
    remove = mine.post("assignmentRequests", {"requestType": "userRemove", "assignment": {"id": str(assignment_id)}})
    assert remove.status == 201, remove.body
    deliver()
    assert m.Assignment.objects.get(pk=assignment_id).state == m.AssignmentState.REMOVED
    assert policy.pk
