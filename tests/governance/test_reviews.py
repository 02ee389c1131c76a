"""Rule 14, access reviews, at the service level: start (set-based), who reviews whom,
decisions until the end, recommendations, end, apply once, emails and links."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from governance import models as m
from governance.errors import InvalidTransition, NotFound, ValidationFailed
from governance.models.policy import add_period
from governance.permissions import reviewable_decisions
from governance.services import reviews
from governance.services.approval_links import LinkUsed
from tests import factories as f
from tests.conftest import members_of

pytestmark = pytest.mark.django_db

APPROVE = m.ReviewDecision.APPROVE
DENY = m.ReviewDecision.DENY


def turn_on(
    policy: m.AssignmentPolicy,
    *,
    reviewers: list[tuple[str, Any, bool]] | None = None,
    start: Any = None,
    **settings: Any,
) -> None:
    spec = reviews.ReviewSpec(
        enabled=True,
        start_at=start or timezone.now() + timedelta(days=1),
        recurrence=settings.pop("recurrence", m.ReviewRecurrence.QUARTERLY),
        reviewers=reviewers if reviewers is not None else [(m.ReviewerKind.MANAGER, None, False)],
        **settings,
    )
    reviews.save_settings(policy, spec, None)


def assign(package: m.AccessPackage, *people: m.User) -> list[m.Assignment]:
    policy = package.policies.get()
    return [f.AssignmentFactory(policy=policy, package=package, target=person) for person in people]


def start_now(policy: m.AssignmentPolicy) -> m.AccessReviewInstance:
    policy.refresh_from_db()
    assert policy.review_next_at is not None
    with time_machine.travel(policy.review_next_at + timedelta(minutes=1), tick=False):
        assert reviews.start_due_instances() == 1
    return m.AccessReviewInstance.objects.get(policy=policy)


def decision_of(instance: m.AccessReviewInstance, person: m.User) -> m.AccessReviewDecision:
    return instance.decisions.get(target=person)


@pytest.fixture
def boss(db: None) -> m.User:
    return f.UserFactory(username="boss")


@pytest.fixture
def alice(boss: m.User) -> m.User:
    return f.UserFactory(username="alice", manager=boss, last_login=timezone.now())


@pytest.fixture
def bob(boss: m.User) -> m.User:
    return f.UserFactory(username="bob", manager=boss, last_login=timezone.now())


class TestStart:
    def test_one_instance_and_one_decision_per_active_assignment(self, make_package, alice, bob, outsider):
        package = make_package()
        policy = package.policies.get()
        assign(package, alice, bob)
        ended = f.AssignmentFactory(policy=policy, package=package, target=outsider, state=m.AssignmentState.EXPIRED)
        turn_on(policy)
        instance = start_now(policy)
        assert instance.state == m.InstanceState.IN_PROGRESS
        assert set(instance.decisions.values_list("target__username", flat=True)) == {"alice", "bob"}
        assert not instance.decisions.filter(assignment=ended).exists()
        assert instance.end_at == instance.start_at + timedelta(days=14)
        assert m.AuditEvent.objects.filter(action="review.started", object_id=str(instance.pk)).exists()

    def test_starts_once_per_period_and_recurs(self, make_package, alice):
        package = make_package()
        policy = package.policies.get()
        assign(package, alice)
        turn_on(policy)
        first = start_now(policy)
        with time_machine.travel(first.start_at + timedelta(days=1), tick=False):
            assert reviews.start_due_instances() == 0
        policy.refresh_from_db()
        assert policy.review_next_at == add_period(first.start_at, m.ReviewRecurrence.QUARTERLY)
        with time_machine.travel(policy.review_next_at + timedelta(minutes=1), tick=False):
            assert reviews.run_due()["started"] == 1
        assert m.AccessReviewInstance.objects.filter(policy=policy).count() == 2

    def test_disabled_reviews_never_start(self, make_package, alice):
        package = make_package()
        assign(package, alice)
        with time_machine.travel(timezone.now() + timedelta(days=400), tick=False):
            assert reviews.start_due_instances() == 0

    def test_settings_are_checked(self, make_package):
        policy = make_package().policies.get()
        with pytest.raises(ValidationFailed, match="who reviews"):
            turn_on(policy, reviewers=[])
        with pytest.raises(ValidationFailed, match="start"):
            reviews.save_settings(policy, reviews.ReviewSpec(enabled=True, reviewers=[("manager", None, False)]), None)
        policy.refresh_from_db()
        assert policy.review_enabled is False


class TestWhoReviews:
    def test_manager_sees_only_their_reports(self, make_package, alice, bob, boss, outsider):
        other_boss = f.UserFactory(username="otherboss")
        carol = f.UserFactory(username="carol", manager=other_boss)
        package = make_package()
        policy = package.policies.get()
        assign(package, alice, bob, carol)
        turn_on(policy)
        instance = start_now(policy)
        assert set(reviewable_decisions(boss).values_list("target__username", flat=True)) == {"alice", "bob"}
        assert set(reviewable_decisions(other_boss).values_list("target__username", flat=True)) == {"carol"}
        assert not reviewable_decisions(outsider).exists()
        # Someone else's reviewee answers 404, and nothing changes.
        with pytest.raises(NotFound):
            reviews.decide(boss, [decision_of(instance, carol).pk], APPROVE, "ok")
        assert decision_of(instance, carol).decision == m.ReviewDecision.NOT_REVIEWED

    def test_fallback_reviewers_review_people_without_a_manager(self, make_package, alice, boss):
        loner = f.UserFactory(username="loner")
        fallback = f.UserFactory(username="fallback")
        package = make_package()
        policy = package.policies.get()
        assign(package, alice, loner)
        turn_on(policy, reviewers=[(m.ReviewerKind.MANAGER, None, False), (m.ReviewerKind.USER, fallback.pk, True)])
        start_now(policy)
        assert set(reviewable_decisions(fallback).values_list("target__username", flat=True)) == {"loner"}
        assert set(reviewable_decisions(boss).values_list("target__username", flat=True)) == {"alice"}

    def test_named_reviewers_and_group_members_see_everyone_but_themselves(self, make_package, alice, bob):
        auditor = f.UserFactory(username="auditor")
        group = f.DirectoryGroupFactory()
        f.GroupMembershipFactory(group=group, user=alice)
        package = make_package()
        policy = package.policies.get()
        assign(package, alice, bob)
        turn_on(policy, reviewers=[(m.ReviewerKind.USER, auditor.pk, False), (m.ReviewerKind.GROUP, group.pk, False)])
        instance = start_now(policy)
        assert set(reviewable_decisions(auditor).values_list("target__username", flat=True)) == {"alice", "bob"}
        # A reviewer never recertifies themself.
        assert set(reviewable_decisions(alice).values_list("target__username", flat=True)) == {"bob"}
        with pytest.raises(NotFound):
            reviews.decide(alice, [decision_of(instance, alice).pk], APPROVE, "mine")

    def test_self_review(self, make_package, alice, bob, boss):
        package = make_package()
        policy = package.policies.get()
        assign(package, alice, bob)
        turn_on(policy, reviewers=[], self_review=True)
        instance = start_now(policy)
        assert list(reviewable_decisions(alice).values_list("target__username", flat=True)) == ["alice"]
        assert not reviewable_decisions(boss).exists()
        reviews.decide(alice, [decision_of(instance, alice).pk], APPROVE, "Still on the project")
        assert decision_of(instance, alice).decision == APPROVE


class TestDecide:
    def test_justification_required_when_the_policy_says(self, make_package, alice, boss):
        package = make_package()
        policy = package.policies.get()
        assign(package, alice)
        turn_on(policy, justification_required=True)
        instance = start_now(policy)
        row = decision_of(instance, alice)
        with pytest.raises(ValidationFailed, match="justification"):
            reviews.decide(boss, [row.pk], DENY, "  ")
        reviews.decide(boss, [row.pk], DENY, "Left the team")
        row.refresh_from_db()
        assert (row.decision, row.justification, row.reviewed_by) == (DENY, "Left the team", boss)
        assert m.AuditEvent.objects.filter(action="review.decided", object_id=str(row.pk)).exists()

    def test_changeable_until_the_end_and_not_after(self, make_package, alice, boss):
        package = make_package()
        policy = package.policies.get()
        assign(package, alice)
        turn_on(policy, justification_required=False)
        instance = start_now(policy)
        row = decision_of(instance, alice)
        with time_machine.travel(instance.start_at + timedelta(days=1), tick=False):
            reviews.decide(boss, [row.pk], DENY)
            reviews.decide(boss, [row.pk], APPROVE)
        assert decision_of(instance, alice).decision == APPROVE
        with (
            time_machine.travel(instance.end_at + timedelta(seconds=1), tick=False),
            pytest.raises(InvalidTransition, match="ended"),
        ):
            reviews.decide(boss, [row.pk], DENY)
        reviews.end_instance(None, instance.pk)
        with pytest.raises(InvalidTransition):
            reviews.decide(boss, [row.pk], DENY)
        assert decision_of(instance, alice).decision == APPROVE

    def test_several_at_once(self, make_package, alice, bob, boss):
        package = make_package()
        policy = package.policies.get()
        assign(package, alice, bob)
        turn_on(policy, justification_required=False)
        instance = start_now(policy)
        reviews.decide(boss, list(instance.decisions.values_list("pk", flat=True)), APPROVE)
        assert set(instance.decisions.values_list("decision", flat=True)) == {APPROVE}

    def test_bad_input(self, make_package, alice, boss):
        package = make_package()
        policy = package.policies.get()
        assign(package, alice)
        turn_on(policy, justification_required=False)
        instance = start_now(policy)
        row = decision_of(instance, alice)
        with pytest.raises(ValidationFailed):
            reviews.decide(boss, [row.pk], "Maybe")
        with pytest.raises(ValidationFailed):
            reviews.decide(boss, [], APPROVE)
        with pytest.raises(NotFound):
            reviews.decide(boss, ["not-a-uuid"], APPROVE)


class TestRecommendations:
    def test_reasons(self, make_package, boss, contoso):
        now = timezone.now()
        active = f.UserFactory(username="active", manager=boss, last_login=now - timedelta(days=2))
        idle = f.UserFactory(username="idle", manager=boss, last_login=now - timedelta(days=45))
        disabled = f.UserFactory(username="disabled", manager=boss, last_login=now, is_active=False)
        gone = f.ExternalUserFactory(username="gone", manager=boss, last_login=now, connected_organization=None)
        guest = f.ExternalUserFactory(username="guest", manager=boss, last_login=now, connected_organization=contoso)
        package = make_package()
        policy = package.policies.get()
        assign(package, active, idle, disabled, gone, guest)
        turn_on(policy)
        instance = start_now(policy)
        got = {d.target.username: (d.recommendation, d.recommendation_reason) for d in instance.decisions.all()}
        assert got["active"][0] == APPROVE
        assert got["guest"][0] == APPROVE
        assert got["idle"] == (DENY, "Has not signed in for 30 days.")
        assert got["disabled"] == (DENY, "The account is disabled.")
        assert got["gone"] == (DENY, "No longer in a connected organization.")

    def test_the_number_of_days_is_a_setting(self, make_package, boss, settings):
        settings.REVIEW_INACTIVE_DAYS = 7
        idle = f.UserFactory(username="idle", manager=boss, last_login=timezone.now() - timedelta(days=10))
        package = make_package()
        policy = package.policies.get()
        assign(package, idle)
        turn_on(policy)
        assert decision_of(start_now(policy), idle).recommendation_reason == "Has not signed in for 7 days."


class TestApply:
    def _review(self, make_package, people, behavior, deliver):
        package = make_package(roles=1)
        policy = package.policies.get()
        from governance.services import assignments

        admin_direct = package.policies.get()
        admin_direct.allowed_target_scope = m.TargetScope.NO_ONE
        admin_direct.save()
        root = f.UserFactory(username="root", is_superuser=True)
        assignments.create_direct_assignments(root, package.pk, policy_id=policy.pk, target_ids=[p.pk for p in people])
        deliver()
        turn_on(policy, expiration_behavior=behavior, justification_required=False)
        return package, start_now(policy)

    def test_denied_removed_approved_kept_once(self, make_package, alice, bob, boss, deliver, mailoutbox):
        package, instance = self._review(make_package, [alice, bob], m.ExpirationBehavior.KEEP, deliver)
        role = m.ResourceRole.objects.get(package_links__package=package)
        assert members_of(role) == {"alice", "bob"}
        reviews.decide(boss, [decision_of(instance, alice).pk], DENY)
        reviews.decide(boss, [decision_of(instance, bob).pk], APPROVE)
        with time_machine.travel(instance.end_at + timedelta(minutes=1), tick=False):
            assert reviews.run_due()["applied"] == 1
            deliver()
        instance.refresh_from_db()
        assert instance.state == m.InstanceState.APPLIED
        assert members_of(role) == {"bob"}
        alice_row = decision_of(instance, alice)
        assert alice_row.apply_result == m.ApplyResult.APPLIED
        assert alice_row.removal_request.request_type == m.RequestType.SYSTEM_REMOVE
        assert alice_row.removal_request.removal_reason == m.RemovalReason.REVIEW
        assert alice_row.assignment.state == m.AssignmentState.REMOVED
        assert m.Assignment.objects.get(target=bob, package=package).state == m.AssignmentState.DELIVERED
        # The person removed is told, in the review's words.
        told = m.OutboundEmail.objects.filter(recipient=alice, kind="review_removed")
        assert told.count() == 1
        assert "access review" in told.get().subject
        # Applying twice is a no-op.
        requests_before = m.AssignmentRequest.objects.count()
        assert reviews.apply_instance(None, instance.pk).already_applied
        assert m.AssignmentRequest.objects.count() == requests_before
        assert m.AuditEvent.objects.filter(action="review.applied", object_id=str(instance.pk)).count() == 1

    @pytest.mark.parametrize(
        ("behavior", "removed"),
        [
            (m.ExpirationBehavior.KEEP, set()),
            (m.ExpirationBehavior.REMOVE, {"alice", "idle"}),
            (m.ExpirationBehavior.RECOMMENDATION, {"idle"}),
        ],
    )
    def test_not_reviewed_three_ways(self, make_package, alice, boss, deliver, behavior, removed):
        idle = f.UserFactory(username="idle", manager=boss, last_login=timezone.now() - timedelta(days=90))
        _, instance = self._review(make_package, [alice, idle], behavior, deliver)
        reviews.apply_instance(None, instance.pk)
        gone = set(
            m.Assignment.objects.filter(state=m.AssignmentState.REMOVED).values_list("target__username", flat=True)
        )
        assert gone == removed

    def test_assignment_removed_during_the_review(self, make_package, alice, boss, deliver):
        _, instance = self._review(make_package, [alice], m.ExpirationBehavior.KEEP, deliver)
        row = decision_of(instance, alice)
        reviews.decide(boss, [row.pk], DENY)
        from governance.services import assignments

        root = m.User.objects.get(username="root")
        assignments.remove_assignment(root, row.assignment_id, "left")
        deliver()
        report = reviews.apply_instance(None, instance.pk)
        assert (report.removed, report.already_ended) == (0, 1)
        assert decision_of(instance, alice).apply_result == m.ApplyResult.NOT_FOUND

    def test_rule_7_another_package_keeps_the_shared_role(self, make_package, alice, boss, deliver):
        package, instance = self._review(make_package, [alice], m.ExpirationBehavior.KEEP, deliver)
        role = m.ResourceRole.objects.get(package_links__package=package)
        other = make_package(roles=0)
        f.PackageResourceRoleFactory(package=other, resource_role=role)
        from governance.services import assignments

        other_policy = other.policies.get()
        other_policy.allowed_target_scope = m.TargetScope.NO_ONE
        other_policy.save()
        root = m.User.objects.get(username="root")
        assignments.create_direct_assignments(root, other.pk, policy_id=other_policy.pk, target_ids=[alice.pk])
        deliver()
        reviews.decide(boss, [decision_of(instance, alice).pk], DENY)
        reviews.apply_instance(None, instance.pk)
        deliver()
        assert members_of(role) == {"alice"}

    def test_stop_early_then_apply_now_needs_a_manager(self, make_package, alice, boss, deliver, catalog_reader):
        _, instance = self._review(make_package, [alice], m.ExpirationBehavior.REMOVE, deliver)
        with pytest.raises(NotFound):
            reviews.end_instance(f.UserFactory(username="nobody"), instance.pk)
        from governance.errors import NotAllowed

        with pytest.raises(NotAllowed):
            reviews.end_instance(catalog_reader, instance.pk)
        root = m.User.objects.get(username="root")
        assert reviews.end_instance(root, instance.pk) is True
        assert reviews.end_instance(root, instance.pk) is False
        report = reviews.apply_instance(root, instance.pk)
        assert report.removed == 1


class TestEmailsAndLinks:
    def test_reviewers_emailed_with_a_single_use_link_and_reminded_halfway(
        self, make_package, alice, bob, boss, client
    ):
        package = make_package()
        policy = package.policies.get()
        assign(package, alice, bob)
        turn_on(policy, justification_required=True)
        instance = start_now(policy)
        [email] = m.OutboundEmail.objects.filter(kind="review_started", recipient=boss)
        assert "2 people" in email.subject
        link = next(word for word in email.body_text.split() if "/link/" in word)
        path = link.removeprefix("http://testserver").split("testserver")[-1]
        path = path[path.index("/myaccess/") :]
        client.force_login(boss)
        # GET shows, changes nothing.
        shown = client.get(path)
        assert shown.status_code == 200
        assert str(alice) in shown.content.decode()
        assert set(instance.decisions.values_list("decision", flat=True)) == {m.ReviewDecision.NOT_REVIEWED}
        # POST without the required justification: a form error, nothing decided.
        row = decision_of(instance, alice)
        refused = client.post(path, {"one": f"{row.pk}:Deny", "justification": ""})
        assert refused.status_code == 200
        assert decision_of(instance, alice).decision == m.ReviewDecision.NOT_REVIEWED
        done = client.post(path, {"one": f"{row.pk}:Deny", "justification": "Moved teams"})
        assert done.status_code == 200
        assert decision_of(instance, alice).decision == DENY
        # Used once: the second POST is refused.
        again = client.post(path, {"one": f"{decision_of(instance, bob).pk}:Approve", "justification": "x"})
        assert again.status_code == LinkUsed.http_status
        assert decision_of(instance, bob).decision == m.ReviewDecision.NOT_REVIEWED
        # Someone else signed in cannot use a link.
        client.force_login(alice)
        assert client.get(path).status_code == 403

        halfway = instance.start_at + (instance.end_at - instance.start_at) / 2 + timedelta(minutes=1)
        with time_machine.travel(halfway, tick=False):
            assert reviews.send_reminders() == 1
            assert reviews.send_reminders() == 0
        [reminder] = m.OutboundEmail.objects.filter(kind="review_started", recipient=boss, subject__startswith="Rem")
        assert "1 person" in reminder.subject

    def test_my_access_lists_only_my_reviewees_and_decides_selected(self, make_package, alice, bob, boss, client):
        package = make_package()
        policy = package.policies.get()
        assign(package, alice, bob)
        turn_on(policy, justification_required=False)
        instance = start_now(policy)
        client.force_login(alice)
        assert "Nobody is waiting" in client.get(reverse("myaccess:reviews")).content.decode()
        # Posting someone else's reviewee: 404.
        someone_else = {"one": f"{decision_of(instance, bob).pk}:Deny"}
        assert client.post(reverse("myaccess:reviews"), someone_else).status_code == 404
        client.force_login(boss)
        page = client.get(reverse("myaccess:reviews")).content.decode()
        assert str(alice) in page
        assert str(bob) in page
        ids = [str(pk) for pk in instance.decisions.values_list("pk", flat=True)]
        answer = client.post(reverse("myaccess:reviews"), {"selected": ids, "decision": "Approve"})
        assert answer.status_code == 302
        assert set(instance.decisions.values_list("decision", flat=True)) == {APPROVE}
