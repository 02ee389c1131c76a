"""Assignments, the role grants they want, and every delivery attempt."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from governance.models.connector import Connector, ResourceRole
from governance.models.identity import User
from governance.models.labels import ChoiceLabels
from governance.models.package import AccessPackage, RoleOperation
from governance.models.policy import AssignmentPolicy
from governance.models.querysets import CatalogScoped


class AssignmentState(models.TextChoices):
    DELIVERING = "delivering", _("Delivering")
    DELIVERED = "delivered", _("Delivered")
    PARTIALLY_DELIVERED = "partiallyDelivered", _("Partially fulfilled")
    DELIVERY_FAILED = "deliveryFailed", _("Delivery failed")
    EXPIRED = "expired", _("Expired")
    REMOVED = "removed", _("Removed")

    ACTIVE: ClassVar[frozenset[str]]
    ENDED: ClassVar[frozenset[str]]


# Active: it still *should* grant access, whatever the target system says today.
AssignmentState.ACTIVE = frozenset({"delivering", "delivered", "partiallyDelivered", "deliveryFailed"})
AssignmentState.ENDED = frozenset({"expired", "removed"})


class AssignmentQuerySet(models.QuerySet["Assignment"]):
    def of_person(self, person: User) -> AssignmentQuerySet:
        """A person's own assignments (My Access)."""
        return self.filter(target=person)

    def active_for(self, target: User, package: AccessPackage) -> AssignmentQuerySet:
        """Rule 12: the person's active assignment to the package, if any."""
        return self.filter(target=target, package=package, state__in=AssignmentState.ACTIVE)

    def due_for_expiry(self, now: datetime) -> AssignmentQuerySet:
        """Rule 6: active assignments whose end has come, oldest end first. Read every minute
        by beat, so it must reach only due rows: through the (state, end_at) index."""
        return self.filter(state__in=AssignmentState.ACTIVE, end_at__lte=now).order_by("end_at")


class Assignment(CatalogScoped, ChoiceLabels, models.Model):
    catalog_path = "package__catalog_id"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # package and target have no index of their own: assignment_package_state and
    # assignment_target_state lead with them (every row written costs each index an entry).
    package = models.ForeignKey(AccessPackage, on_delete=models.CASCADE, related_name="assignments", db_index=False)
    policy = models.ForeignKey(
        AssignmentPolicy, on_delete=models.SET_NULL, null=True, blank=True, related_name="assignments"
    )
    target = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments", db_index=False
    )
    state = models.CharField(max_length=24, choices=AssignmentState.choices, default=AssignmentState.DELIVERING)
    start_at = models.DateTimeField()
    end_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    modified_at = models.DateTimeField(auto_now=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    objects = AssignmentQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["package", "state", "-created_at"], name="assignment_package_state"),
            models.Index(fields=["state", "end_at"], name="assignment_state_end"),
            models.Index(fields=["target", "state"], name="assignment_target_state"),
            # The portal's list across packages, newest first, one page at a time.
            models.Index(fields=["created_at", "id"], name="assignment_created"),
            # The same, filtered by one status ("Partially fulfilled", the API's $filter=state):
            # a page reads its 50 rows instead of skipping the other statuses' rows.
            models.Index(fields=["state", "created_at", "id"], name="assignment_state_created"),
            # Sorted by Start or End (issue 14 item 5): a page reads its 50 rows, at any size.
            models.Index(fields=["start_at", "id"], name="assignment_start"),
            models.Index(fields=["end_at", "id"], name="assignment_end"),
        ]
        constraints = [
            # Rule 12: one active assignment per person and package.
            models.UniqueConstraint(
                fields=["target", "package"],
                condition=models.Q(state__in=["delivering", "delivered", "partiallyDelivered", "deliveryFailed"]),
                name="one_active_assignment",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.package} · {self.target}"

    @property
    def is_active(self) -> bool:
        return self.state in AssignmentState.ACTIVE


class GrantState(models.TextChoices):
    PENDING = "pending", _("Pending")
    GRANTED = "granted", _("Granted")
    FAILED = "failed", _("Failed")
    REVOKING = "revoking", _("Revoking")
    REVOKED = "revoked", _("Revoked")
    DRIFTED = "drifted", _("Drifted")

    WANTED: ClassVar[frozenset[str]]
    UNWANTED: ClassVar[frozenset[str]]
    WORK: ClassVar[frozenset[str]]


# Wanted: the assignment wants the person to have this role (whatever the outcome so far).
GrantState.WANTED = frozenset({"pending", "granted", "failed", "drifted"})
GrantState.UNWANTED = frozenset({"revoking", "revoked"})
# Work a delivery worker has to do.
GrantState.WORK = frozenset({"pending", "revoking"})


class RoleGrantQuerySet(models.QuerySet["RoleGrant"]):
    def justifying(self, subject_ids: Iterable[Any], role_ids: Iterable[Any]) -> RoleGrantQuerySet:
        """Rule 7: the grants that justify a person's access to a role — wanted by an active
        assignment (of any package). The delivery engine releases a revoke without calling
        the target when one remains (excluding the grants being revoked); the what-if of
        services/explain.py asks the same question before anything is removed."""
        return self.justifying_any(subject_id__in=set(subject_ids), resource_role_id__in=set(role_ids))

    def justifying_any(self, **where: Any) -> RoleGrantQuerySet:
        """The same justification, for every person: who holds a role (or a resource's
        roles) through an active assignment (the resource page and its API filter)."""
        return self.filter(state__in=GrantState.WANTED, assignment__state__in=AssignmentState.ACTIVE, **where)


class RoleGrant(CatalogScoped, ChoiceLabels, models.Model):
    """One assignment x one resource role: the desired state and how delivering it went."""

    catalog_path = "assignment__package__catalog_id"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # assignment, resource_role and subject have no index of their own: one_grant_per_role,
    # grant_role_subject and grant_subject_role_state lead with them. A delivery batch
    # writes every index of its grants, so each one here costs every grant delivered.
    assignment = models.ForeignKey(Assignment, on_delete=models.CASCADE, related_name="grants", db_index=False)
    resource_role = models.ForeignKey(ResourceRole, on_delete=models.PROTECT, related_name="grants", db_index=False)
    # Denormalized from the assignment: overlap (rule 7) and drift look grants up by person x role.
    subject = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="role_grants", db_index=False
    )
    # The request whose delivery this grant currently serves (its attempts count as that
    # request's delivery errors), and the role operation that created or revoked it.
    request = models.ForeignKey(
        "governance.AssignmentRequest", on_delete=models.SET_NULL, null=True, blank=True, related_name="grants"
    )
    operation = models.ForeignKey(
        RoleOperation, on_delete=models.SET_NULL, null=True, blank=True, related_name="grants", db_index=False
    )
    state = models.CharField(max_length=16, choices=GrantState.choices, default=GrantState.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    # Bumped each time the grant is sent back to work, so a target that deduplicates on an
    # idempotency key sees a retry as the same change and a later re-grant as a new one.
    generation = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    granted_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = RoleGrantQuerySet.as_manager()

    class Meta:
        # No default ordering: the engine queries grants constantly and must not join for it.
        indexes = [
            # The delivery claim, per work state, oldest first. Only work is indexed: a
            # granted or revoked grant (nearly all of them) costs this index nothing.
            models.Index(
                fields=["state", "next_attempt_at"],
                name="grant_work",
                condition=models.Q(state__in=["pending", "revoking"]),
            ),
            # A role operation's progress; most grants come from requests (no operation).
            models.Index(fields=["operation"], name="grant_operation", condition=models.Q(operation__isnull=False)),
            # Drift, which is rare, by assignment: the lists' "drifted" mark and filter and the
            # home page's count. Without it PostgreSQL scans every grant for the few drifted
            # ones (110 ms at 1,666,000 grants) before it shows a page of 50 assignments.
            models.Index(fields=["assignment"], name="grant_drifted", condition=models.Q(state="drifted")),
            models.Index(fields=["resource_role", "subject"], name="grant_role_subject"),
            models.Index(fields=["subject", "resource_role", "state"], name="grant_subject_role_state"),
            # Who holds a role (rule 7's justification, the resource page) in the page's
            # order: a page of 10,000 holders reads its rows off the index, unsorted.
            models.Index(
                fields=["resource_role", "subject", "id"],
                name="grant_role_holders",
                condition=models.Q(state__in=["drifted", "failed", "granted", "pending"]),
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["assignment", "resource_role"], name="one_grant_per_role"),
        ]

    def __str__(self) -> str:
        return f"{self.resource_role} for {self.subject_id} ({self.state})"


class Operation(models.TextChoices):
    GRANT = "grant", "Grant"
    REVOKE = "revoke", "Revoke"
    READ = "read", "Read"


class Outcome(models.TextChoices):
    SUCCESS = "success", "Succeeded"
    TRANSIENT = "transient", "Transient error"
    PERMANENT = "permanent", "Permanent error"

    ERRORS: ClassVar[frozenset[str]]


Outcome.ERRORS = frozenset({"transient", "permanent"})


class DeliveryAttempt(CatalogScoped, ChoiceLabels, models.Model):
    """One try to change a target system for one grant: the seeds' "delivery errors"."""

    catalog_path = "grant__assignment__package__catalog_id"

    grant = models.ForeignKey(RoleGrant, on_delete=models.CASCADE, related_name="attempts_log")
    # request and connector have no index of their own: attempt_request_outcome and
    # attempt_connector_recent lead with them.
    request = models.ForeignKey(
        "governance.AssignmentRequest",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="delivery_attempts",
        db_index=False,
    )
    connector = models.ForeignKey(
        Connector, on_delete=models.SET_NULL, null=True, blank=True, related_name="attempts", db_index=False
    )
    operation = models.CharField(max_length=8, choices=Operation.choices)
    outcome = models.CharField(max_length=12, choices=Outcome.choices)
    error_code = models.CharField(max_length=64, blank=True)
    message = models.TextField(blank=True)
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-started_at"]
        indexes = [
            models.Index(fields=["request", "outcome"], name="attempt_request_outcome"),
            # A connector's health on the connectors page: its most recent attempt.
            models.Index(fields=["connector", "-started_at"], name="attempt_connector_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.operation} {self.outcome} at {self.started_at:%Y-%m-%d %H:%M:%S}"


class ExpiryReminder(models.Model):
    """Rule 6: a reminder sent for one end date, so it is never sent twice."""

    assignment = models.ForeignKey(Assignment, on_delete=models.CASCADE, related_name="reminders")
    days_before = models.PositiveSmallIntegerField()
    end_at = models.DateTimeField()
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["assignment", "days_before", "end_at"], name="one_reminder_per_end"),
        ]

    def __str__(self) -> str:
        return f"{self.days_before}-day reminder for {self.assignment_id}"
