"""Assignment requests and the approval decisions taken on them."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

from django.conf import settings
from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from governance.models.identity import GroupMembership, User
from governance.models.labels import ChoiceLabels
from governance.models.package import AccessPackage
from governance.models.policy import ApprovalStage, ApproverKind, AssignmentPolicy, StageApprover
from governance.models.querysets import CatalogScoped


class RequestState(models.TextChoices):
    SUBMITTED = "submitted", _("Submitted")
    PENDING_APPROVAL = "pendingApproval", _("Pending approval")
    SCHEDULED = "scheduled", _("Scheduled")
    DELIVERING = "delivering", _("Delivering")
    DELIVERED = "delivered", _("Delivered")
    PARTIALLY_DELIVERED = "partiallyDelivered", _("Partially delivered")
    DELIVERY_FAILED = "deliveryFailed", _("Delivery failed")
    DENIED = "denied", _("Denied")
    CANCELED = "canceled", _("Canceled")

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
# Delivery failed / Partially delivered only once the reprocess window has passed (rule 3,
# checked by the requestor's cancel): then they cancel and request again (seed 001).
RequestState.REQUESTOR_CANCELABLE = frozenset({"pendingApproval", "deliveryFailed", "partiallyDelivered"})


class RemovalReason(models.TextChoices):
    """Why the system removed an assignment (a ``systemRemove`` request), recorded by the
    service that created the removal, so that what follows (the email) never guesses from text."""

    EXPIRY = "expiry", "Reached its end date"
    REVIEW = "review", "Removed by an access review"
    PERSON_LEFT = "personLeft", "The person left"


class RequestType(models.TextChoices):
    USER_ADD = "userAdd", _("User request")
    USER_EXTEND = "userExtend", _("User extension")
    USER_REMOVE = "userRemove", _("User removal")
    ADMIN_ADD = "adminAdd", _("Direct assignment")
    ADMIN_UPDATE = "adminUpdate", _("Admin update")
    ADMIN_REMOVE = "adminRemove", _("Admin removal")
    SYSTEM_ADD = "systemAdd", _("System assignment")
    SYSTEM_REMOVE = "systemRemove", _("Expiry")

    ADDS: ClassVar[frozenset[str]]
    REMOVES: ClassVar[frozenset[str]]
    UPDATES: ClassVar[frozenset[str]]


RequestType.ADDS = frozenset({"userAdd", "adminAdd", "systemAdd"})
RequestType.REMOVES = frozenset({"userRemove", "adminRemove", "systemRemove"})
RequestType.UPDATES = frozenset({"userExtend", "adminUpdate"})


# --- Who approves (rule 4) ----------------------------------------------------------------
# A stage's entries resolve to people for one request: a manager or a sponsor is the
# target's. :meth:`AssignmentRequest.stage_approver_ids` settles one stage; the queryset's
# ``awaiting_decision_by`` settles a person's whole inbox with the same functions.


def _resolve_entries(
    entries: Iterable[StageApprover], request: AssignmentRequest, members: Mapping[UUID, set[UUID]]
) -> set[UUID]:
    ids: set[UUID] = set()
    for entry in entries:
        if entry.kind == ApproverKind.USER and entry.user_id:
            ids.add(entry.user_id)
        elif entry.kind == ApproverKind.GROUP and entry.group_id:
            ids |= members.get(entry.group_id, set())
        elif entry.kind == ApproverKind.MANAGER and request.target.manager_id:
            ids.add(request.target.manager_id)
        elif entry.kind == ApproverKind.SPONSOR and request.target.sponsor_id:
            ids.add(request.target.sponsor_id)
    return ids


def _group_members(group_ids: Iterable[UUID | None]) -> dict[UUID, set[UUID]]:
    wanted = {pk for pk in group_ids if pk is not None}
    members: dict[UUID, set[UUID]] = {}
    if wanted:
        for group_id, user_id in GroupMembership.objects.filter(group_id__in=wanted).values_list("group_id", "user_id"):
            members.setdefault(group_id, set()).add(user_id)
    return members


def _active_people(ids: set[UUID]) -> set[UUID]:
    if not ids:
        return set()
    return set(User.objects.filter(pk__in=ids, is_active=True).values_list("pk", flat=True))


def _decide_approvers(
    entries: list[StageApprover], request: AssignmentRequest, members: Mapping[UUID, set[UUID]], active: set[UUID]
) -> set[UUID]:
    """Primary approvers; the fallback approvers only when the primaries resolve to nobody.
    The requestor and the person the access is for are never approvers of it."""
    excluded = {request.target_id, request.requestor_id}
    primary = (_resolve_entries([e for e in entries if not e.is_fallback], request, members) & active) - excluded
    if primary:
        return primary
    return (_resolve_entries([e for e in entries if e.is_fallback], request, members) & active) - excluded


def _naming(person: User, entries: models.QuerySet[StageApprover]) -> Q:
    """The requests for which one of ``entries`` (correlated to the request) names the
    person: as themselves, as a member of a group, or as the target's manager or sponsor."""
    in_group = GroupMembership.objects.filter(user=person).values("group_id")
    return (
        Exists(entries.filter(kind=ApproverKind.USER, user=person))
        | Exists(entries.filter(kind=ApproverKind.GROUP, group__in=in_group))
        | (Q(target__manager=person) & Exists(entries.filter(kind=ApproverKind.MANAGER)))
        | (Q(target__sponsor=person) & Exists(entries.filter(kind=ApproverKind.SPONSOR)))
    )


class RequestQuerySet(models.QuerySet["AssignmentRequest"]):
    def concerning(self, person: User) -> RequestQuerySet:
        """Requests a person made or that are for them (their own, as in My requests)."""
        return self.filter(Q(target=person) | Q(requestor=person))

    def open_adds(self, target: User, package: AccessPackage) -> RequestQuerySet:
        """Rule 12: the person's open request for the package, if any."""
        return self.filter(
            target=target, package=package, state__in=RequestState.OPEN, request_type__in=RequestType.ADDS
        )

    def naming_approver(self, person: User) -> RequestQuerySet:
        """Requests whose stages (the generation each was submitted under) name this person
        as an approver of some stage, decided or not."""
        entries = StageApprover.objects.filter(
            stage__policy=OuterRef("policy"), stage__generation=OuterRef("stage_generation")
        )
        return self.filter(_naming(person, entries))

    def awaiting_decision_by(self, person: User) -> RequestQuerySet:
        """Requests pending in a stage this person may decide now, before its time runs out
        (rule 4: fallbacks only when the primaries resolve to nobody; never one's own)."""
        entries = StageApprover.objects.filter(
            stage__policy=OuterRef("policy"),
            stage__generation=OuterRef("stage_generation"),
            stage__order=OuterRef("current_stage"),
        )
        candidates = (
            self.filter(state=RequestState.PENDING_APPROVAL)
            # A stage whose time ran out waits for the time-out job, not for a decision.
            .filter(Q(stage_due_at__isnull=True) | Q(stage_due_at__gt=timezone.now()))
            .filter(_naming(person, entries))
            .exclude(target=person)
            .exclude(requestor=person)
            .select_related("target", "policy")
        )
        # Fallback approvers count only when the primaries resolve to nobody: settle it
        # exactly, as stage_approver_ids does, in a constant number of queries.
        pending = [request for request in candidates if request.policy_id is not None and request.current_stage]
        if not pending:
            return self.none()
        by_stage: dict[tuple[UUID, int, int], list[StageApprover]] = {}
        stages = ApprovalStage.objects.filter(
            policy_id__in={r.policy_id for r in pending}, generation__in={r.stage_generation for r in pending}
        )
        for stage in stages.prefetch_related("approvers"):
            by_stage[(stage.policy_id, stage.generation, stage.order)] = list(stage.approvers.all())
        members = _group_members(e.group_id for listed in by_stage.values() for e in listed)
        wanted: dict[UUID, list[StageApprover]] = {}
        everyone: set[UUID] = set()
        for request in pending:
            assert request.policy_id is not None
            of_stage = by_stage.get((request.policy_id, request.stage_generation, request.current_stage))
            if of_stage:
                wanted[request.pk] = of_stage
                everyone |= _resolve_entries(of_stage, request, members)
        active = _active_people(everyone)
        ids = [
            r.pk for r in pending if r.pk in wanted and person.pk in _decide_approvers(wanted[r.pk], r, members, active)
        ]
        return self.filter(pk__in=ids)


class AssignmentRequest(CatalogScoped, ChoiceLabels, models.Model):
    catalog_path = "package__catalog_id"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    request_type = models.CharField(max_length=16, choices=RequestType.choices)
    state = models.CharField(max_length=24, choices=RequestState.choices, default=RequestState.SUBMITTED)
    # package and target have no index of their own: request_package_state and
    # request_target_package lead with them.
    package = models.ForeignKey(AccessPackage, on_delete=models.CASCADE, related_name="requests", db_index=False)
    policy = models.ForeignKey(
        AssignmentPolicy, on_delete=models.SET_NULL, null=True, blank=True, related_name="requests"
    )
    assignment = models.ForeignKey(
        "governance.Assignment", on_delete=models.SET_NULL, null=True, blank=True, related_name="requests"
    )
    target = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="requests_as_target", db_index=False
    )
    # Who asked: the person themselves, an administrator, or nobody (the system). Indexed
    # only where someone asked (request_requestor): the system's requests (an expiry
    # writes one per assignment) cost that index nothing.
    requestor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="requests_made",
        db_index=False,
    )
    requestor_label = models.CharField(max_length=256, blank=True)
    justification = models.TextField(blank=True)
    schedule_start = models.DateTimeField(null=True, blank=True)
    schedule_end = models.DateTimeField(null=True, blank=True)
    # The schedule exactly as an API client sent it (a start in the past, a duration), so the
    # API answers it back as Graph does; schedule_start/_end are what the engine acts on.
    sent_schedule = models.JSONField(null=True, blank=True)

    current_stage = models.PositiveSmallIntegerField(default=0)
    stage_due_at = models.DateTimeField(null=True, blank=True)
    # Halfway through the stage's timeout its approvers get one reminder (DESIGN §6); cleared
    # once they have it, so the beat job reads only what is still due.
    stage_remind_at = models.DateTimeField(null=True, blank=True)
    # The generation of its policy's approval stages this request was submitted under: it
    # is routed, decided, reminded and timed out by those, whatever the policy says now.
    stage_generation = models.PositiveIntegerField(default=1)

    created_at = models.DateTimeField(auto_now_add=True)
    modified_at = models.DateTimeField(auto_now=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.TextField(blank=True)
    # systemRemove only: why the system removed the assignment (blank for every other type).
    # A database default too: bulk loaders (bench/generate.py COPY) name their columns.
    removal_reason = models.CharField(
        max_length=16, choices=RemovalReason.choices, blank=True, default="", db_default=""
    )

    objects = RequestQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["package", "state", "-created_at"], name="request_package_state"),
            models.Index(fields=["target", "package"], name="request_target_package"),
            models.Index(fields=["requestor"], name="request_requestor", condition=models.Q(requestor__isnull=False)),
            # The beat jobs' scans (time-outs, reminders, scheduled starts) and the approvers'
            # list each ask for one state: only requests in it are indexed, so the rows that
            # pass through (every delivery, every expiry) cost these indexes nothing.
            models.Index(
                fields=["stage_due_at"], name="request_stage_due", condition=models.Q(state="pendingApproval")
            ),
            models.Index(
                fields=["stage_remind_at"],
                name="request_stage_remind",
                condition=models.Q(state="pendingApproval", stage_remind_at__isnull=False),
            ),
            models.Index(
                fields=["schedule_start"], name="request_schedule_start", condition=models.Q(state="scheduled")
            ),
            models.Index(fields=["state", "completed_at"], name="request_completed"),
            # The portal's list across packages, newest first, one page at a time.
            models.Index(fields=["created_at", "id"], name="request_created"),
            models.Index(fields=["state", "created_at", "id"], name="request_state_created"),
            # Sorted by Type or Completed (issue 14 item 5).
            models.Index(fields=["request_type", "created_at", "id"], name="request_type_created"),
            models.Index(fields=["completed_at", "id"], name="request_completed_at"),
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

    def stage_approver_ids(self, stage: ApprovalStage) -> set[UUID]:
        """The people who may decide this stage of this request (rule 4)."""
        entries = list(stage.approvers.all())
        members = _group_members(e.group_id for e in entries if e.kind == ApproverKind.GROUP)
        return _decide_approvers(entries, self, members, _active_people(_resolve_entries(entries, self, members)))

    def stage_approvers(self, stage: ApprovalStage) -> list[User]:
        return list(User.objects.filter(pk__in=self.stage_approver_ids(stage)).order_by("username"))

    def current_approval_stage(self) -> ApprovalStage | None:
        """The stage waiting for a decision: None unless the request is pending approval."""
        if self.state != RequestState.PENDING_APPROVAL or self.policy_id is None or not self.current_stage:
            return None
        return self.approval_stages().filter(order=self.current_stage).first()


class Decision(models.TextChoices):
    APPROVE = "Approve", _("Approved")
    DENY = "Deny", _("Denied")


class ApprovalDecision(CatalogScoped, ChoiceLabels, models.Model):
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

    class Meta:
        ordering = ["request", "stage_order"]
        constraints = [
            models.UniqueConstraint(fields=["request", "stage_order"], name="one_decision_per_stage"),
        ]

    def __str__(self) -> str:
        return f"Stage {self.stage_order}: {self.get_decision_display()} by {self.approver_label}"


class RequestAnswer(CatalogScoped, models.Model):
    """A requestor's answer to one question, with the question as it was asked (rule 15).
    Written once with the request and never changed: an administrator's update of answers
    (Graph ``adminUpdate``) is a new request carrying the new ones."""

    catalog_path = "request__package__catalog_id"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    request = models.ForeignKey(AssignmentRequest, on_delete=models.CASCADE, related_name="answers")
    # The question's id (Graph ``answeredQuestion.id``), kept even if the question is deleted.
    question_id = models.UUIDField()
    question_kind = models.CharField(max_length=16)
    question_text = models.CharField(max_length=1000)
    sequence = models.PositiveSmallIntegerField(default=1)
    value = models.TextField(blank=True)
    display_value = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["request", "sequence"]
        constraints = [
            models.UniqueConstraint(fields=["request", "question_id"], name="one_answer_per_question"),
        ]

    def __str__(self) -> str:
        return f"{self.question_text}: {self.display_value or self.value}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ValueError("Answers are immutable once submitted (rule 15).")
        super().save(*args, **kwargs)


@dataclass(slots=True)
class RequestRow:
    """A delivering request as ``grants.complete_requests`` settles it, read as plain values
    (:func:`read_requests`); a service holding the instance passes it along (its completion
    email may need what only the instance knows: an extension's previous end)."""

    pk: UUID
    request_type: str
    state: str
    created_at: datetime
    policy_id: UUID | None
    package_id: UUID
    catalog_id: UUID | None
    assignment_id: UUID | None
    target_id: UUID
    removal_reason: str
    target_email: str
    target_active: bool
    label: str  # str(request)
    completed_at: datetime | None = None
    instance: AssignmentRequest | None = None
