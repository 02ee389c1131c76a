"""Assignment policies: who may request, with what approval, for how long."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from governance.models.catalog import CatalogState
from governance.models.identity import (
    ConnectedOrganization,
    ConnectedOrganizationState,
    DirectoryGroup,
    GroupMembership,
    User,
)
from governance.models.package import AccessPackage
from governance.models.querysets import CatalogScoped


class TargetScope(models.TextChoices):
    """Who can request (Graph's ``allowedTargetScope`` values)."""

    NO_ONE = "notSpecified", "No one (admin direct assignment only)"
    SPECIFIC_USERS = "specificDirectoryUsers", "Specific users and groups in your directory"
    ALL_MEMBERS = "allMemberUsers", "All members (excluding external users)"
    ALL_USERS = "allDirectoryUsers", "All users (including external users)"
    SPECIFIC_ORGANIZATIONS = (
        "specificConnectedOrganizationUsers",
        "Specific connected organizations",
    )
    ALL_ORGANIZATIONS = (
        "allConfiguredConnectedOrganizationUsers",
        "All configured connected organizations",
    )
    ALL_EXTERNAL = "allExternalUsers", "All users not in your directory"


class ExpirationType(models.TextChoices):
    NEVER = "never", "Never"
    ON_DATE = "on_date", "On a date"
    AFTER_DAYS = "after_days", "Number of days"
    AFTER_HOURS = "after_hours", "Number of hours"


class ReviewRecurrence(models.TextChoices):
    WEEKLY = "weekly", "Weekly"
    MONTHLY = "monthly", "Monthly"
    QUARTERLY = "quarterly", "Quarterly"
    SEMI_ANNUALLY = "semiAnnually", "Semi-annually"
    ANNUALLY = "annually", "Annually"


# Months between two starts (weekly is counted in days).
RECURRENCE_MONTHS: dict[str, int] = {
    ReviewRecurrence.MONTHLY: 1,
    ReviewRecurrence.QUARTERLY: 3,
    ReviewRecurrence.SEMI_ANNUALLY: 6,
    ReviewRecurrence.ANNUALLY: 12,
}


def add_period(start: datetime, recurrence: str, periods: int = 1) -> datetime:
    """``start`` moved by ``periods`` recurrences (month ends clamp: Jan 31 → Feb 28)."""
    if recurrence == ReviewRecurrence.WEEKLY:
        return start + timedelta(weeks=periods)
    months = start.month - 1 + RECURRENCE_MONTHS[recurrence] * periods
    year, month = start.year + months // 12, months % 12 + 1
    for day in (start.day, 30, 29, 28):
        try:
            return start.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    raise ValueError(f"Cannot move {start} by {periods} x {recurrence}.")  # pragma: no cover


class ExpirationBehavior(models.TextChoices):
    """ "If reviewers don't respond" (Graph's ``expirationBehavior``)."""

    KEEP = "keepAccess", "Keep access"
    REMOVE = "removeAccess", "Remove access"
    RECOMMENDATION = "acceptAccessRecommendation", "Take recommendations"


class PolicyQuerySet(models.QuerySet["AssignmentPolicy"]):
    def requestable_by(self, user: User) -> PolicyQuerySet:
        """Enabled policies through which ``user`` may request (DESIGN §2 "who can request",
        rules 9 and 11). One query answers it for a list of hundreds of packages and for a
        single check, so a list and a form can never disagree."""
        if not user.is_authenticated or not user.is_active:
            return self.none()
        policies = self.filter(
            pk__in=_union(branch.values("pk") for branch in _audiences(user)),
            package__catalog__state=CatalogState.PUBLISHED,
        )
        if user.is_external:
            policies = policies.filter(package__catalog__is_externally_visible=True)
        return policies

    def requestable_package_ids(self, user: User) -> models.QuerySet[Any]:
        """The ids of the packages :meth:`requestable_by` has a policy of (``package_id``),
        for My Access's list: the same branches, read for their package (DESIGN §8: 200,000
        policies; each branch starts from an index: the person, their groups, their
        organization, or the few scopes open to everyone, on the partial index
        ``policy_open_scope``). The catalog's conditions are the package list's to add
        (:func:`published_for`): the same rows as :meth:`requestable_by`'s packages."""
        if not user.is_authenticated or not user.is_active:
            return AssignmentPolicy.objects.none().values("package_id")
        return _union(branch.values("package_id") for branch in _audiences(user))


def _union(parts: Iterable[models.QuerySet[Any]]) -> models.QuerySet[Any]:
    first, *rest = parts
    return first.union(*rest) if rest else first


def _audiences(user: User) -> list[models.QuerySet[AssignmentPolicy]]:
    """The enabled policies that admit ``user``, as one queryset per way of being admitted
    (each answered from an index, none ORed with another: an OR across them read every
    policy). Their union is who may request through what."""
    enabled = AssignmentPolicy.objects.filter(enabled=True).order_by()
    open_to = [TargetScope.ALL_USERS]
    branches = [
        enabled.filter(allowed_target_scope=TargetScope.SPECIFIC_USERS, specific_users=user),
        enabled.filter(
            allowed_target_scope=TargetScope.SPECIFIC_USERS,
            specific_groups__in=GroupMembership.objects.filter(user=user).values("group_id"),
        ),
    ]
    if user.is_external:
        open_to.append(TargetScope.ALL_EXTERNAL)
        organization = user.connected_organization
        if organization is not None:
            branches.append(
                enabled.filter(
                    allowed_target_scope=TargetScope.SPECIFIC_ORGANIZATIONS, specific_organizations=organization
                )
            )
            if organization.state == ConnectedOrganizationState.CONFIGURED:
                open_to.append(TargetScope.ALL_ORGANIZATIONS)
    else:
        open_to.append(TargetScope.ALL_MEMBERS)
    return [enabled.filter(allowed_target_scope__in=open_to), *branches]


def published_for(user: User, packages: models.QuerySet[AccessPackage]) -> models.QuerySet[AccessPackage]:
    """Packages in a published catalog, and for an external user in one visible to external
    users: the catalog's part of :meth:`PolicyQuerySet.requestable_by`."""
    packages = packages.filter(catalog__state=CatalogState.PUBLISHED)
    if user.is_external:
        packages = packages.filter(catalog__is_externally_visible=True)
    return packages


class AssignmentPolicy(CatalogScoped, models.Model):
    catalog_path = "package__catalog_id"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    package = models.ForeignKey(AccessPackage, on_delete=models.CASCADE, related_name="policies")
    display_name = models.CharField("Name", max_length=256)
    description = models.TextField("Description", blank=True)

    allowed_target_scope = models.CharField(
        "Who can request", max_length=48, choices=TargetScope.choices, default=TargetScope.SPECIFIC_USERS
    )
    specific_users = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="requestable_policies")
    specific_groups = models.ManyToManyField(DirectoryGroup, blank=True, related_name="requestable_policies")
    specific_organizations = models.ManyToManyField(ConnectedOrganization, blank=True, related_name="policies")

    requires_approval = models.BooleanField("Require approval", default=False)
    requestor_justification_required = models.BooleanField("Require requestor justification", default=False)
    approver_justification_required = models.BooleanField("Require approver justification", default=False)
    allow_custom_schedule = models.BooleanField(
        "Request for specific period?",
        default=False,
        help_text="Requestors may ask for a start and an end within the expiration below.",
    )

    expiration_type = models.CharField(
        "Expiration", max_length=16, choices=ExpirationType.choices, default=ExpirationType.AFTER_DAYS
    )
    expiration_date = models.DateTimeField(null=True, blank=True)
    expiration_days = models.PositiveIntegerField(null=True, blank=True, default=365)
    expiration_hours = models.PositiveIntegerField(null=True, blank=True)

    allow_extension = models.BooleanField("Allow users to extend access", default=False)
    # Graph's requestorSettings.enableTargetsToSelfRemoveAccess: may people give up their own
    # access (userRemove) that came through this policy.
    allow_self_removal = models.BooleanField("Allow users to remove their own access", default=True)
    extension_requires_approval = models.BooleanField("Require approval to extend", default=False)
    enabled = models.BooleanField("Enabled", default=True)
    # The generation of approval stages new requests start with. Editing the stages writes a
    # new generation; requests already submitted keep theirs (Entra: in-flight requests keep
    # the policy they were submitted under).
    stage_generation = models.PositiveIntegerField(default=1)

    # Access reviews (Graph ``reviewSettings``; reviewers in ``reviewers``, models/review.py).
    review_enabled = models.BooleanField("Access reviews", default=False)
    review_start_at = models.DateTimeField("Review start", null=True, blank=True)
    review_recurrence = models.CharField(
        "Recurrence", max_length=16, choices=ReviewRecurrence.choices, default=ReviewRecurrence.QUARTERLY
    )
    review_duration_days = models.PositiveSmallIntegerField("Review duration (days)", default=14)
    review_self = models.BooleanField("Self-review", default=False)
    review_justification_required = models.BooleanField("Require reviewer justification", default=True)
    review_recommendations = models.BooleanField("Show recommendations", default=True)
    review_expiration_behavior = models.CharField(
        "If reviewers don't respond", max_length=32, choices=ExpirationBehavior.choices, default=ExpirationBehavior.KEEP
    )
    # When the beat job starts the next instance (None: reviews off).
    review_next_at = models.DateTimeField(null=True, blank=True, db_index=True)

    created_at = models.DateTimeField(auto_now_add=True)
    modified_at = models.DateTimeField(auto_now=True)

    objects = PolicyQuerySet.as_manager()

    class Meta:
        ordering = ["created_at"]
        verbose_name_plural = "assignment policies"
        indexes = [
            # The Assignments list sorts by the policy's name.
            models.Index(fields=["display_name"], name="policy_display_name"),
            # My Access: the packages of the policies open to everyone of a kind (all members,
            # all users, ...), read from the index alone (PolicyQuerySet.requestable_package_ids).
            models.Index(
                fields=["allowed_target_scope", "package"], condition=models.Q(enabled=True), name="policy_open_scope"
            ),
        ]

    def __str__(self) -> str:
        return self.display_name

    def current_stages(self) -> models.QuerySet[ApprovalStage]:
        """The approval stages a request submitted now goes through."""
        return self.stages.filter(generation=self.stage_generation).order_by("order")

    @property
    def is_admin_direct(self) -> bool:
        return self.allowed_target_scope == TargetScope.NO_ONE

    def max_duration(self) -> timedelta | None:
        """The longest an assignment may last from its start, or None (no limit / a date)."""
        if self.expiration_type == ExpirationType.AFTER_DAYS and self.expiration_days:
            return timedelta(days=self.expiration_days)
        if self.expiration_type == ExpirationType.AFTER_HOURS and self.expiration_hours:
            return timedelta(hours=self.expiration_hours)
        return None

    def default_end(self, start: datetime) -> datetime | None:
        """Where an assignment starting at ``start`` ends when nobody asked for an end."""
        if self.expiration_type == ExpirationType.ON_DATE:
            return self.expiration_date
        duration = self.max_duration()
        return start + duration if duration else None

    def latest_end(self, start: datetime) -> datetime | None:
        """The latest end the policy allows for an assignment starting at ``start``."""
        return self.default_end(start)

    def describe_expiration(self) -> str:
        if self.expiration_type == ExpirationType.ON_DATE and self.expiration_date:
            return _("until %(date)s") % {"date": f"{self.expiration_date:%Y-%m-%d %H:%M}"}
        if self.expiration_type == ExpirationType.AFTER_DAYS and self.expiration_days:
            days = self.expiration_days
            return ngettext("for %(days)s days", "for %(days)s days", days) % {"days": days}
        if self.expiration_type == ExpirationType.AFTER_HOURS and self.expiration_hours:
            hours = self.expiration_hours
            return ngettext("for %(hours)s hours", "for %(hours)s hours", hours) % {"hours": hours}
        return _("with no end date")


class ApprovalStage(CatalogScoped, models.Model):
    """One of 1-3 approval stages; any one approver of the stage decides it.

    Stages come in generations: a policy's ``stages`` holds every generation, its
    ``current_stages()`` the one new requests get, and a request routes by the generation
    it was submitted under (``AssignmentRequest.approval_stages()``). A generation's rows are
    never changed once written, so a pending request never loses its approvers.
    """

    catalog_path = "policy__package__catalog_id"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    policy = models.ForeignKey(AssignmentPolicy, on_delete=models.CASCADE, related_name="stages")
    generation = models.PositiveIntegerField(default=1)
    order = models.PositiveSmallIntegerField(default=1)
    timeout_days = models.PositiveSmallIntegerField(
        default=14, help_text="Without a decision in this many days the request is canceled."
    )

    class Meta:
        ordering = ["policy", "generation", "order"]
        constraints = [
            models.UniqueConstraint(fields=["policy", "generation", "order"], name="unique_stage_order"),
            models.CheckConstraint(condition=models.Q(order__gte=1, order__lte=3), name="stage_order_1_to_3"),
            models.CheckConstraint(condition=models.Q(timeout_days__gte=1), name="stage_timeout_positive"),
        ]

    def __str__(self) -> str:
        return f"Stage {self.order}"


class ApproverKind(models.TextChoices):
    USER = "user", "Specific user"
    GROUP = "group", "Members of a group"
    MANAGER = "manager", "Requestor's manager"
    SPONSOR = "sponsor", "Requestor's sponsor"


class StageApprover(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    stage = models.ForeignKey(ApprovalStage, on_delete=models.CASCADE, related_name="approvers")
    kind = models.CharField(max_length=8, choices=ApproverKind.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    group = models.ForeignKey(DirectoryGroup, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    is_fallback = models.BooleanField(
        default=False, help_text="Asked only when the primary approvers resolve to nobody."
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(kind="user", user__isnull=False, group__isnull=True)
                    | models.Q(kind="group", group__isnull=False, user__isnull=True)
                    | models.Q(kind__in=["manager", "sponsor"], user__isnull=True, group__isnull=True)
                ),
                name="approver_kind_matches_target",
            ),
        ]

    def __str__(self) -> str:
        if self.kind == ApproverKind.USER:
            label = str(self.user)
        elif self.kind == ApproverKind.GROUP:
            label = f"members of {self.group}"
        else:
            label = self.get_kind_display()
        return f"{label} (fallback)" if self.is_fallback else label


# --- Requestor information: questions (rule 15) -----------------------------------------


class QuestionKind(models.TextChoices):
    SHORT_TEXT = "shortText", "Short text"
    LONG_TEXT = "longText", "Long text"
    MULTIPLE_CHOICE = "multipleChoice", "Multiple choice"


class PolicyQuestion(CatalogScoped, models.Model):
    """A question a policy asks the requestor (Graph ``accessPackageQuestion``). Its answers
    are copied onto each request with the words asked, so editing or deleting a question
    never changes what a submitted request says."""

    catalog_path = "policy__package__catalog_id"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    policy = models.ForeignKey(AssignmentPolicy, on_delete=models.CASCADE, related_name="questions")
    sequence = models.PositiveSmallIntegerField(default=1)
    kind = models.CharField(max_length=16, choices=QuestionKind.choices, default=QuestionKind.SHORT_TEXT)
    text = models.CharField(max_length=1000)
    is_required = models.BooleanField(default=False)
    # Graph's isAnswerEditable: whether an administrator's update (adminUpdate) may change it.
    is_answer_editable = models.BooleanField(default=True)
    # Multiple choice: [{"value": "KE", "text": "Kenya", "localizations": [...]}, ...].
    choices = models.JSONField(default=list, blank=True)
    regex_pattern = models.CharField(max_length=500, blank=True)
    # [{"languageCode": "fr-CA", "text": "..."}]: kept and given back to Graph clients.
    localizations = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["policy", "sequence"]

    def __str__(self) -> str:
        return self.text

    @property
    def is_choice(self) -> bool:
        return self.kind == QuestionKind.MULTIPLE_CHOICE

    def choice_text(self, value: str) -> str | None:
        for choice in self.choices:
            if choice.get("value") == value:
                return str(choice.get("text") or value)
        return None
