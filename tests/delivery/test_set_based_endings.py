"""Expiry and access-review apply end assignments set-based (governance/services/endings.py):
requests and audit rows written as tuples, one UPDATE for assignments and one for grants,
ended-access emails rendered when sent. These pin the result to what one change at a time
writes: the same audit rows field for field, the same emails, rule 7, the overtaken request,
and a query count that does not grow with the batch."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

import pytest
import time_machine
from django.conf import settings
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from governance import models as m
from governance.audit import build_event
from governance.services import assignments, endings, notifications, outbox, requests, reviews
from tests import factories as f
from tests.concurrency.invariants import check_invariants
from tests.conftest import members_of, need

T = TypeVar("T")

pytestmark = pytest.mark.django_db

# Every column an audit row has but its id and moment, as attributes of the row.
AUDIT_FIELDS = tuple(
    field.attname for field in m.AuditEvent._meta.concrete_fields if field.name not in ("id", "created_at")
)


def fields_of(event: m.AuditEvent) -> dict[str, Any]:
    return {name: getattr(event, name) for name in AUDIT_FIELDS}


def queries(call: Callable[[], T]) -> tuple[int, T]:
    with CaptureQueriesContext(connection) as captured:
        value = call()
    return len(captured), value


def people(count: int, **extra: Any) -> list[m.User]:
    return [f.UserFactory(**extra) for _ in range(count)]


def delivered(make_package, deliver, who: list[m.User], **policy: Any) -> m.AccessPackage:  # type: ignore[no-untyped-def]
    package = make_package(roles=2, **policy)
    for person in who:
        requests.submit_request(person, package.pk)
    deliver()
    return package


def after(days: int) -> Any:
    return time_machine.travel(timezone.now() + timedelta(days=days, minutes=1), tick=False)


class TestTheAuditTrailIsTheOneOfAChangeAtATime:
    def test_every_row_equals_what_build_event_makes_of_the_objects(self, make_package, deliver):
        # Names from each source str(user) falls back to: display name, full name, username.
        who = [
            f.UserFactory(display_name="Ada Lovelace"),
            f.UserFactory(display_name="", first_name="Grace", last_name="Hopper"),
            f.UserFactory(display_name="", first_name="", last_name="", username="plainname"),
        ]
        package = delivered(make_package, deliver, who, expiration_days=5)
        before = {g.pk: g.state for g in m.RoleGrant.objects.filter(assignment__package=package)}
        with after(5):
            assert assignments.expire_due_assignments(batch_size=2) == 3

        for assignment in m.Assignment.objects.filter(package=package).select_related("package", "target"):
            removal = m.AssignmentRequest.objects.select_related("package", "target").get(
                assignment=assignment, request_type=m.RequestType.SYSTEM_REMOVE
            )
            trail = list(m.AuditEvent.objects.filter(object_id=str(removal.pk)).order_by("id"))
            assert [e.action for e in trail] == ["request.submitted", "request.start_delivery"]
            assert fields_of(trail[0]) == fields_of(build_event(None, "request.submitted", removal))
            assert fields_of(trail[1]) == fields_of(
                build_event(
                    None, "request.start_delivery", removal, previous=m.RequestState.SUBMITTED, state="delivering"
                )
            )
            [ended] = m.AuditEvent.objects.filter(object_id=str(assignment.pk), action="assignment.expired")
            assert fields_of(ended) == fields_of(
                build_event(None, "assignment.expired", assignment, previous="delivered", state="expired")
            )
            assert ended.id > trail[1].id
            for grant in assignment.grants.all():
                assert grant.state == m.GrantState.REVOKING
                assert grant.request_id == removal.pk
                assert grant.attempts == 0
                assert grant.next_attempt_at is not None
                [revoking] = m.AuditEvent.objects.filter(object_id=str(grant.pk), action="grant.revoking")
                assert fields_of(revoking) == fields_of(
                    build_event(
                        None,
                        "grant.revoking",
                        grant,
                        previous=before[grant.pk],
                        state="revoking",
                        object_repr=f"grant of {assignment}",
                        catalog_id=package.catalog_id,
                        package_id=package.pk,
                    )
                )
            assert removal.state == m.RequestState.DELIVERING
            assert removal.requestor_label == "system"
            assert removal.justification == assignments.EXPIRY_REASON
        deliver()
        check_invariants()

    def test_a_review_removal_writes_removed_rows_and_its_request_on_the_decision(self, make_package, deliver, admin):
        who = people(4)
        package = delivered(make_package, deliver, who)
        policy = package.policies.get()
        reviews.save_settings(
            policy,
            reviews.ReviewSpec(
                enabled=True,
                start_at=timezone.now() - timedelta(minutes=1),
                reviewers=[("user", admin.pk, False)],
                justification_required=False,
            ),
            None,
        )
        assert reviews.start_due_instances() == 1
        instance = m.AccessReviewInstance.objects.get(policy=policy)
        denied = list(instance.decisions.order_by("pk")[:2])
        m.AccessReviewDecision.objects.filter(pk__in=[d.pk for d in denied]).update(
            decision=m.ReviewDecision.DENY, reviewed_at=timezone.now()
        )
        report = reviews.apply_instance(None, instance.pk)
        assert report.removed == 2
        for decision in denied:
            decision.refresh_from_db()
            assignment = m.Assignment.objects.select_related("package", "target").get(pk=decision.assignment_id)
            assert assignment.state == m.AssignmentState.REMOVED
            assert decision.removal_request is not None
            assert decision.removal_request.assignment_id == assignment.pk
            assert decision.removal_request.justification == notifications.REVIEW_REMOVAL_REASON
            [ended] = m.AuditEvent.objects.filter(object_id=str(assignment.pk), action="assignment.removed")
            assert fields_of(ended) == fields_of(
                build_event(None, "assignment.removed", assignment, previous="delivered", state="removed")
            )
        deliver()
        check_invariants()


class TestEmails:
    def test_the_expired_email_is_rendered_when_sent_with_the_same_content(self, make_package, deliver, settings):
        settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
        [person] = people(1)
        package = delivered(make_package, deliver, [person], expiration_days=5, name="Wiki")
        with after(5):
            assignments.expire_due_assignments()
            deliver()
        # The row holds the kind and ids only ...
        [(body, request_id)] = m.OutboundEmail.objects.filter(recipient=person, kind="assignment_expired").values_list(
            "body_text", "request_id"
        )
        assert body == ""
        removal = m.AssignmentRequest.objects.select_related("package", "target", "assignment").get(pk=request_id)
        expected = notifications.request_completed(removal, save=False)
        assert expected is not None
        # ... and is sent as the message rendering it at once would have been.
        sent, _ = outbox.send_due(max_seconds=30)
        assert sent >= 1
        [message] = [msg for msg in mail.outbox if msg.to == [person.email] and "expired" in msg.subject]
        assert message.subject == expected.subject == "Your access to Wiki has expired"
        assert message.body == expected.body_text
        assert f"request it again: {settings.SITE_URL}/myaccess/packages/{package.pk}/" in message.body
        assert message.alternatives[0][0] == expected.body_html
        stored = m.OutboundEmail.objects.get(request_id=request_id)
        assert (stored.subject, stored.body_text, stored.body_html) == (
            expected.subject,
            expected.body_text,
            expected.body_html,
        )
        assert stored.sent_at is not None

    def test_sent_once_even_when_read_before(self, make_package, deliver, settings):
        settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
        who = people(3)
        delivered(make_package, deliver, who, expiration_days=1)
        with after(1):
            assignments.expire_due_assignments()
            deliver()
        emails = list(m.OutboundEmail.objects.filter(kind="assignment_expired"))
        assert all(e.subject.startswith("Your access to") for e in emails)  # rendered on read
        outbox.send_due(max_seconds=30)
        outbox.send_due(max_seconds=30)
        assert sorted(msg.to[0] for msg in mail.outbox if "expired" in msg.subject) == sorted(p.email for p in who)

    def test_a_person_without_an_email_address_gets_no_row(self, make_package, deliver):
        [mute] = people(1, email="")
        delivered(make_package, deliver, [mute], expiration_days=1)
        with after(1):
            assignments.expire_due_assignments()
            deliver()
        assert not m.OutboundEmail.objects.filter(kind="assignment_expired").exists()

    def test_a_row_whose_request_was_deleted_is_given_up(self, make_package, deliver, settings):
        settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
        [person] = people(1)
        delivered(make_package, deliver, [person], expiration_days=1)
        with after(1):
            assignments.expire_due_assignments()
            deliver()
        email_id = m.OutboundEmail.objects.get(kind="assignment_expired").pk
        m.AssignmentRequest.objects.filter(request_type=m.RequestType.SYSTEM_REMOVE).delete()
        outbox.send_due(max_seconds=30)
        given_up = m.OutboundEmail.objects.values("sent_at", "attempts", "last_error").get(pk=email_id)
        assert given_up["sent_at"] is None
        assert given_up["attempts"] == outbox.MAX_EMAIL_ATTEMPTS
        assert "deleted" in given_up["last_error"]
        assert not [msg for msg in mail.outbox if msg.to == [person.email] and "expired" in msg.subject]


class TestRule7AndOverlap:
    def test_a_batch_with_overlapping_packages_revokes_only_what_nothing_else_justifies(
        self, make_package, catalog, deliver
    ):
        shared = f.ResourceRoleFactory(resource__catalog=catalog)
        expiring = make_package(roles=1, expiration_days=5)
        staying = make_package(roles=0)
        f.PackageResourceRoleFactory(package=expiring, resource_role=shared)
        f.PackageResourceRoleFactory(package=staying, resource_role=shared)
        both, only = people(3), people(3)
        for person in both + only:
            requests.submit_request(person, expiring.pk)
        for person in both:
            requests.submit_request(person, staying.pk)
        deliver()
        assert members_of(shared) == {p.username for p in both + only}
        with after(5):
            assert assignments.expire_due_assignments(batch_size=4) == 6
            deliver()
        assert members_of(shared) == {p.username for p in both}
        own = m.ResourceRole.objects.filter(package_links__package=expiring).exclude(pk=shared.pk).get()
        assert members_of(own) == set()
        released = m.DeliveryAttempt.objects.filter(grant__resource_role=shared, operation=m.Operation.REVOKE)
        notes = {a.grant.subject_id: a.message for a in released.select_related("grant")}
        for person in both:
            assert notes[person.pk] == f"Not removed from the target: still granted through {staying}."
        for person in only:
            assert notes[person.pk] == "Revoked."
        assert set(
            m.AssignmentRequest.objects.filter(request_type=m.RequestType.SYSTEM_REMOVE).values_list("state", flat=True)
        ) == {m.RequestState.DELIVERED}
        check_invariants()


class TestOvertaken:
    def test_a_request_still_delivering_is_canceled_with_its_audit_row_and_the_expiry_completes(
        self, make_package, deliver
    ):
        package = make_package(roles=1, expiration_hours=1, expiration_type=m.ExpirationType.AFTER_HOURS)
        [person] = people(1)
        request = requests.submit_request(person, package.pk)  # not delivered yet
        with time_machine.travel(timezone.now() + timedelta(hours=2), tick=False):
            assert assignments.expire_due_assignments() == 1
            deliver()
        request.refresh_from_db()
        assert request.state == m.RequestState.CANCELED
        assert request.cancel_reason == "The assignment expired before delivery completed."
        superseded = m.AuditEvent.objects.get(object_id=str(request.pk), action="request.supersede")
        assert superseded.data == {"previous": "delivering", "state": "canceled"}
        removal = m.AssignmentRequest.objects.get(assignment_id=request.assignment_id, request_type="systemRemove")
        assert removal.state == m.RequestState.DELIVERED
        assert m.RoleGrant.objects.get(assignment_id=request.assignment_id).state == m.GrantState.REVOKED
        assert members_of(m.ResourceRole.objects.get(package_links__package=package)) == set()
        check_invariants()


class TestQueryCounts:
    def test_expiring_n_or_2n_costs_the_same_queries_per_batch(self, make_package, deliver):
        counts = []
        for size in (4, 8):
            delivered(make_package, deliver, people(size), expiration_days=5)
            with after(6):
                count, expired = queries(lambda: assignments.expire_due_assignments(batch_size=100))
            assert expired == size
            counts.append(count)
        assert counts[0] == counts[1] <= 16

    def test_applying_a_review_of_n_or_2n_costs_the_same_queries(self, make_package, deliver, admin):
        counts = []
        for size in (4, 8):
            package = delivered(make_package, deliver, people(size))
            policy = package.policies.get()
            reviews.save_settings(
                policy,
                reviews.ReviewSpec(
                    enabled=True,
                    start_at=timezone.now() - timedelta(minutes=1),
                    reviewers=[("user", admin.pk, False)],
                    justification_required=False,
                ),
                None,
            )
            reviews.start_due_instances()
            instance = m.AccessReviewInstance.objects.get(policy=policy)
            instance.decisions.update(decision=m.ReviewDecision.DENY, reviewed_at=timezone.now())
            reviews.end_instance(None, instance.pk)
            count, report = queries(lambda: reviews.apply_instance(None, instance.pk))  # noqa: B023
            assert report.removed == size
            counts.append(count)
        assert counts[0] == counts[1]

    def test_a_package_without_roles_settles_in_the_batch(self, make_package, deliver):
        package = make_package(roles=0, expiration_days=1)
        who = people(3)
        for person in who:
            requests.submit_request(person, package.pk)
        deliver()
        with after(1):
            assert assignments.expire_due_assignments() == 3
        removals = m.AssignmentRequest.objects.filter(request_type=m.RequestType.SYSTEM_REMOVE)
        assert set(removals.values_list("state", flat=True)) == {m.RequestState.DELIVERED}
        assert m.OutboundEmail.objects.filter(kind="assignment_expired").count() == 3
        assert settings.SITE_URL  # links are absolute (rendered from SITE_URL when sent)
        check_invariants()


class TestPlannerStatistics:
    def test_a_large_expiry_refreshes_the_grant_statistics_and_a_small_one_does_not(
        self, make_package, deliver, monkeypatch
    ):
        need(connection.vendor == "postgresql", "the planner's statistics are PostgreSQL's (set DATABASE_URL)")
        monkeypatch.setattr(endings, "STATISTICS_AFTER", 4)
        delivered(make_package, deliver, people(3), expiration_days=1)
        with after(1), CaptureQueriesContext(connection) as small:
            assert assignments.expire_due_assignments() == 3
        delivered(make_package, deliver, people(4), expiration_days=1)
        with after(2), CaptureQueriesContext(connection) as large:
            assert assignments.expire_due_assignments() == 4
        analyzed = [q["sql"] for q in large if q["sql"].startswith("ANALYZE")]
        assert analyzed == ['ANALYZE "governance_rolegrant"']
        assert not [q for q in small if q["sql"].startswith("ANALYZE")]
