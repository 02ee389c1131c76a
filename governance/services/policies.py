"""Assignment policies: validated as a whole and saved with their approval stages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from governance.audit import log_action
from governance.errors import NotFound, StillInUse, ValidationFailed
from governance.ids import is_uuid
from governance.models import (
    AccessPackage,
    ApprovalStage,
    ApproverKind,
    AssignmentPolicy,
    AssignmentState,
    ConnectedOrganization,
    CustomExtension,
    DirectoryGroup,
    ExpirationType,
    ExtensionStage,
    PolicyExtension,
    RequestState,
    StageApprover,
    TargetScope,
    TimeoutAction,
    User,
)
from governance.models.extension import WAIT_REFUSED
from governance.permissions import Action, get_for
from governance.services.locks import lock_for
from governance.services.organizations import organizations_refused
from governance.services.questions import QuestionSpec, save_questions, spec_of_question, validate_questions
from governance.services.reviews import ReviewSpec, check_spec, save_settings
from governance.services.reviews import spec_of as review_spec_of
from governance.services.text import clean_name, clean_text

MAX_STAGES = 3
MAX_STAGE_TIMEOUT_DAYS = 14
MAX_EXPIRATION_DAYS = 3650
MAX_EXPIRATION_HOURS = 24 * 366


@dataclass
class ApproverSpec:
    kind: str
    user_id: UUID | str | None = None
    group_id: UUID | str | None = None
    is_fallback: bool = False


@dataclass
class StageSpec:
    timeout_days: int = 14
    approvers: list[ApproverSpec] = field(default_factory=list)


@dataclass
class PolicySpec:
    """Everything a policy says, as the form or the API hands it over."""

    display_name: str
    description: str = ""
    allowed_target_scope: str = TargetScope.SPECIFIC_USERS
    specific_user_ids: Sequence[UUID | str] = ()
    specific_group_ids: Sequence[UUID | str] = ()
    specific_organization_ids: Sequence[UUID | str] = ()
    requires_approval: bool = False
    stages: list[StageSpec] = field(default_factory=list)
    requestor_justification_required: bool = False
    approver_justification_required: bool = False
    allow_custom_schedule: bool = False
    expiration_type: str = ExpirationType.AFTER_DAYS
    expiration_date: datetime | None = None
    expiration_days: int | None = 365
    expiration_hours: int | None = None
    allow_extension: bool = False
    extension_requires_approval: bool = False
    enabled: bool = True
    allow_self_removal: bool = True
    # Requestor information (rule 15), in the order they are asked.
    questions: list[QuestionSpec] = field(default_factory=list)
    # Custom extensions the policy runs (rule 16), each at its own stage; None keeps them.
    extension_ids: Sequence[UUID | str] | None = None
    extension_on_timeout: str = TimeoutAction.CONTINUE
    # The stage each extension was chosen for, where the caller names one (the API's
    # customExtensionStageSettings); it must be the extension's own stage.
    extension_stages: Mapping[str, str] | None = None
    # Access reviews (rule 14); None leaves a policy's review settings as they are.
    review: ReviewSpec | None = None


# A policy's own settings, named alike on the model and in a spec (stages and targets apart).
SIMPLE_FIELDS = (
    "display_name",
    "description",
    "allowed_target_scope",
    "requires_approval",
    "requestor_justification_required",
    "approver_justification_required",
    "allow_custom_schedule",
    "expiration_type",
    "expiration_date",
    "expiration_days",
    "expiration_hours",
    "allow_extension",
    "extension_requires_approval",
    "enabled",
    "allow_self_removal",
)


def _ids(values: Sequence[UUID | str], field_name: str, what: str) -> list[str]:
    ids = [str(v) for v in values if v]
    if not all(is_uuid(v) for v in ids):
        raise ValidationFailed(f"Some selected {what} do not exist.", field=field_name)
    return list(dict.fromkeys(ids))


def _validate(spec: PolicySpec) -> PolicySpec:  # noqa: C901 - one check per rule, in the form's order
    spec.display_name = clean_name(spec.display_name, "display_name")
    spec.description = clean_text(spec.description, "description")
    if spec.allowed_target_scope not in TargetScope.values:
        raise ValidationFailed("Choose who can request.", field="allowed_target_scope")
    admin_direct = spec.allowed_target_scope == TargetScope.NO_ONE
    if spec.allowed_target_scope == TargetScope.SPECIFIC_USERS and not (
        spec.specific_user_ids or spec.specific_group_ids
    ):
        raise ValidationFailed("Select at least one user or group who can request.", field="specific_users")
    if spec.allowed_target_scope == TargetScope.SPECIFIC_ORGANIZATIONS and not spec.specific_organization_ids:
        raise ValidationFailed("Select at least one connected organization.", field="specific_organizations")
    if admin_direct:
        # "No one (admin directly assigns)": there are no request settings to keep.
        spec.requires_approval = False
        spec.requestor_justification_required = False
        spec.approver_justification_required = False
        spec.stages = []
        spec.questions = []
    if spec.requires_approval:
        if not spec.stages:
            raise ValidationFailed("Add at least one approval stage with an approver.", field="stages")
        if len(spec.stages) > MAX_STAGES:
            raise ValidationFailed(f"A policy can have at most {MAX_STAGES} approval stages.", field="stages")
        for number, stage in enumerate(spec.stages, start=1):
            if not 1 <= int(stage.timeout_days) <= MAX_STAGE_TIMEOUT_DAYS:
                raise ValidationFailed(
                    f"Stage {number}: approvers get between 1 and {MAX_STAGE_TIMEOUT_DAYS} days to decide.",
                    field="stages",
                )
            # A stage of fallback approvers only (Microsoft's policy Example 2, stage 2): no
            # primary approver resolves, so its fallbacks are asked, as when a manager is missing.
            if not stage.approvers:
                raise ValidationFailed(f"Stage {number}: choose at least one approver.", field="stages")
            for approver in stage.approvers:
                if approver.kind not in ApproverKind.values:
                    raise ValidationFailed(f"Stage {number}: unknown kind of approver.", field="stages")
                if approver.kind == ApproverKind.USER and not (
                    approver.user_id and is_uuid(approver.user_id) and User.objects.filter(pk=approver.user_id).exists()
                ):
                    raise ValidationFailed(f"Stage {number}: the approver does not exist.", field="stages")
                if approver.kind == ApproverKind.GROUP and not (
                    approver.group_id
                    and is_uuid(approver.group_id)
                    and DirectoryGroup.objects.filter(pk=approver.group_id).exists()
                ):
                    raise ValidationFailed(f"Stage {number}: the approver group does not exist.", field="stages")
    else:
        spec.stages = []
        spec.approver_justification_required = False
    if spec.extension_requires_approval and not spec.requires_approval:
        raise ValidationFailed(
            "Extensions are approved by this policy's approvers: turn on Require approval first.",
            field="extension_requires_approval",
        )
    if not spec.allow_extension:
        spec.extension_requires_approval = False
    if spec.expiration_type == ExpirationType.ON_DATE:
        if spec.expiration_date is None:
            raise ValidationFailed("Choose the date access ends.", field="expiration_date")
        if spec.expiration_date <= timezone.now():
            raise ValidationFailed("The end date must be in the future.", field="expiration_date")
        spec.expiration_days = spec.expiration_hours = None
    elif spec.expiration_type == ExpirationType.AFTER_DAYS:
        if not spec.expiration_days or not 1 <= int(spec.expiration_days) <= MAX_EXPIRATION_DAYS:
            raise ValidationFailed(f"Enter between 1 and {MAX_EXPIRATION_DAYS} days.", field="expiration_days")
        spec.expiration_date = None
        spec.expiration_hours = None
    elif spec.expiration_type == ExpirationType.AFTER_HOURS:
        if not spec.expiration_hours or not 1 <= int(spec.expiration_hours) <= MAX_EXPIRATION_HOURS:
            raise ValidationFailed(f"Enter between 1 and {MAX_EXPIRATION_HOURS} hours.", field="expiration_hours")
        spec.expiration_date = None
        spec.expiration_days = None
    elif spec.expiration_type == ExpirationType.NEVER:
        spec.expiration_date = None
        spec.expiration_days = spec.expiration_hours = None
        if spec.allow_extension:
            raise ValidationFailed("Access that never expires cannot be extended.", field="allow_extension")
    else:
        raise ValidationFailed("Choose when access expires.", field="expiration_type")
    spec.questions = validate_questions(spec.questions)
    return spec


def save_policy(
    actor: Any, package_id: UUID | str, spec: PolicySpec, *, policy_id: UUID | str | None = None
) -> AssignmentPolicy:
    """Create (``policy_id`` None) or replace a policy of a package, with its stages."""
    if not is_uuid(package_id):
        raise NotFound("Access package not found.")
    spec = _validate(spec)
    if spec.review is not None:
        check_spec(spec.review)
    user_ids = _ids(spec.specific_user_ids, "specific_users", "users")
    group_ids = _ids(spec.specific_group_ids, "specific_groups", "groups")
    org_ids = _ids(spec.specific_organization_ids, "specific_organizations", "organizations")
    with transaction.atomic():
        package: AccessPackage = get_for(
            actor, Action.MANAGE, AccessPackage.objects.all(), package_id, "access package"
        )
        if policy_id is None:
            policy = AssignmentPolicy(package=package)
            before: dict[str, Any] = {}
        else:
            found = (
                AssignmentPolicy.objects.select_for_update(of=("self",)).filter(pk=policy_id, package=package).first()
                if is_uuid(policy_id)
                else None
            )
            if found is None:
                raise NotFound("Policy not found.")
            policy = found
            before = {name: getattr(policy, name) for name in SIMPLE_FIELDS}
        for name in SIMPLE_FIELDS:
            setattr(policy, name, getattr(spec, name))
        policy.save()
        users = list(User.objects.filter(pk__in=user_ids))
        groups = list(DirectoryGroup.objects.filter(pk__in=group_ids))
        orgs = list(ConnectedOrganization.objects.filter(pk__in=org_ids))
        if len(users) != len(user_ids):
            raise ValidationFailed("Some selected users do not exist.", field="specific_users")
        if len(groups) != len(group_ids):
            raise ValidationFailed("Some selected groups do not exist.", field="specific_groups")
        if len(orgs) != len(org_ids):
            raise ValidationFailed("Some selected organizations do not exist.", field="specific_organizations")
        refused = (
            organizations_refused(org_ids) if spec.allowed_target_scope == TargetScope.SPECIFIC_ORGANIZATIONS else []
        )
        if refused:
            raise ValidationFailed(" ".join(refused), field="specific_organizations")
        policy.specific_users.set(users)
        policy.specific_groups.set(groups)
        policy.specific_organizations.set(orgs)
        stages_changed = _save_stages(policy, spec.stages, new=policy_id is None)
        questions_changed = save_questions(policy, spec.questions)
        if spec.extension_ids is not None:
            _save_extensions(policy, spec.extension_ids, spec.extension_on_timeout, spec.extension_stages)
        if spec.review is not None:
            save_settings(policy, spec.review, actor)
        after = {name: getattr(policy, name) for name in SIMPLE_FIELDS}
        changes = {k: [before.get(k), v] for k, v in after.items() if before.get(k) != v}
        log_action(
            actor,
            "policy.created" if policy_id is None else "policy.updated",
            policy,
            changes=changes,
            stages=len(spec.stages),
            stages_changed=stages_changed,
            questions=len(spec.questions),
            questions_changed=questions_changed,
            stage_generation=policy.stage_generation,
        )
    return policy


def _links_beyond_graph(policy: AssignmentPolicy) -> list[UUID]:
    return list(
        PolicyExtension.objects.filter(policy=policy)
        .exclude(extension__stage__in=ExtensionStage.GRAPH)
        .values_list("extension_id", flat=True)
    )


def _save_extensions(
    policy: AssignmentPolicy,
    extension_ids: Sequence[UUID | str],
    on_timeout: str,
    stages: Mapping[str, str] | None = None,
) -> None:
    """The policy runs exactly these extensions of its catalog, each at its stage; one that
    waits for an answer only where a request can wait (rule 16, as in Entra)."""
    if on_timeout not in TimeoutAction.values:
        raise ValidationFailed("Choose whether a request continues or fails.", field="extension_on_timeout")
    ids = _ids(extension_ids, "extensions", "custom extensions")
    if stages is not None:
        # Graph's settings cannot name our "removal scheduled" stage: those links stay.
        ids = list(dict.fromkeys([*ids, *(str(pk) for pk in _links_beyond_graph(policy))]))
    found = list(CustomExtension.objects.filter(pk__in=ids, catalog_id=policy.package.catalog_id))
    if len(found) != len(ids):
        raise ValidationFailed("Choose custom extensions of this package's catalog.", field="extensions")
    labels = dict(ExtensionStage.choices)
    for extension in found:
        stage = (stages or {}).get(str(extension.pk), extension.stage)
        if extension.waits and stage not in ExtensionStage.WAITABLE:
            raise ValidationFailed(
                f'{extension.display_name} waits for an answer, so it cannot run at "{labels.get(stage, stage)}". '
                + WAIT_REFUSED,
                field="extensions",
            )
        if stage != extension.stage:
            raise ValidationFailed(
                f"{extension.display_name} runs when {labels[extension.stage].lower()} ({extension.stage}), "
                f"not at {stage}.",
                field="extensions",
            )
    PolicyExtension.objects.filter(policy=policy).exclude(extension_id__in=[e.pk for e in found]).delete()
    for extension in found:
        PolicyExtension.objects.update_or_create(
            policy=policy, extension=extension, defaults={"on_timeout": on_timeout}
        )


def _save_stages(policy: AssignmentPolicy, stages: list[StageSpec], *, new: bool) -> bool:
    """Make ``stages`` the policy's current approval stages; whether they changed.

    A changed set is written as a new generation and the old rows stay as they are: requests
    submitted under them keep routing by them (a snapshot, as in Entra), so editing the
    stages, the approvers or turning approval off never leaves a pending request without
    approvers. Rows are never updated in place, so no submission racing an edit can see a
    half-written generation either.
    """
    if not new:
        if [_comparable(stage) for stage in spec_of_stages(policy)] == [_comparable(stage) for stage in stages]:
            return False
        policy.stage_generation += 1
        policy.save(update_fields=["stage_generation", "modified_at"])
    for order, spec in enumerate(stages, start=1):
        stage = ApprovalStage.objects.create(
            policy=policy, generation=policy.stage_generation, order=order, timeout_days=int(spec.timeout_days)
        )
        StageApprover.objects.bulk_create(
            StageApprover(
                stage=stage,
                kind=a.kind,
                user_id=a.user_id if a.kind == ApproverKind.USER else None,
                group_id=a.group_id if a.kind == ApproverKind.GROUP else None,
                is_fallback=a.is_fallback,
            )
            for a in spec.approvers
        )
    return True


def _comparable(stage: StageSpec) -> tuple[int, frozenset[tuple[str, str, str, bool]]]:
    """A stage as what it means (its time limit and approvers, in any order), to compare."""

    def key(a: ApproverSpec) -> tuple[str, str, str, bool]:
        user = str(a.user_id) if a.kind == ApproverKind.USER and a.user_id else ""
        group = str(a.group_id) if a.kind == ApproverKind.GROUP and a.group_id else ""
        return (a.kind, user, group, bool(a.is_fallback))

    return int(stage.timeout_days), frozenset(key(a) for a in stage.approvers)


def spec_of(policy: AssignmentPolicy) -> PolicySpec:
    """The spec a policy was saved from (to edit it, or to copy it)."""
    links = list(PolicyExtension.objects.filter(policy=policy).order_by("extension__display_name"))
    return PolicySpec(
        **{name: getattr(policy, name) for name in SIMPLE_FIELDS},
        specific_user_ids=[u.pk for u in policy.specific_users.all()],
        specific_group_ids=[g.pk for g in policy.specific_groups.all()],
        specific_organization_ids=[o.pk for o in policy.specific_organizations.all()],
        stages=spec_of_stages(policy),
        questions=[spec_of_question(q) for q in policy.questions.order_by("sequence")],
        extension_ids=[link.extension_id for link in links],
        extension_on_timeout=links[0].on_timeout if links else TimeoutAction.CONTINUE,
        review=review_spec_of(policy),
    )


def spec_of_stages(policy: AssignmentPolicy) -> list[StageSpec]:
    """The policy's current approval stages as specs."""
    return [
        StageSpec(
            timeout_days=stage.timeout_days,
            approvers=[
                ApproverSpec(kind=a.kind, user_id=a.user_id, group_id=a.group_id, is_fallback=a.is_fallback)
                for a in stage.approvers.all()
            ],
        )
        for stage in policy.current_stages().prefetch_related("approvers")
    ]


def set_policy_enabled(actor: Any, policy_id: UUID | str, enabled: bool) -> AssignmentPolicy:
    """Enable or disable a policy; a disabled policy accepts no new requests."""
    with transaction.atomic():
        policy: AssignmentPolicy = lock_for(actor, Action.MANAGE, AssignmentPolicy.objects, policy_id, "policy")
        if policy.enabled != enabled:
            policy.enabled = enabled
            policy.save(update_fields=["enabled", "modified_at"])
            log_action(actor, "policy.enabled" if enabled else "policy.disabled", policy)
    return policy


def delete_policy(actor: Any, policy_id: UUID | str) -> None:
    with transaction.atomic():
        policy: AssignmentPolicy = lock_for(actor, Action.MANAGE, AssignmentPolicy.objects, policy_id, "policy")
        active = policy.assignments.filter(state__in=AssignmentState.ACTIVE).count()
        if active:
            raise StillInUse(
                f"{active} active assignment{'s' if active != 1 else ''} are governed by this policy; "
                "disable it instead, or remove them first."
            )
        waiting = policy.requests.filter(state__in=RequestState.OPEN).count()
        if waiting:
            raise StillInUse(
                f"{waiting} open request{'s' if waiting != 1 else ''} use this policy; "
                "disable it instead, or cancel them first."
            )
        log_action(actor, "policy.deleted", policy)
        policy.delete()
