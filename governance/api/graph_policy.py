"""A Graph ``accessPackageAssignmentPolicy`` body read into a :class:`PolicySpec`.

Only parsing: every refusal is a :class:`ValidationFailed` naming the Graph property, and
the policies service decides whether the spec may be saved.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from governance.api.base import (
    bool_of,
    datetime_of,
    free_text_of,
    id_of,
    list_of,
    name_of,
    object_of,
    odata_type,
    parse_duration,
    refuse_unknown,
    text_of,
)
from governance.errors import NotSupported, ValidationFailed
from governance.ids import is_uuid
from governance.models import (
    ApproverKind,
    ExpirationBehavior,
    ExpirationType,
    ExtensionStage,
    QuestionKind,
    ReviewerKind,
    ReviewRecurrence,
    TargetScope,
)
from governance.services.policies import ApproverSpec, PolicySpec, StageSpec
from governance.services.questions import ChoiceSpec, QuestionSpec
from governance.services.reviews import ReviewSpec

POLICY_PROPERTIES = (
    "id",
    "displayName",
    "description",
    "allowedTargetScope",
    "specificAllowedTargets",
    "expiration",
    "requestorSettings",
    "requestApprovalSettings",
    "reviewSettings",
    "accessPackage",
    "createdDateTime",
    "modifiedDateTime",
    "questions",
    "reviewSettings",
    "automaticRequestSettings",
    "customExtensionStageSettings",
)


def _refuse_unsupported(data: dict[str, Any]) -> None:
    """Graph policy features this server does not have (yet): refused by name, never dropped."""
    if data.get("automaticRequestSettings") is not None:
        raise NotSupported(
            "'automaticRequestSettings' is not supported: automatic assignment policies are not available.",
            field="automaticRequestSettings",
        )


def _extension_stages(items: list[Any]) -> dict[str, str]:
    """customExtensionStageSettings: each extension of the catalog and the stage it runs at
    (``{"stage": ..., "customExtension": {"id": ...}}``); the policies service checks that
    the stage is the extension's and that one which waits runs where a request can wait."""
    field = "customExtensionStageSettings"
    stages: dict[str, str] = {}
    for item in items:
        if not isinstance(item, dict):
            raise ValidationFailed(f"'{field}' lists stage settings (objects).", field=field)
        refuse_unknown(item, ("@odata.type", "id", "stage", "customExtension"), field)
        stage = text_of(item, "stage", required=True)
        stage = next((v for v in ExtensionStage.values if v.lower() == stage.lower()), stage)
        if stage not in ExtensionStage.values:
            raise ValidationFailed(f"'stage' is one of {', '.join(ExtensionStage.values)}.", field=field)
        extension = item.get("customExtension")
        if not isinstance(extension, dict) or not is_uuid(extension.get("id")):
            raise ValidationFailed("'customExtension' names an extension of the catalog by 'id'.", field=field)
        stages[str(UUID(str(extension["id"])))] = stage
    return stages


def _subject_kind(item: Any, field: str) -> str:
    """A subject set's type (``singleUser``, ``groupMembers``…)."""
    if not isinstance(item, dict):
        raise ValidationFailed(f"'{field}' lists subject sets (objects).", field=field)
    return odata_type(item)


def _subject_sets(items: list[Any], field: str, *, fallback: bool = False) -> list[ApproverSpec]:
    approvers = []
    for item in items:
        kind = _subject_kind(item, field)
        if kind == "singleUser":
            approvers.append(ApproverSpec(ApproverKind.USER, user_id=id_of(item, "userId", required=True)))
        elif kind == "groupMembers":
            approvers.append(ApproverSpec(ApproverKind.GROUP, group_id=id_of(item, "groupId", required=True)))
        elif kind == "requestorManager":
            if item.get("managerLevel", 1) != 1:
                raise ValidationFailed("Only the requestor's direct manager (managerLevel 1) can approve.", field=field)
            approvers.append(ApproverSpec(ApproverKind.MANAGER))
        elif kind in {"targetUserSponsors", "internalSponsors"}:
            # internalSponsors (an external requestor's sponsors inside the tenant) are the
            # requestor's sponsor here: every person has at most one.
            approvers.append(ApproverSpec(ApproverKind.SPONSOR))
        else:
            raise ValidationFailed(
                f"'{field}': approvers are singleUser, groupMembers, requestorManager, targetUserSponsors "
                "or internalSponsors "
                f"(got '{kind or 'no @odata.type'}').",
                field=field,
            )
        approvers[-1].is_fallback = fallback
    return approvers


def _targets(spec: PolicySpec, items: list[Any]) -> None:
    users, groups, organizations = [], [], []
    for item in items:
        kind = _subject_kind(item, "specificAllowedTargets")
        if kind == "singleUser":
            users.append(id_of(item, "userId", required=True))
        elif kind == "groupMembers":
            groups.append(id_of(item, "groupId", required=True))
        elif kind == "connectedOrganizationMembers":
            organizations.append(id_of(item, "connectedOrganizationId", required=True))
        else:
            raise ValidationFailed(
                "'specificAllowedTargets' are singleUser, groupMembers or connectedOrganizationMembers.",
                field="specificAllowedTargets",
            )
    spec.specific_user_ids = [u for u in users if u]
    spec.specific_group_ids = [g for g in groups if g]
    spec.specific_organization_ids = [o for o in organizations if o]


def _expiration(spec: PolicySpec, expiration: dict[str, Any]) -> None:
    refuse_unknown(expiration, ("type", "endDateTime", "duration"), "expiration")
    kind = text_of(expiration, "type", default="notSpecified")
    kind = next((k for k in ("noExpiration", "afterDateTime", "afterDuration") if k.lower() == kind.lower()), kind)
    if kind == "noExpiration":
        spec.expiration_type = ExpirationType.NEVER
    elif kind == "afterDateTime":
        spec.expiration_type = ExpirationType.ON_DATE
        spec.expiration_date = datetime_of(expiration, "endDateTime")
    elif kind == "afterDuration":
        days, hours = parse_duration(text_of(expiration, "duration", required=True), "expiration.duration")
        if days and hours:
            raise ValidationFailed("Give the duration in days or in hours, not both.", field="expiration.duration")
        if hours:
            spec.expiration_type, spec.expiration_hours, spec.expiration_days = ExpirationType.AFTER_HOURS, hours, None
        else:
            spec.expiration_type, spec.expiration_days, spec.expiration_hours = ExpirationType.AFTER_DAYS, days, None
    else:
        raise ValidationFailed("'expiration.type' is noExpiration, afterDateTime or afterDuration.", field="expiration")


_REQUESTOR_SETTINGS = (
    "enableTargetsToSelfAddAccess",
    "enableTargetsToSelfUpdateAccess",
    "enableTargetsToSelfRemoveAccess",
    "allowCustomAssignmentSchedule",
    "enableOnBehalfRequestorsToAddAccess",
    "enableOnBehalfRequestorsToUpdateAccess",
    "enableOnBehalfRequestorsToRemoveAccess",
    "onBehalfRequestors",
)
_APPROVAL_SETTINGS = (
    "isApprovalRequiredForAdd",
    "isApprovalRequiredForUpdate",
    "isRequestorJustificationRequired",
    "stages",
)
_STAGE_SETTINGS = (
    "durationBeforeAutomaticDenial",
    "isApproverJustificationRequired",
    "isEscalationEnabled",
    "durationBeforeEscalation",
    "primaryApprovers",
    "fallbackPrimaryApprovers",
    "escalationApprovers",
    "fallbackEscalationApprovers",
    "approverInformationVisibility",
)


def _requestor_settings(spec: PolicySpec, settings: dict[str, Any]) -> None:
    refuse_unknown(settings, _REQUESTOR_SETTINGS, "requestorSettings")
    for name in ("enableOnBehalfRequestorsToAddAccess", "enableOnBehalfRequestorsToUpdateAccess",
                 "enableOnBehalfRequestorsToRemoveAccess"):  # fmt: skip
        if bool_of(settings, name):
            raise ValidationFailed(f"'{name}' is not supported: people request for themselves.", field=name)
    if list_of(settings, "onBehalfRequestors"):
        raise ValidationFailed("'onBehalfRequestors' is not supported.", field="onBehalfRequestors")
    if spec.allowed_target_scope == TargetScope.NO_ONE and bool_of(settings, "enableTargetsToSelfAddAccess"):
        raise ValidationFailed(
            "With allowedTargetScope notSpecified only administrators assign: "
            "enableTargetsToSelfAddAccess must be false.",
            field="enableTargetsToSelfAddAccess",
        )
    if "enableTargetsToSelfAddAccess" in settings and spec.allowed_target_scope != TargetScope.NO_ONE:
        # Graph's way to stop a policy accepting requests: ours is "enabled".
        spec.enabled = bool_of(settings, "enableTargetsToSelfAddAccess", True)
    spec.allow_extension = bool_of(settings, "enableTargetsToSelfUpdateAccess", spec.allow_extension)
    spec.allow_custom_schedule = bool_of(settings, "allowCustomAssignmentSchedule", spec.allow_custom_schedule)
    spec.allow_self_removal = bool_of(settings, "enableTargetsToSelfRemoveAccess", spec.allow_self_removal)


def _approval_settings(spec: PolicySpec, settings: dict[str, Any]) -> None:
    refuse_unknown(settings, _APPROVAL_SETTINGS, "requestApprovalSettings")
    spec.requires_approval = bool_of(settings, "isApprovalRequiredForAdd", spec.requires_approval)
    spec.extension_requires_approval = bool_of(
        settings, "isApprovalRequiredForUpdate", spec.extension_requires_approval
    )
    spec.requestor_justification_required = bool_of(
        settings, "isRequestorJustificationRequired", spec.requestor_justification_required
    )
    if "stages" not in settings:
        return
    stages: list[StageSpec] = []
    justification: set[bool] = set()
    for index, stage in enumerate(list_of(settings, "stages"), start=1):
        if not isinstance(stage, dict):
            raise ValidationFailed("'stages' lists approval stages (objects).", field="stages")
        refuse_unknown(stage, _STAGE_SETTINGS, f"stage {index}")
        if bool_of(stage, "isEscalationEnabled"):
            raise ValidationFailed("Escalation is not supported; use fallback approvers.", field="isEscalationEnabled")
        if list_of(stage, "escalationApprovers") or list_of(stage, "fallbackEscalationApprovers"):
            raise ValidationFailed("Escalation approvers are not supported.", field="escalationApprovers")
        days, hours = parse_duration(
            text_of(stage, "durationBeforeAutomaticDenial", default="P14D"), "durationBeforeAutomaticDenial"
        )
        if hours:
            raise ValidationFailed("Stage timeouts are whole days, e.g. P7D.", field="durationBeforeAutomaticDenial")
        justification.add(bool_of(stage, "isApproverJustificationRequired"))
        stages.append(
            StageSpec(
                timeout_days=days,
                approvers=_subject_sets(list_of(stage, "primaryApprovers"), "primaryApprovers")
                + _subject_sets(list_of(stage, "fallbackPrimaryApprovers"), "fallbackPrimaryApprovers", fallback=True),
            )
        )
    if len(justification) > 1:
        raise ValidationFailed(
            "'isApproverJustificationRequired' applies to the whole policy here: give every stage the same value.",
            field="isApproverJustificationRequired",
        )
    spec.approver_justification_required = justification.pop() if justification else False
    spec.stages = stages


_QUESTION = ("id", "sequence", "isRequired", "isAnswerEditable", "text", "localizations")
_TEXT_QUESTION = (*_QUESTION, "isSingleLineQuestion", "regexPattern")
_CHOICE_QUESTION = (*_QUESTION, "choices", "isMultipleSelectionAllowed")


def _localizations(item: dict[str, Any], field: str) -> list[dict[str, str]]:
    found = []
    for entry in list_of(item, "localizations"):
        if not isinstance(entry, dict):
            raise ValidationFailed(f"'{field}.localizations' lists objects.", field=field)
        refuse_unknown(entry, ("languageCode", "text"), f"{field}.localizations")
        found.append({"languageCode": text_of(entry, "languageCode", required=True), "text": text_of(entry, "text")})
    return found


def _sequence(item: dict[str, Any], default: int) -> int:
    value = item.get("sequence", default)
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) < 6:
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 100_000:
        raise ValidationFailed("'sequence' is a whole number.", field="sequence")
    return value


def _questions(items: list[Any]) -> list[QuestionSpec]:
    """accessPackageTextInputQuestion and accessPackageMultipleChoiceQuestion, by sequence."""
    ordered: list[tuple[int, int, QuestionSpec]] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise ValidationFailed("'questions' lists questions (objects).", field="questions")
        kind = odata_type(item)
        if kind == "accessPackageTextInputQuestion":
            refuse_unknown(item, _TEXT_QUESTION, "questions")
            single = bool_of(item, "isSingleLineQuestion", True)
            spec = QuestionSpec(
                text="",
                kind=QuestionKind.SHORT_TEXT if single else QuestionKind.LONG_TEXT,
                regex_pattern=text_of(item, "regexPattern") or "",
            )
        elif kind == "accessPackageMultipleChoiceQuestion":
            refuse_unknown(item, _CHOICE_QUESTION, "questions")
            if bool_of(item, "isMultipleSelectionAllowed"):
                raise ValidationFailed(
                    "'isMultipleSelectionAllowed' is not supported: a question takes one choice.",
                    field="isMultipleSelectionAllowed",
                )
            choices = []
            for choice in list_of(item, "choices"):
                if not isinstance(choice, dict):
                    raise ValidationFailed("'choices' lists accessPackageAnswerChoice objects.", field="choices")
                refuse_unknown(choice, ("actualValue", "text", "localizations"), "choices")
                choices.append(
                    ChoiceSpec(
                        value=text_of(choice, "actualValue", required=True) or "",
                        text=text_of(choice, "text") or text_of(choice, "actualValue") or "",
                        localizations=_localizations(choice, "choices"),
                    )
                )
            spec = QuestionSpec(text="", kind=QuestionKind.MULTIPLE_CHOICE, choices=choices)
        else:
            raise ValidationFailed(
                "'questions' are accessPackageTextInputQuestion or accessPackageMultipleChoiceQuestion "
                f"(got '{kind or 'no @odata.type'}').",
                field="questions",
            )
        spec.text = text_of(item, "text", required=True) or ""
        spec.id = id_of(item, "id")
        spec.is_required = bool_of(item, "isRequired")
        spec.is_answer_editable = bool_of(item, "isAnswerEditable", True)
        spec.localizations = _localizations(item, "questions")
        ordered.append((_sequence(item, index + 1), index, spec))
    return [spec for _, _, spec in sorted(ordered, key=lambda entry: entry[:2])]


REVIEW_PROPERTIES = (
    "isEnabled",
    "expirationBehavior",
    "isRecommendationEnabled",
    "isReviewerJustificationRequired",
    "isSelfReview",
    "schedule",
    "primaryReviewers",
    "fallbackReviewers",
)
# (pattern type, interval) of Graph's recurrencePattern → our recurrence.
RECURRENCES: dict[tuple[str, int], str] = {
    ("weekly", 1): ReviewRecurrence.WEEKLY,
    ("absoluteMonthly", 1): ReviewRecurrence.MONTHLY,
    ("absoluteMonthly", 3): ReviewRecurrence.QUARTERLY,
    ("absoluteMonthly", 6): ReviewRecurrence.SEMI_ANNUALLY,
    ("absoluteMonthly", 12): ReviewRecurrence.ANNUALLY,
    ("absoluteYearly", 1): ReviewRecurrence.ANNUALLY,
}


def _reviewers(items: list[Any], field: str, *, fallback: bool) -> list[tuple[str, Any, bool]]:
    reviewers: list[tuple[str, Any, bool]] = []
    for item in items:
        kind = _subject_kind(item, field)
        if kind == "singleUser":
            reviewers.append((ReviewerKind.USER, id_of(item, "userId", required=True), fallback))
        elif kind == "groupMembers":
            reviewers.append((ReviewerKind.GROUP, id_of(item, "groupId", required=True), fallback))
        elif kind in ("requestorManager", "targetManager") and not fallback:
            if item.get("managerLevel", 1) != 1:
                raise ValidationFailed("Only the person's direct manager (managerLevel 1) can review.", field=field)
            reviewers.append((ReviewerKind.MANAGER, None, False))
        else:
            allowed = "singleUser or groupMembers" if fallback else "singleUser, groupMembers or requestorManager"
            raise ValidationFailed(f"'{field}' are {allowed} (got '{kind or 'no @odata.type'}').", field=field)
    return reviewers


def _review_schedule(review: ReviewSpec, schedule: dict[str, Any]) -> None:
    refuse_unknown(schedule, ("startDateTime", "expiration", "recurrence"), "schedule")
    review.start_at = datetime_of(schedule, "startDateTime")
    expiration = object_of(schedule, "expiration")
    if expiration:
        refuse_unknown(expiration, ("type", "duration", "endDateTime"), "schedule.expiration")
        if text_of(expiration, "type", default="afterDuration") != "afterDuration":
            raise ValidationFailed(
                "A review's 'expiration' is 'afterDuration' with a duration in days.", field="schedule"
            )
        days, hours = parse_duration(text_of(expiration, "duration", required=True), "duration")
        if hours or not days:
            raise ValidationFailed("A review lasts a whole number of days ('P14D').", field="duration")
        review.duration_days = days
    recurrence = object_of(schedule, "recurrence")
    if recurrence:
        refuse_unknown(recurrence, ("pattern", "range"), "schedule.recurrence")
        pattern = object_of(recurrence, "pattern", required=True)
        interval = pattern.get("interval", 1)
        whole = isinstance(interval, int) and not isinstance(interval, bool)
        key = (text_of(pattern, "type"), interval if whole else -1)
        if key not in RECURRENCES:
            raise ValidationFailed(
                "Reviews recur weekly, or every 1, 3, 6 or 12 months ('absoluteMonthly' with that interval).",
                field="recurrence",
            )
        review.recurrence = RECURRENCES[key]
        end = object_of(recurrence, "range")
        if end and text_of(end, "type", default="noEnd") != "noEnd":
            raise ValidationFailed("Reviews recur with no end ('range': {'type': 'noEnd'}).", field="range")


def _review_settings(spec: PolicySpec, data: dict[str, Any]) -> None:
    refuse_unknown(data, REVIEW_PROPERTIES, "reviewSettings")
    review = spec.review or ReviewSpec()
    if "isEnabled" in data:
        review.enabled = bool_of(data, "isEnabled")
    if "expirationBehavior" in data:
        behavior = text_of(data, "expirationBehavior")
        if behavior not in ExpirationBehavior.values:
            raise ValidationFailed(
                f"'expirationBehavior' is one of {', '.join(ExpirationBehavior.values)}.", field="expirationBehavior"
            )
        review.expiration_behavior = behavior
    review.recommendations = bool_of(data, "isRecommendationEnabled", review.recommendations)
    review.justification_required = bool_of(data, "isReviewerJustificationRequired", review.justification_required)
    review.self_review = bool_of(data, "isSelfReview", review.self_review)
    if "schedule" in data:
        _review_schedule(review, object_of(data, "schedule"))
    if "primaryReviewers" in data or "fallbackReviewers" in data:
        primary = [r for r in review.reviewers if not r[2]]
        fallback = [r for r in review.reviewers if r[2]]
        if "primaryReviewers" in data:
            primary = _reviewers(list_of(data, "primaryReviewers"), "primaryReviewers", fallback=False)
        if "fallbackReviewers" in data:
            fallback = _reviewers(list_of(data, "fallbackReviewers"), "fallbackReviewers", fallback=True)
        review.reviewers = primary + fallback
    spec.review = review


def policy_spec(data: dict[str, Any], base: PolicySpec | None = None) -> PolicySpec:
    """A Graph policy body as a :class:`PolicySpec`, over ``base`` for a PATCH."""
    _refuse_unsupported(data)
    refuse_unknown(data, POLICY_PROPERTIES)
    spec = base or PolicySpec(display_name="")
    if "displayName" in data or base is None:
        spec.display_name = name_of(data, "displayName", required=True)
    if "description" in data:
        spec.description = free_text_of(data, "description")
    if "allowedTargetScope" in data or base is None:
        scope = text_of(data, "allowedTargetScope", required=True)
        scope = next((v for v in TargetScope.values if v.lower() == scope.lower()), scope)
        if scope not in TargetScope.values:
            raise ValidationFailed(
                f"'allowedTargetScope' is one of {', '.join(TargetScope.values)}.", field="allowedTargetScope"
            )
        spec.allowed_target_scope = scope
    if "specificAllowedTargets" in data:
        _targets(spec, list_of(data, "specificAllowedTargets"))
    if "expiration" in data:
        _expiration(spec, object_of(data, "expiration"))
    if "requestorSettings" in data:
        _requestor_settings(spec, object_of(data, "requestorSettings"))
    if "requestApprovalSettings" in data:
        _approval_settings(spec, object_of(data, "requestApprovalSettings"))
    if "questions" in data:
        spec.questions = _questions(list_of(data, "questions"))
    if "customExtensionStageSettings" in data:
        spec.extension_stages = _extension_stages(list_of(data, "customExtensionStageSettings"))
        spec.extension_ids = list(spec.extension_stages)
    if spec.expiration_type == ExpirationType.NEVER:
        # Graph lets a policy without expiration say its targets may update their access
        # (Microsoft's Examples 2 and 4 do): there is no end to extend, so nothing to allow.
        spec.allow_extension = False
    if "reviewSettings" in data:
        _review_settings(spec, object_of(data, "reviewSettings"))
    return spec
