"""Custom extensions (rule 16): a catalog's signed webhooks, called at a request's or an
assignment's stages, and every call made, recorded on the request like a delivery attempt.

A call is fire-and-forget (a signed event, retried like a webhook) or waits for an answer:
the request then pauses ("Waiting for <extension>") until the external system posts a signed
resume, or until the call's deadline, when the policy's choice (continue or fail) applies.
"""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.db import models

from governance.models.catalog import Catalog
from governance.models.policy import AssignmentPolicy
from governance.models.querysets import CatalogScoped
from governance.models.request import AssignmentRequest


class ExtensionStage(models.TextChoices):
    """When an extension runs (Graph's accessPackageCustomExtensionStage, and ours)."""

    REQUEST_CREATED = "assignmentRequestCreated", "Request is created"
    REQUEST_APPROVED = "assignmentRequestApproved", "Request is approved"
    ASSIGNMENT_GRANTED = "assignmentRequestGranted", "Assignment is granted"
    REMOVAL_SCHEDULED = "assignmentRemovalScheduled", "Removal is scheduled"
    ASSIGNMENT_REMOVED = "assignmentRequestRemoved", "Assignment is removed"

    # The stages a request can wait at, as in Entra (only these take a callbackConfiguration):
    # created (nothing decided yet) and approved (decided, nothing granted yet). The
    # assignment's stages happen after access changed, so their calls are fire-and-forget.
    WAITABLE: ClassVar[frozenset[str]]
    # The stages Graph's accessPackageCustomExtensionStage has ("removal scheduled" is ours).
    GRAPH: ClassVar[frozenset[str]]


ExtensionStage.WAITABLE = frozenset({"assignmentRequestCreated", "assignmentRequestApproved"})
ExtensionStage.GRAPH = frozenset(
    {"assignmentRequestCreated", "assignmentRequestApproved", "assignmentRequestGranted", "assignmentRequestRemoved"}
)
WAIT_REFUSED = (
    "Only an extension run when the request is created or approved can wait for an answer; "
    "the assignment's stages (granted, removal scheduled, removed) are fire-and-forget."
)


class ExtensionMode(models.TextChoices):
    FIRE_AND_FORGET = "fireAndForget", "Fire and forget"
    WAIT = "waitForResponse", "Wait for an answer"


class TimeoutAction(models.TextChoices):
    CONTINUE = "continue", "Continue the request"
    FAIL = "fail", "Fail the request"


class CustomExtension(CatalogScoped, models.Model):
    catalog_path = "catalog_id"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    catalog = models.ForeignKey(Catalog, on_delete=models.CASCADE, related_name="extensions")
    display_name = models.CharField("Name", max_length=256)
    description = models.TextField("Description", blank=True)
    endpoint_url = models.URLField("Endpoint", max_length=2000)
    # Encrypted like connector secrets (governance/encryption.py); never shown back.
    secret_encrypted = models.TextField(blank=True)
    stage = models.CharField("Stage", max_length=32, choices=ExtensionStage.choices)
    mode = models.CharField("Mode", max_length=16, choices=ExtensionMode.choices, default=ExtensionMode.FIRE_AND_FORGET)
    timeout_minutes = models.PositiveIntegerField(
        "Wait at most (minutes)", default=60, help_text="Wait for an answer: then the policy's timeout choice applies."
    )
    policies = models.ManyToManyField(AssignmentPolicy, through="PolicyExtension", related_name="extensions")
    created_at = models.DateTimeField(auto_now_add=True)
    modified_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["display_name"]

    def __str__(self) -> str:
        return self.display_name

    @property
    def waits(self) -> bool:
        return self.mode == ExtensionMode.WAIT


class PolicyExtension(models.Model):
    """A policy runs this extension at the extension's stage."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    policy = models.ForeignKey(AssignmentPolicy, on_delete=models.CASCADE, related_name="extension_links")
    extension = models.ForeignKey(CustomExtension, on_delete=models.CASCADE, related_name="policy_links")
    on_timeout = models.CharField(max_length=8, choices=TimeoutAction.choices, default=TimeoutAction.CONTINUE)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["policy", "extension"], name="unique_policy_extension")]

    def __str__(self) -> str:
        return f"{self.policy_id} runs {self.extension_id}"


class CallState(models.TextChoices):
    PENDING = "pending", "Sending"
    SENT = "sent", "Sent"
    WAITING = "waiting", "Waiting for an answer"
    CONTINUED = "continued", "Answered: continue"
    DENIED = "denied", "Answered: deny"
    TIMED_OUT = "timedOut", "Timed out"
    FAILED = "failed", "Failed"

    OPEN: ClassVar[frozenset[str]]


CallState.OPEN = frozenset({"pending", "waiting"})


class ExtensionCall(CatalogScoped, models.Model):
    """One extension called for one request at one stage, with its attempts."""

    catalog_path = "request__package__catalog_id"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    request = models.ForeignKey(AssignmentRequest, on_delete=models.CASCADE, related_name="extension_calls")
    extension = models.ForeignKey(
        CustomExtension, on_delete=models.SET_NULL, null=True, blank=True, related_name="calls"
    )
    extension_name = models.CharField(max_length=256)
    stage = models.CharField(max_length=32, choices=ExtensionStage.choices)
    mode = models.CharField(max_length=16, choices=ExtensionMode.choices)
    on_timeout = models.CharField(max_length=8, choices=TimeoutAction.choices, default=TimeoutAction.CONTINUE)
    state = models.CharField(max_length=16, choices=CallState.choices, default=CallState.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # Wait for an answer: when the policy's timeout choice applies.
    due_at = models.DateTimeField(null=True, blank=True)
    answer_detail = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(fields=["request", "extension", "stage"], name="one_call_per_stage"),
        ]
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="extension_call_due")]

    def __str__(self) -> str:
        return f"{self.extension_name} · {self.get_stage_display()}"


class ExtensionAttempt(models.Model):
    """One try of a call, or its answer: like a delivery attempt (time, outcome, status, message)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    call = models.ForeignKey(ExtensionCall, on_delete=models.CASCADE, related_name="attempts_log")
    at = models.DateTimeField(auto_now_add=True)
    outcome = models.CharField(max_length=24)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    message = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["at"]

    def __str__(self) -> str:
        return f"{self.outcome} {self.status_code or ''}".strip()
