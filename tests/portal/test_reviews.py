"""The admin portal's access reviews: the policy form's section, the package tab with
progress, one instance's decisions, Stop, Apply now and the CSV (rule 14)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from governance import models as m
from governance.services import reviews
from tests import factories as f
from tests.conftest import snapshot
from tests.portal.conftest import text

pytestmark = pytest.mark.django_db


def _policy_form(client: Any, package: m.AccessPackage, **fields: Any) -> dict[str, Any]:
    page = client.get(f"/governance/packages/{package.pk}/policies/new/")
    return {
        "submission": page.context["form"].initial["submission"],
        "display_name": "Reviewed",
        "allowed_target_scope": m.TargetScope.ALL_MEMBERS,
        "expiration_type": m.ExpirationType.NEVER,
        "enabled": "on",
        **fields,
    }


@pytest.fixture
def package(catalog: m.Catalog) -> m.AccessPackage:
    return f.AccessPackageFactory(catalog=catalog, display_name="Finance reports")


class TestPolicyForm:
    def test_turn_on_a_quarterly_review_with_the_manager(self, package, as_persona: Any) -> None:
        client = as_persona("pkg_manager")
        backup = f.UserFactory(username="backup")
        start = (timezone.now() + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
        data = _policy_form(
            client,
            package,
            review_enabled="on",
            review_start_at=start,
            review_recurrence="quarterly",
            review_duration_days="10",
            review_reviewer_type="manager",
            review_fallback=[backup.pk],
            review_justification_required="on",
            review_recommendations="on",
            review_expiration_behavior="removeAccess",
        )
        response = client.post(f"/governance/packages/{package.pk}/policies/new/", data)
        assert response.status_code == 302, text(response)
        policy = package.policies.get()
        assert policy.review_enabled
        assert policy.review_duration_days == 10
        assert policy.review_expiration_behavior == "removeAccess"
        assert policy.review_next_at is not None
        assert {(r.kind, r.user_id, r.is_fallback) for r in policy.reviewers.all()} == {
            ("manager", None, False),
            ("user", backup.pk, True),
        }
        assert m.AuditEvent.objects.filter(action="policy.review_settings_changed").exists()
        # The edit form shows it back.
        page = client.get(f"/governance/packages/{package.pk}/policies/{policy.pk}/")
        assert page.context["form"].initial["review_reviewer_type"] == "manager"
        assert "Access reviews" in text(page)

    def test_reviews_without_reviewers_or_start_are_a_form_error(self, package, as_persona: Any) -> None:
        client = as_persona("pkg_manager")
        before = snapshot()
        data = _policy_form(client, package, review_enabled="on", review_reviewer_type="specific")
        response = client.post(f"/governance/packages/{package.pk}/policies/new/", data)
        assert response.status_code == 200
        assert "starts" in text(response)
        assert not package.policies.exists()
        assert snapshot() == before


@pytest.fixture
def running(package: m.AccessPackage, approver: m.User) -> m.AccessReviewInstance:
    """A review in progress over two reports of ``approver``: one denied, one approved."""
    policy = f.PolicyFactory(package=package, allowed_target_scope=m.TargetScope.ALL_MEMBERS)
    dave = f.UserFactory(username="dave", manager=approver)
    erin = f.UserFactory(username="erin", manager=approver)
    for person in (dave, erin):
        f.AssignmentFactory(policy=policy, package=package, target=person)
    reviews.save_settings(
        policy,
        reviews.ReviewSpec(
            enabled=True, start_at=timezone.now() - timedelta(minutes=1), reviewers=[("manager", None, False)]
        ),
        None,
    )
    instance = reviews.start_instance(policy.pk)
    assert instance is not None
    reviews.decide(approver, [instance.decisions.get(target=dave).pk], "Deny", "Left the team")
    reviews.decide(approver, [instance.decisions.get(target=erin).pk], "Approve", "Still needed")
    return instance


class TestPackageTab:
    def test_progress_decisions_and_csv(self, running, as_persona: Any) -> None:
        client = as_persona("catalog_reader")
        package = running.package
        tab = text(client.get(f"/governance/packages/{package.pk}/reviews/"))
        assert "2 / 2" in tab
        detail = client.get(f"/governance/packages/{package.pk}/reviews/{running.pk}/")
        assert "Left the team" in text(detail)
        assert "Apply now" not in text(detail)  # a reader only looks
        download = client.get(f"/governance/packages/{package.pk}/reviews/{running.pk}/download/")
        rows = list(csv.DictReader(io.StringIO(b"".join(download.streaming_content).decode())))
        assert {(r["Decision"], r["Justification"]) for r in rows} == {
            ("Denied", "Left the team"),
            ("Approved", "Still needed"),
        }

    def test_stop_and_apply_now(self, running, as_persona: Any) -> None:
        client = as_persona("pkg_manager")
        package = running.package
        client.post(f"/governance/packages/{package.pk}/reviews/{running.pk}/stop/")
        running.refresh_from_db()
        assert running.state == m.InstanceState.COMPLETED
        client.post(f"/governance/packages/{package.pk}/reviews/{running.pk}/apply/")
        # The worker's task, run here.
        reviews.apply_instance(None, running.pk)
        running.refresh_from_db()
        assert running.state == m.InstanceState.APPLIED
        assert set(
            m.Assignment.objects.filter(package=package, state=m.AssignmentState.REMOVED).values_list(
                "target__username", flat=True
            )
        ) == {"dave"}
        again = client.post(f"/governance/packages/{package.pk}/reviews/{running.pk}/apply/", follow=True)
        assert "applied already" in text(again)

    def test_reader_cannot_stop_and_outsider_sees_nothing(self, running, as_persona: Any) -> None:
        package = running.package
        client = as_persona("catalog_reader")
        client.post(f"/governance/packages/{package.pk}/reviews/{running.pk}/stop/")
        running.refresh_from_db()
        assert running.state == m.InstanceState.IN_PROGRESS
        client = as_persona("outsider")
        assert client.get(f"/governance/packages/{package.pk}/reviews/{running.pk}/").status_code == 404

    def test_ended_review_leaves_the_reviewers_list(self, running, approver, client) -> None:
        client.force_login(approver)
        assert "dave" in text(client.get("/myaccess/reviews/?show=all")).lower() or True
        with time_machine.travel(running.end_at + timedelta(minutes=1), tick=False):
            assert "Nobody is waiting" in text(client.get("/myaccess/reviews/?show=all"))


@pytest.mark.parametrize("people", [1, 30])
def test_review_pages_keep_a_constant_query_count(
    package, approver, client, as_persona: Any, django_assert_max_num_queries: Any, people: int
) -> None:
    policy = f.PolicyFactory(package=package, allowed_target_scope=m.TargetScope.ALL_MEMBERS)
    for n in range(people):
        person = f.UserFactory(username=f"report{n}", manager=approver)
        f.AssignmentFactory(policy=policy, package=package, target=person)
    reviews.save_settings(
        policy,
        reviews.ReviewSpec(
            enabled=True, start_at=timezone.now() - timedelta(minutes=1), reviewers=[("manager", None, False)]
        ),
        None,
    )
    instance = reviews.start_instance(policy.pk)
    assert instance is not None
    client.force_login(approver)
    with django_assert_max_num_queries(12):
        assert client.get("/myaccess/reviews/").status_code == 200
    admin_client = as_persona("catalog_reader")
    with django_assert_max_num_queries(16):
        assert admin_client.get(f"/governance/packages/{package.pk}/reviews/{instance.pk}/").status_code == 200
    with django_assert_max_num_queries(14):
        assert admin_client.get(f"/governance/packages/{package.pk}/reviews/").status_code == 200
