"""Access reviews (DESIGN §2 "Access review", rule 14): recurring recertification of a
policy's assignments.

A policy's review settings live on the policy (Graph's ``reviewSettings``) with its
reviewers in :class:`PolicyReviewer`. Each period is an :class:`AccessReviewInstance` with
one :class:`AccessReviewDecision` per assignment that was active when it started. Who
reviews a decision is settled when the instance starts: the decision's own ``reviewer``
(the person's manager, or the person themself in a self-review), or the people listed in
:class:`InstanceReviewer` (named people and group members see every decision; fallback
reviewers only those nobody else reviews).
"""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext_lazy as _

from governance.models.assignment import Assignment
from governance.models.identity import DirectoryGroup, User
from governance.models.labels import ChoiceLabels
from governance.models.package import AccessPackage
from governance.models.policy import AssignmentPolicy, ExpirationBehavior
from governance.models.querysets import CatalogScoped
from governance.models.request import AssignmentRequest


class ReviewerKind(models.TextChoices):
    USER = "user", "Specific user"
    GROUP = "group", "Members of a group"
    MANAGER = "manager", "The person's manager"


class PolicyReviewer(models.Model):
    """One entry of a policy's primary or fallback reviewers (Graph ``subjectSet``)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    policy = models.ForeignKey(AssignmentPolicy, on_delete=models.CASCADE, related_name="reviewers")
    kind = models.CharField(max_length=8, choices=ReviewerKind.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    group = models.ForeignKey(DirectoryGroup, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    is_fallback = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(kind="user", user__isnull=False, group__isnull=True)
                    | Q(kind="group", group__isnull=False, user__isnull=True)
                    | Q(kind="manager", user__isnull=True, group__isnull=True, is_fallback=False)
                ),
                name="reviewer_kind_matches_target",
            ),
        ]

    def __str__(self) -> str:
        if self.kind == ReviewerKind.USER:
            label = str(self.user)
        elif self.kind == ReviewerKind.GROUP:
            label = f"members of {self.group}"
        else:
            label = self.get_kind_display()
        return f"{label} (fallback)" if self.is_fallback else label


class InstanceState(models.TextChoices):
    """Graph's ``accessReviewInstance.status`` words."""

    IN_PROGRESS = "InProgress", "In progress"
    COMPLETED = "Completed", "Completed"
    APPLIED = "Applied", "Applied"

    OPEN: ClassVar[frozenset[str]]


InstanceState.OPEN = frozenset({"InProgress"})


class AccessReviewInstance(CatalogScoped, models.Model):
    """One period of a policy's review. Its settings are copied at the start, so editing
    the policy changes the next instance, not this one."""

    catalog_path = "package__catalog_id"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    policy = models.ForeignKey(AssignmentPolicy, on_delete=models.CASCADE, related_name="review_instances")
    package = models.ForeignKey(AccessPackage, on_delete=models.CASCADE, related_name="review_instances")
    state = models.CharField(max_length=16, choices=InstanceState.choices, default=InstanceState.IN_PROGRESS)
    start_at = models.DateTimeField()
    end_at = models.DateTimeField()
    justification_required = models.BooleanField(default=True)
    recommendations_enabled = models.BooleanField(default=True)
    self_review = models.BooleanField(default=False)
    expiration_behavior = models.CharField(
        max_length=32, choices=ExpirationBehavior.choices, default=ExpirationBehavior.KEEP
    )
    reminder_sent_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    modified_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-start_at"]
        indexes = [models.Index(fields=["state", "end_at"], name="review_instance_due")]
        constraints = [
            # The beat job starts a period once, whatever two beats do at the same moment.
            models.UniqueConstraint(fields=["policy", "start_at"], name="one_review_instance_per_period"),
        ]

    def __str__(self) -> str:
        return f"Access review of {self.package} ({self.start_at:%Y-%m-%d})"

    @property
    def is_open(self) -> bool:
        return self.state in InstanceState.OPEN


class InstanceReviewer(models.Model):
    """Someone who reviews an instance's decisions: every one (a named primary reviewer),
    or only those nobody else reviews (a fallback reviewer)."""

    instance = models.ForeignKey(AccessReviewInstance, on_delete=models.CASCADE, related_name="reviewer_rows")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    is_fallback = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["instance", "user"], name="one_reviewer_row")]

    def __str__(self) -> str:
        return f"{self.user_id} reviews {self.instance_id}"


class ReviewDecision(models.TextChoices):
    """Graph's ``accessReviewInstanceDecisionItem.decision`` and ``recommendation`` words."""

    APPROVE = "Approve", _("Approved")
    DENY = "Deny", _("Denied")
    NOT_REVIEWED = "NotReviewed", _("Not reviewed")
    NOT_AVAILABLE = "NotAvailable", _("No recommendation")


class ApplyResult(models.TextChoices):
    """Graph's ``applyResult`` words."""

    NEW = "New", "Not applied"
    APPLIED = "AppliedSuccessfully", "Applied"
    NOT_FOUND = "AppliedSuccessfullyButObjectNotFound", "Access already ended"
    KEPT = "ApplyNotSupported", "Access kept"


class DecisionQuerySet(models.QuerySet["AccessReviewDecision"]):
    def reviewable_by(self, person: User) -> DecisionQuerySet:
        """Rule 14: the decisions this person reviews, and nobody else's. Their own only in a
        self-review (a named reviewer never recertifies themself)."""
        if not getattr(person, "is_authenticated", False) or not person.is_active:
            return self.none()
        rows = InstanceReviewer.objects.filter(instance=OuterRef("instance"), user=person)
        return self.filter(
            Q(reviewer=person)
            | (
                ~Q(target=person)
                & (
                    Exists(rows.filter(is_fallback=False))
                    | (Q(reviewer__isnull=True) & Exists(rows.filter(is_fallback=True)))
                )
            )
        )


class AccessReviewDecision(CatalogScoped, ChoiceLabels, models.Model):
    """One assignment under review in one instance."""

    catalog_path = "instance__package__catalog_id"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    instance = models.ForeignKey(AccessReviewInstance, on_delete=models.CASCADE, related_name="decisions")
    assignment = models.ForeignKey(Assignment, on_delete=models.CASCADE, related_name="review_decisions")
    target = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reviews_of_me")
    # The one person who reviews this row (manager, or the person in a self-review); None
    # when the instance's reviewers do.
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="reviews_to_do"
    )
    decision = models.CharField(max_length=16, choices=ReviewDecision.choices, default=ReviewDecision.NOT_REVIEWED)
    justification = models.TextField(blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reviewed_by_label = models.CharField(max_length=256, blank=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    recommendation = models.CharField(
        max_length=16, choices=ReviewDecision.choices, default=ReviewDecision.NOT_AVAILABLE
    )
    recommendation_reason = models.CharField(max_length=256, blank=True)
    apply_result = models.CharField(max_length=40, choices=ApplyResult.choices, default=ApplyResult.NEW)
    applied_at = models.DateTimeField(null=True, blank=True)
    removal_request = models.ForeignKey(
        AssignmentRequest, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    objects = DecisionQuerySet.as_manager()

    class Meta:
        ordering = ["instance", "id"]
        indexes = [
            models.Index(fields=["instance", "decision"], name="review_decision_state"),
            models.Index(fields=["reviewer", "instance"], name="review_decision_reviewer"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["instance", "assignment"], name="one_decision_per_assignment"),
        ]

    def __str__(self) -> str:
        return f"Review of {self.target_id} in {self.instance_id}"

    def outcome(self, behavior: str) -> str:
        """What applying does with this row: Approve (keep) or Deny (remove)."""
        if self.decision in (ReviewDecision.APPROVE, ReviewDecision.DENY):
            return self.decision
        if behavior == ExpirationBehavior.REMOVE:
            return ReviewDecision.DENY
        if behavior == ExpirationBehavior.RECOMMENDATION and self.recommendation == ReviewDecision.DENY:
            return ReviewDecision.DENY
        return ReviewDecision.APPROVE


class ReviewLink(models.Model):
    """The stored half of an emailed review link (the approval links' machinery): one
    reviewer, one instance, used at most once; expires when the instance ends."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    instance = models.ForeignKey(AccessReviewInstance, on_delete=models.CASCADE, related_name="links")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Review link for {self.instance_id} to {self.reviewer_id}"
