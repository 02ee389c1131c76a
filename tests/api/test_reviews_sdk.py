"""The unmodified msgraph-sdk reads and decides access-review decisions (issue 17)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from msgraph.generated.models.access_review_instance_decision_item import AccessReviewInstanceDecisionItem

from governance import models as m
from governance.services import reviews
from governance.services.api_clients import create_api_client
from tests import factories as f
from tests.api.graph import graph_call

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:msgraph.*"),
]


def test_sdk_lists_my_decisions_and_patches_one(live_server: Any, make_package: Any) -> None:
    boss = f.UserFactory(username="boss")
    dave = f.UserFactory(username="dave", manager=boss, last_login=timezone.now())
    package = make_package()
    policy = package.policies.get()
    f.AssignmentFactory(policy=policy, package=package, target=dave)
    reviews.save_settings(
        policy,
        reviews.ReviewSpec(
            enabled=True, start_at=timezone.now() - timedelta(minutes=1), reviewers=[("manager", None, False)]
        ),
        None,
    )
    instance = reviews.start_instance(policy.pk)
    assert instance is not None
    token = create_api_client(None, "boss-sdk", username="boss").token

    def decisions(client: Any) -> Any:
        return (
            client.identity_governance.access_reviews.definitions.by_access_review_schedule_definition_id(
                str(policy.pk)
            )
            .instances.by_access_review_instance_id(str(instance.pk))
            .decisions
        )

    async def mine(client: Any) -> Any:
        return await decisions(client).filter_by_current_user_with_on("reviewer").get()

    listed = graph_call(live_server.url, token, mine)
    [item] = listed.value
    assert item.decision == "NotReviewed"
    assert item.recommendation == "Approve"
    assert item.principal.id == str(dave.pk)
    assert item.access_review_id == str(instance.pk)
    assert item.resource.additional_data.get("accessPackageId", str(package.pk)) == str(package.pk)

    async def deny(client: Any) -> Any:
        body = AccessReviewInstanceDecisionItem(decision="Deny", justification="Moved teams")
        return await decisions(client).by_access_review_instance_decision_item_id(item.id).patch(body)

    graph_call(live_server.url, token, deny)
    row = m.AccessReviewDecision.objects.get(pk=item.id)
    assert (row.decision, row.justification, row.reviewed_by) == ("Deny", "Moved teams", boss)

    async def read(client: Any) -> Any:
        return await decisions(client).get()

    [again] = graph_call(live_server.url, token, read).value
    assert again.decision == "Deny"
    assert again.reviewed_by.id == str(boss.pk)
    assert again.reviewed_date_time is not None
