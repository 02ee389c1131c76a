"""The access-reviews API: reviewSettings on policies (Microsoft's policy Example 2, verbatim
as far as reviewSettings go) and the v1.0 decisions of an instance (rule 14)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from governance import models as m
from governance.services import reviews
from tests import factories as f
from tests.api.conftest import Api, ApiMaker
from tests.conftest import PackageMaker, snapshot

pytestmark = pytest.mark.django_db

# reviewSettings of "Example 2: Create a policy for users from other organizations to
# request" (entitlementmanagement-post-assignmentpolicies), verbatim but for the group id.
EXAMPLE_2_REVIEW_SETTINGS = {
    "isEnabled": True,
    "expirationBehavior": "keepAccess",
    "isRecommendationEnabled": True,
    "isReviewerJustificationRequired": True,
    "isSelfReview": False,
    "schedule": {
        "startDateTime": "2022-07-02T06:59:59.998Z",
        "expiration": {"duration": "P14D", "type": "afterDuration"},
        "recurrence": {
            "pattern": {"type": "absoluteMonthly", "interval": 3, "month": 0, "dayOfMonth": 0, "daysOfWeek": []},
            "range": {"type": "noEnd", "numberOfOccurrences": 0},
        },
    },
    "primaryReviewers": [
        {"@odata.type": "#microsoft.graph.groupMembers", "groupId": "1623f912-5e86-41c2-af47-39dd67582b66"}
    ],
    "fallbackReviewers": [],
}


def test_policy_example_2_review_settings(admin_api: Api, make_package: PackageMaker) -> None:
    package = make_package()
    group = f.DirectoryGroupFactory()
    settings = {
        **EXAMPLE_2_REVIEW_SETTINGS,
        "primaryReviewers": [{"@odata.type": "#microsoft.graph.groupMembers", "groupId": str(group.pk)}],
    }
    body = {
        "displayName": "policy for external access requests",
        "description": "policy with recurring access reviews",
        "allowedTargetScope": "allConfiguredConnectedOrganizationUsers",
        "specificAllowedTargets": [],
        "expiration": {"type": "noExpiration"},
        "reviewSettings": settings,
        "accessPackage": {"id": str(package.pk)},
    }
    made = admin_api.post("assignmentPolicies", body)
    assert made.status == 201, made.body
    answer = made.body["reviewSettings"]
    assert answer["isEnabled"] is True
    assert answer["expirationBehavior"] == "keepAccess"
    assert answer["schedule"]["expiration"]["duration"] == "P14D"
    assert answer["schedule"]["recurrence"]["pattern"] == {"type": "absoluteMonthly", "interval": 3}
    assert answer["primaryReviewers"] == [{"@odata.type": "#microsoft.graph.groupMembers", "groupId": str(group.pk)}]
    policy = m.AssignmentPolicy.objects.get(pk=made.body["id"])
    assert (policy.review_enabled, policy.review_recurrence) == (True, "quarterly")
    # The start date is long past: the next period after now is the first one.
    assert policy.review_next_at is not None
    # Read back, and PATCH only the behaviour.
    patched = admin_api.patch(
        f"assignmentPolicies/{policy.pk}", {"reviewSettings": {"expirationBehavior": "removeAccess"}}
    )
    assert patched.status == 204, patched.body  # as Graph answers a PATCH (issue 16)
    again = admin_api.get(f"assignmentPolicies/{policy.pk}").body
    assert again["reviewSettings"]["expirationBehavior"] == "removeAccess"
    assert again["reviewSettings"]["primaryReviewers"][0]["groupId"] == str(group.pk)


def test_policy_example_2_with_an_unknown_group_is_a_400(admin_api: Api, make_package: PackageMaker) -> None:
    package = make_package()
    before = snapshot()
    answer = admin_api.post(
        "assignmentPolicies",
        {
            "displayName": "x",
            "allowedTargetScope": "allMemberUsers",
            "reviewSettings": EXAMPLE_2_REVIEW_SETTINGS,
            "accessPackage": {"id": str(package.pk)},
        },
    )
    assert answer.status == 400, answer.body
    assert snapshot() == before


@pytest.fixture
def running(make_package: PackageMaker, approver: m.User) -> m.AccessReviewInstance:
    package = make_package()
    policy = package.policies.get()
    for name in ("dave", "erin"):
        f.AssignmentFactory(policy=policy, package=package, target=f.UserFactory(username=name, manager=approver))
    f.AssignmentFactory(policy=policy, package=package, target=f.UserFactory(username="frank"))
    reviews.save_settings(
        policy,
        reviews.ReviewSpec(
            enabled=True,
            start_at=timezone.now() - timedelta(minutes=1),
            reviewers=[("manager", None, False)],
            justification_required=False,
        ),
        None,
    )
    instance = reviews.start_instance(policy.pk)
    assert instance is not None
    return instance


def base(instance: m.AccessReviewInstance) -> str:
    return f"/v1.0/identityGovernance/accessReviews/definitions/{instance.policy_id}/instances/{instance.pk}"


def test_reviewer_lists_decides_and_admin_applies(
    running: m.AccessReviewInstance, api_as: ApiMaker, approver: m.User, admin_api: Api, outsider: m.User
) -> None:
    mine = api_as(user=approver)
    listed = mine.get(f"{base(running)}/decisions/filterByCurrentUser(on='reviewer')")
    assert listed.status == 200, listed.body
    names = {d["principal"]["userPrincipalName"].split("@")[0] for d in listed.body["value"]}
    assert names == {"dave", "erin"}
    item = listed.body["value"][0]
    assert item["decision"] == "NotReviewed"
    assert item["recommendation"] in ("Approve", "Deny", "NoInfoAvailable")
    assert item["resource"]["accessPackageId"] == str(running.package_id)
    # The same list, by any reviewer, through the plain collection.
    assert len(mine.get(f"{base(running)}/decisions").body["value"]) == 2
    dave = m.AccessReviewDecision.objects.get(instance=running, target__username="dave")
    frank = m.AccessReviewDecision.objects.get(instance=running, target__username="frank")
    assert (
        mine.patch(f"{base(running)}/decisions/{dave.pk}", {"decision": "Deny", "justification": "gone"}).status == 204
    )
    # Not their reviewee: 404; bad value: 400.
    assert mine.patch(f"{base(running)}/decisions/{frank.pk}", {"decision": "Deny"}).status == 404
    assert mine.patch(f"{base(running)}/decisions/{dave.pk}", {"decision": "Maybe"}).status == 400
    # Someone who reviews nothing here sees nothing.
    assert api_as(user=outsider).get(f"{base(running)}/decisions").status == 404
    # A reviewer cannot stop the review; the administrator can, and applies.
    assert mine.post(f"{base(running)}/stop").status in (403, 404)
    assert admin_api.get(f"{base(running)}/decisions").status == 200
    assert len(admin_api.get(f"{base(running)}/decisions").body["value"]) == 3
    assert admin_api.post(f"{base(running)}/stop").status == 204
    assert admin_api.post(f"{base(running)}/applyDecisions").status == 204
    reviews.apply_instance(None, running.pk)  # the worker's task
    assert m.Assignment.objects.get(pk=dave.assignment_id).state == m.AssignmentState.REMOVED
    after = admin_api.get(f"{base(running)}/decisions", **{"$filter": "decision eq 'Deny'"})
    assert [d["applyResult"] for d in after.body["value"]] == ["AppliedSuccessfully"]
    # After the end, a decision cannot change (409).
    erin = m.AccessReviewDecision.objects.get(instance=running, target__username="erin")
    assert mine.patch(f"{base(running)}/decisions/{erin.pk}", {"decision": "Approve"}).status == 409
    # Applying twice: 409, nothing more removed.
    assert admin_api.post(f"{base(running)}/applyDecisions").status == 409


def test_wrong_definition_or_instance_is_404(running: m.AccessReviewInstance, admin_api: Api) -> None:
    other = f"/v1.0/identityGovernance/accessReviews/definitions/{running.package_id}/instances/{running.pk}/decisions"
    assert admin_api.get(other).status == 404
    assert admin_api.get(f"{base(running)}/decisions/filterByCurrentUser(on='reviewer')").status == 400
