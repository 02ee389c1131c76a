"""Issue 14, items 4 and 10, below the browser: counts that mean what the seeds mean, and
expiry on time."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from governance import models as m
from governance.services import requests
from tests import factories as f
from tests.portal.conftest import Scene, text

pytestmark = pytest.mark.django_db


def failure_emails(request: m.AssignmentRequest) -> int:
    return m.OutboundEmail.objects.filter(request=request, kind="request_delivery_failed").count()


class TestDeliveryErrorsCountResourceRoles:
    def test_retries_of_one_role_are_one_error_with_every_attempt_listed(
        self, scene: Scene, as_persona: Any, admin: m.User, deliver: Any
    ) -> None:
        request = scene.failed_request
        for _ in range(2):  # the role is still broken: two more failed attempts at it
            requests.reprocess_request(admin, request.pk)
            deliver()
        assert m.DeliveryAttempt.objects.filter(request=request, outcome__in=m.Outcome.ERRORS).count() == 3
        client = as_persona("admin")
        detail = text(client.get(f"/governance/requests/{request.pk}/"))
        assert "Delivery errors 1 resource role failed, 3 failed attempts" in detail
        listed = client.get("/governance/requests/", {"status": "attention"})
        (row,) = listed.context["page"].rows
        assert row.errors == 1
        errors = text(client.get(f"/governance/requests/{request.pk}/errors/"))
        assert "1 resource role failed" in errors
        assert "3 attempts" in errors
        assert errors.count("does not exist in the built-in directory") == 3

    def test_reprocessing_does_not_email_the_same_failure_again(
        self, scene: Scene, admin: m.User, deliver: Any
    ) -> None:
        request = scene.failed_request
        assert failure_emails(request) == 1
        requests.reprocess_request(admin, request.pk)
        deliver()
        request.refresh_from_db()
        assert request.state == m.RequestState.PARTIALLY_DELIVERED
        assert failure_emails(request) == 1  # told once, not once per reprocess

    def test_a_new_failure_is_still_told(self, scene: Scene, admin: m.User, deliver: Any) -> None:
        request = scene.failed_request
        # The good role is lost and fails too on the next try: that is news to the requestor.
        good = m.RoleGrant.objects.get(assignment=scene.partial, resource_role=scene.good_role)
        m.RoleGrant.objects.filter(pk=good.pk).update(state=m.GrantState.FAILED, request=request)
        m.DirectoryGroup.objects.filter(pk=scene.good_role.resource.origin_id).delete()
        requests.reprocess_request(admin, request.pk)
        deliver()
        assert failure_emails(request) == 2

    def test_the_requestor_is_told_when_reprocessing_delivers(self, scene: Scene, admin: m.User, deliver: Any) -> None:
        from tests.portal.conftest import repair

        repair(scene.bad_role)
        requests.reprocess_request(admin, scene.failed_request.pk)
        deliver()
        # A direct assignment: its person is told they were given access (issue 15 item 2).
        assert m.OutboundEmail.objects.filter(request=scene.failed_request, kind="access_given").count() == 1


class TestBulkResultsGrouped:
    def test_skipped_rows_are_grouped_by_state(self, scene: Scene, as_persona: Any, admin: m.User, approver) -> None:
        from tests.portal.conftest import pending_request

        canceled = pending_request(scene.package, approver, who="carol")
        requests.cancel_request_as_admin(admin, canceled.pk, "")
        second = scene.failed_request
        delivered = m.AssignmentRequest.objects.get(target=scene.delivered.target)
        # A second failing request: copy of the scene's partially delivered one.
        bob2 = f.UserFactory(username="bob2", display_name="Bob Two")
        from governance.services import assignments

        (other,) = assignments.create_direct_assignments(
            admin, scene.package.pk, policy_id=scene.direct_policy.pk, target_ids=[bob2.pk]
        )
        from tests.portal.conftest import deliver_now

        deliver_now()
        response = as_persona("pkg_manager").post(
            "/governance/requests/reprocess/",
            {"ids": [second.pk, other.pk, delivered.pk, canceled.pk]},
            follow=True,
        )
        assert (
            "Reprocess: 2 queued; 2 skipped (Only requests that are Delivery failed or Partially delivered can be "
            "reprocessed): already Delivered (1), Canceled (1)."
        ) in text(response)


class TestExpiryOnTime:
    def test_the_expiry_job_runs_every_minute(self) -> None:
        (entry,) = [e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"].endswith(".expire_assignments")]
        assert entry["schedule"] <= timedelta(minutes=1)

    def test_the_due_rows_are_found_through_the_index(self, db: None) -> None:
        if connection.vendor != "sqlite":
            pytest.skip("reads SQLite's plan")
        sql, params = m.Assignment.objects.due_for_expiry(timezone.now()).query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
            plan = " ".join(str(row[-1]) for row in cursor.fetchall())
        assert "USING INDEX assignment_state_end" in plan, plan

    def test_an_ended_assignment_expires_at_the_next_minute(self, scene: Scene, deliver: Any) -> None:
        from governance import tasks

        m.Assignment.objects.filter(pk=scene.delivered.pk).update(end_at=timezone.now() - timedelta(seconds=5))
        assert tasks.expire_assignments() == 1
        scene.delivered.refresh_from_db()
        assert scene.delivered.state == m.AssignmentState.EXPIRED


# --- Item 3: no dead ends ------------------------------------------------------------------


class TestNoDeadEnds:
    def test_a_404_is_a_styled_page_with_a_way_back(self, client: Any, requestor: m.User) -> None:
        client.force_login(requestor)
        response = client.get("/governance/no-such-page/")
        assert response.status_code == 404
        page = text(response)
        assert "Page not found" in page
        assert 'href="/myaccess/"' in response.content.decode()

    def test_a_package_link_no_policy_allows_says_why(self, client: Any, make_package: Any, outsider: m.User) -> None:
        group = f.DirectoryGroupFactory(display_name="Developers")
        package = make_package(name="Developer tools", allowed_target_scope=m.TargetScope.SPECIFIC_USERS)
        package.policies.get().specific_groups.add(group)
        client.force_login(outsider)
        response = client.get(f"/myaccess/packages/{package.pk}/")
        assert response.status_code == 404  # still rule 11's answer to a program
        page = text(response)
        assert "You can't request this package" in page
        assert "Only named people and members of Developers may request it" in page
        assert text(client.get(f"/myaccess/packages/{package.pk}/request/")).count("You can't request") == 2

    def test_a_hidden_package_reveals_nothing(self, client: Any, make_package: Any, outsider: m.User) -> None:
        package = make_package(name="Secret project", allowed_target_scope=m.TargetScope.SPECIFIC_USERS)
        m.AccessPackage.objects.filter(pk=package.pk).update(is_hidden=True)
        client.force_login(outsider)
        response = client.get(f"/myaccess/packages/{package.pk}/")
        assert response.status_code == 404
        assert "Secret project" not in response.content.decode()
        assert "Page not found" in text(response)

    def test_email_this_link_warns_about_recipients_no_policy_allows(
        self, as_persona: Any, make_package: Any, requestor: m.User, outsider: m.User
    ) -> None:
        package = make_package(name="Developer tools", allowed_target_scope=m.TargetScope.SPECIFIC_USERS)
        package.policies.get().specific_users.add(requestor)
        client = as_persona("pkg_manager")
        url = f"/governance/packages/{package.pk}/share/"
        form = {
            "recipients": [requestor.pk, outsider.pk],
            "note": "",
            "submission": "9b0b7a3e-2d6f-4b59-8d7f-1f0f4d7c9a11",
        }
        response = client.post(url, form)
        assert response.status_code == 200
        assert f"No policy of Developer tools allows {outsider}" in text(response)
        assert not m.OutboundEmail.objects.filter(kind="package_link").exists()
        response = client.post(url, {**form, "send_anyway": "on"}, follow=True)
        assert "The link was emailed to 2 people." in text(response)

    def test_scheduled_direct_assignments_are_listed_under_assignments(
        self, scene: Scene, as_persona: Any, admin: m.User
    ) -> None:
        from governance.services import assignments

        sam = f.UserFactory(username="sam", display_name="Sam Later")
        start = timezone.now() + timedelta(days=3)
        assignments.create_direct_assignments(
            admin, scene.package.pk, policy_id=scene.direct_policy.pk, target_ids=[sam.pk], start=start
        )
        client = as_persona("assignment_manager")
        page = text(client.get("/governance/assignments/", {"status": "scheduled"}))
        assert "Sam Later" in page
        assert "Scheduled" in page
        assert "Alice Anders" not in page
        tab = text(client.get(f"/governance/packages/{scene.package.pk}/assignments/", {"status": "scheduled"}))
        assert "Sam Later" in tab
        assert "Sam Later" not in text(client.get("/governance/assignments/"))  # not active yet

    def test_a_resource_is_added_by_its_id_when_the_connector_cannot_list(
        self, as_persona: Any, catalog: m.Catalog, admin: m.User
    ) -> None:
        hook = f.ConnectorFactory(
            display_name="Badges", kind="webhook", config={"url": "http://127.0.0.1:9/hook"}, secrets={"secret": "s"}
        )
        client = as_persona("admin")
        url = f"/governance/catalogs/{catalog.pk}/resources/add/?connector={hook.pk}&q=door"
        page = text(client.get(url))
        assert "Badges cannot list its resources" in page
        assert "No groups match" not in page
        typed = {
            "typed": "1",
            "connector": hook.pk,
            "origin_id": "door-3",
            "display_name": "Door 3",
            "resource_type": "group",
        }
        response = client.post(url, {**typed, "action": "test"})
        assert response.status_code == 200
        assert "Test: " in text(response)  # the webhook is not there: a message, not a 500
        assert not m.Resource.objects.filter(origin_id="door-3").exists()
        response = client.post(url, {**typed, "action": "add"}, follow=True)
        assert "Door 3 added to" in text(response)
        assert m.Resource.objects.filter(origin_id="door-3", connector=hook, catalog=catalog).exists()

    def test_the_delivery_errors_page_offers_reprocess_and_the_connector(self, scene: Scene, as_persona: Any) -> None:
        response = as_persona("admin").get(f"/governance/requests/{scene.failed_request.pk}/errors/")
        body = response.content.decode()
        assert "Reprocess request" in text(response)
        connector = m.DeliveryAttempt.objects.filter(request=scene.failed_request).first().connector
        assert f'href="/governance/connectors/{connector.pk}/"' in body


# --- Item 1: status that updates itself ---------------------------------------------------


class TestLiveStatus:
    def test_a_detail_in_flight_polls_and_backs_off(self, scene: Scene, as_persona: Any, approver) -> None:
        from tests.portal.conftest import pending_request

        pending = pending_request(scene.package, approver)
        client = as_persona("admin")
        first = client.get(f"/governance/requests/{pending.pk}/").content.decode()
        assert 'data-live="polling"' in first
        assert "load delay:2.0s" in first
        later = client.get(f"/governance/requests/{pending.pk}/", HTTP_HX_REQUEST="true", HTTP_X_POLL="3")
        assert "load delay:6.8s" in later.content.decode()
        settled = client.get(f"/governance/requests/{scene.failed_request.pk}/").content.decode()
        assert 'data-live="polling"' not in settled

    def test_the_list_poller_answers_badges_out_of_band(self, scene: Scene, as_persona: Any, approver) -> None:
        from tests.portal.conftest import pending_request

        pending = pending_request(scene.package, approver)
        client = as_persona("catalog_reader")
        listed = client.get("/governance/requests/").content.decode()
        assert f"/governance/live/?kind=requests&amp;id={pending.pk}" in listed
        answer = client.get(
            "/governance/live/", {"kind": "requests", "id": [pending.pk, scene.failed_request.pk]}, HTTP_X_POLL="1"
        ).content.decode()
        assert f'id="live-requests-{pending.pk}" hx-swap-oob="true"' in answer
        assert "Pending approval" in answer
        assert "load delay:3.0s" in answer  # still in flight: asks again, later

    def test_the_poller_shows_nothing_out_of_scope(self, scene: Scene, as_persona: Any, finance_owner) -> None:
        answer = as_persona("finance_owner").get("/governance/live/", {"kind": "assignments", "id": [scene.partial.pk]})
        assert answer.status_code == 200
        assert str(scene.partial.pk) not in answer.content.decode()
        assert as_persona("outsider").get("/governance/live/", {"kind": "assignments"}).status_code == 404
        assert as_persona("admin").get("/governance/live/", {"kind": "bogus"}).status_code == 404

    def test_the_poller_costs_the_same_for_one_row_and_a_hundred(
        self, scene: Scene, as_persona: Any, django_assert_max_num_queries: Any
    ) -> None:
        client = as_persona("admin")
        ids = [scene.partial.pk, scene.delivered.pk]
        with django_assert_max_num_queries(8):
            client.get("/governance/live/", {"kind": "assignments", "id": ids})


def test_test_finds_a_scim_group_by_its_id(scim_server: Any, catalog: m.Catalog, admin: m.User) -> None:
    """Add resource's "Test" against the real SCIM server: a group found by id, and a wrong id."""
    from governance.services import catalogs
    from tests.targets import SCIM_TOKEN

    connector = f.ConnectorFactory(
        display_name="Wiki (SCIM)",
        kind="scim",
        config={"base_url": scim_server.url, "timeout": 3},
        secrets={"token": SCIM_TOKEN},
    )
    group_id = scim_server.add_group("Wiki editors")
    worked, said = catalogs.test_resource(admin, catalog.pk, connector.pk, group_id)
    assert worked, said
    assert "Wiki editors" in said
    worked, said = catalogs.test_resource(admin, catalog.pk, connector.pk, "no-such-group")
    assert not worked
    assert "No SCIM group has the id no-such-group" in said
