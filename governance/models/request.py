"""Assignment requests and the approval decisions taken on them."""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.conf import settings
from django.db import models

from governance.models.package import AccessPackage
from governance.models.policy import ApprovalStage, AssignmentPolicy
from governance.models.querysets import CatalogScoped, RestrictedQuerySet


class RequestState(models.TextChoices):
    SUBMITTED = "submitted", "Submitted"
    PENDING_APPROVAL = "pendingApproval", "Pending approval"
    SCHEDULED = "scheduled", "Scheduled"
    DELIVERING = "delivering", "Delivering"
    DELIVERED = "delivered", "Delivered"
    PARTIALLY_DELIVERED = "partiallyDelivered", "Partially delivered"
    DELIVERY_FAILED = "deliveryFailed", "Delivery failed"
    DENIED = "denied", "Denied"
    CANCELED = "canceled", "Canceled"

    # Named groups, so a rule reads `state__in=RequestState.OPEN`.
    OPEN: ClassVar[frozenset[str]]
    COMPLETED: ClassVar[frozenset[str]]
    REPROCESSABLE: ClassVar[frozenset[str]]
    ADMIN_CANCELABLE: ClassVar[frozenset[str]]
    REQUESTOR_CANCELABLE: ClassVar[frozenset[str]]


RequestState.OPEN = frozenset({"submitted", "pendingApproval", "scheduled", "delivering"})
RequestState.COMPLETED = frozenset({"delivered", "partiallyDelivered", "deliveryFailed", "denied", "canceled"})
RequestState.REPROCESSABLE = frozenset({"deliveryFailed", "partiallyDelivered"})
RequestState.ADMIN_CANCELABLE = frozenset({"submitted", "pendingApproval", "scheduled", "deliveryFailed"})
RequestState.REQUESTOR_CANCELABLE = frozenset({"pendingApproval"})


class RequestType(models.TextChoices):
    USER_ADD = "userAdd", "User request"
    USER_EXTEND = "userExtend", "User extension"
    USER_REMOVE = "userRemove", "User removal"
    ADMIN_ADD = "adminAdd", "Direct assignment"
    ADMIN_UPDATE = "adminUpdate", "Admin update"
    ADMIN_REMOVE = "adminRemove", "Admin removal"
    SYSTEM_ADD = "systemAdd", "System assignment"
    SYSTEM_REMOVE = "systemRemove", "Expiry"

    ADDS: ClassVar[frozenset[str]]
    REMOVES: ClassVar[frozenset[str]]
    UPDATES: ClassVar[frozenset[str]]


RequestType.ADDS = frozenset({"userAdd", "adminAdd", "systemAdd"})
RequestType.REMOVES = frozenset({"userRemove", "adminRemove", "systemRemove"})
RequestType.UPDATES = frozenset({"userExtend", "adminUpdate"})


class AssignmentRequest(CatalogScoped, models.Model):
    catalog_path = "package__catalog_id"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    request_type = models.CharField(max_length=16, choices=RequestType.choices)
    state = models.CharField(max_length=24, choices=RequestState.choices, default=RequestState.SUBMITTED)
    package = models.ForeignKey(AccessPackage, on_delete=models.CASCADE, related_name="requests")
    policy = models.ForeignKey(
        AssignmentPolicy, on_delete=models.SET_NULL, null=True, blank=True, related_name="requests"
    )
    assignment = models.ForeignKey(
        "governance.Assignment", on_delete=models.SET_NULL, null=True, blank=True, related_name="requests"
    )
    target = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="requests_as_target")
    # Who asked: the person themselves, an administrator, or nobody (the system).
    requestor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="requests_made",
    )
    requestor_label = models.CharField(max_length=256, blank=True)
    justification = models.TextField(blank=True)
    schedule_start = models.DateTimeField(null=True, blank=True)
    schedule_end = models.DateTimeField(null=True, blank=True)

    current_stage = models.PositiveSmallIntegerField(default=0)
    stage_due_at = models.DateTimeField(null=True, blank=True)
    # The generation of its policy's approval stages this request was submitted under: it
    # is routed, decided, reminded and timed out by those, whatever the policy says now.
    stage_generation = models.PositiveIntegerField(default=1)

    created_at = models.DateTimeField(auto_now_add=True)
    modified_at = models.DateTimeField(auto_now=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.TextField(blank=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["package", "state", "-created_at"], name="request_package_state"),
            models.Index(fields=["target", "package"], name="request_target_package"),
            models.Index(fields=["state", "stage_due_at"], name="request_stage_due"),
            models.Index(fields=["state", "schedule_start"], name="request_schedule_start"),
            models.Index(fields=["state", "completed_at"], name="request_completed"),
            # The portal's list across packages, newest first, one page at a time.
            models.Index(fields=["created_at", "id"], name="request_created"),
            models.Index(fields=["state", "created_at", "id"], name="request_state_created"),
        ]
        constraints = [
            # Rule 12 at the database level: one open add-request per person and package,
            # whatever two browsers or API clients do at the same moment.
            models.UniqueConstraint(
                fields=["target", "package"],
                condition=models.Q(
                    state__in=["submitted", "pendingApproval", "scheduled", "delivering"],
                    request_type__in=["userAdd", "adminAdd", "systemAdd"],
                ),
                name="one_open_add_request",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_request_type_display()} · {self.package} · {self.target}"

    @property
    def is_open(self) -> bool:
        return self.state in RequestState.OPEN

    def approval_stages(self) -> models.QuerySet[ApprovalStage]:
        """The approval stages this request goes through (its snapshot of the policy's)."""
        return ApprovalStage.objects.filter(policy_id=self.policy_id, generation=self.stage_generation).order_by(
            "order"
        )


class Decision(models.TextChoices):
    APPROVE = "Approve", "Approved"
    DENY = "Deny", "Denied"


class ApprovalDecision(CatalogScoped, models.Model):
    """One approver's decision on one stage. The unique constraint makes the first one win."""

    catalog_path = "request__package__catalog_id"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    request = models.ForeignKey(AssignmentRequest, on_delete=models.CASCADE, related_name="decisions")
    stage_order = models.PositiveSmallIntegerField()
    stage = models.ForeignKey(ApprovalStage, on_delete=models.SET_NULL, null=True, blank=True, related_name="decisions")
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="approval_decisions"
    )
    approver_label = models.CharField(max_length=256)
    decision = models.CharField(max_length=8, choices=Decision.choices)
    justification = models.TextField(blank=True)
    decided_at = models.DateTimeField(auto_now_add=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["request", "stage_order"]
        constraints = [
            models.UniqueConstraint(fields=["request", "stage_order"], name="one_decision_per_stage"),
        ]

    def __str__(self) -> str:
        return f"Stage {self.stage_order}: {self.get_decision_display()} by {self.approver_label}"
