"""Access reviews (DESIGN §2, rule 14): configure, start, decide, remind, end, apply.

An instance starts set-based: one instance row, one decision row per active assignment of
the policy at that moment (bulk inserts), one audit row. Reviewers decide until the
instance ends; applying removes the denied assignments (and, per the policy, the ones
nobody reviewed) through the engine's systemRemove requests, once: the decision rows
remember what was applied, so a second apply (or one resumed after a crash) does nothing
more. The delivery engine revokes the access and honours rule 7.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, connection, transaction
from django.db.models import Case, CharField, Count, F, Func, Q, UUIDField, Value, When
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, gettext_noop

from governance.audit import actor_label, build_event, log_action
from governance.errors import InvalidTransition, NotAllowed, NotFound, ValidationFailed
from governance.ids import is_uuid
from governance.machines import ASSIGNMENT, REVIEW
from governance.models import (
    AccessReviewDecision,
    AccessReviewInstance,
    ApplyResult,
    Assignment,
    AssignmentPolicy,
    AssignmentState,
    AuditEvent,
    ConnectedOrganizationState,
    DirectoryGroup,
    ExpirationBehavior,
    GroupMembership,
    InstanceReviewer,
    InstanceState,
    PolicyReviewer,
    RemovalReason,
    ReviewDecision,
    ReviewerKind,
    ReviewLink,
    ReviewRecurrence,
    User,
    UserType,
)
from governance.models.identity import person_of
from governance.models.policy import add_period
from governance.permissions import Action, get_for, reviewable_decisions
from governance.services import chat, dispatch, notifications
from governance.services.approval_links import LinkExpired, LinkForSomeoneElse, LinkInvalid, LinkUsed, SignInRequired
from governance.services.bulk_sql import array
from governance.services.endings import end_in_bulk
from governance.services.grants import read_assignments
from governance.services.text import clean_text

BATCH = 5000
DECISIONS = (ReviewDecision.APPROVE, ReviewDecision.DENY)


# --- Settings (the policy form and the API's reviewSettings) ---------------------------------


@dataclass
class ReviewSpec:
    enabled: bool = False
    start_at: datetime | None = None
    recurrence: str = ReviewRecurrence.QUARTERLY
    duration_days: int = 14
    self_review: bool = False
    justification_required: bool = True
    recommendations: bool = True
    expiration_behavior: str = ExpirationBehavior.KEEP
    # (kind, user id or group id or None, is_fallback)
    reviewers: list[tuple[str, UUID | None, bool]] = field(default_factory=list)


def spec_of(policy: AssignmentPolicy) -> ReviewSpec:
    return ReviewSpec(
        enabled=policy.review_enabled,
        start_at=policy.review_start_at,
        recurrence=policy.review_recurrence,
        duration_days=policy.review_duration_days,
        self_review=policy.review_self,
        justification_required=policy.review_justification_required,
        recommendations=policy.review_recommendations,
        expiration_behavior=policy.review_expiration_behavior,
        reviewers=[(r.kind, r.user_id or r.group_id, r.is_fallback) for r in policy.reviewers.all()],
    )


def check_spec(spec: ReviewSpec) -> None:
    """Refuse settings a review could not run with (a form error or a 400)."""
    if spec.recurrence not in ReviewRecurrence.values:
        raise ValidationFailed("Choose a recurrence.", field="review_recurrence")
    if spec.expiration_behavior not in ExpirationBehavior.values:
        raise ValidationFailed("Choose what happens when reviewers don't respond.", field="review_expiration_behavior")
    if not 1 <= spec.duration_days <= 180:
        raise ValidationFailed("A review lasts between 1 and 180 days.", field="review_duration_days")
    for kind, target, fallback in spec.reviewers:
        if (
            kind not in ReviewerKind.values
            or (kind != ReviewerKind.MANAGER and not is_uuid(target))
            or (kind == ReviewerKind.MANAGER and fallback)
        ):
            raise ValidationFailed("Some reviewers are not valid.", field="reviewers")
    users = {str(t) for k, t, _ in spec.reviewers if k == ReviewerKind.USER}
    groups = {str(t) for k, t, _ in spec.reviewers if k == ReviewerKind.GROUP}
    if len(users) != User.objects.filter(pk__in=users).count():
        raise ValidationFailed("Some selected reviewers do not exist.", field="reviewers")
    if len(groups) != DirectoryGroup.objects.filter(pk__in=groups).count():
        raise ValidationFailed("Some selected reviewer groups do not exist.", field="reviewers")
    if not spec.enabled:
        return
    if spec.start_at is None:
        raise ValidationFailed("Give the date the first review starts.", field="review_start_at")
    if not spec.self_review and not any(not fallback for _, _, fallback in spec.reviewers):
        raise ValidationFailed("Choose who reviews: specific people, the manager, or self-review.", field="reviewers")
    if spec.recurrence == ReviewRecurrence.WEEKLY and spec.duration_days > 7:
        raise ValidationFailed("A weekly review lasts at most 7 days.", field="review_duration_days")


def save_settings(policy: AssignmentPolicy, spec: ReviewSpec, actor: Any) -> None:
    """Write a policy's review settings (caller holds the policy's lock and checked the
    actor may edit it). The next instance starts at the start date, or at the next period
    after now when that date has passed."""
    check_spec(spec)
    before = spec_of(policy) if policy.pk and not policy._state.adding else None
    policy.review_enabled = spec.enabled
    policy.review_start_at = spec.start_at
    policy.review_recurrence = spec.recurrence
    policy.review_duration_days = spec.duration_days
    policy.review_self = spec.self_review
    policy.review_justification_required = spec.justification_required
    policy.review_recommendations = spec.recommendations
    policy.review_expiration_behavior = spec.expiration_behavior
    policy.review_next_at = _next_start(policy, timezone.now()) if spec.enabled else None
    policy.save()
    if before is not None and before.reviewers == spec.reviewers:
        pass
    else:
        policy.reviewers.all().delete()
        PolicyReviewer.objects.bulk_create(
            PolicyReviewer(
                policy=policy,
                kind=kind,
                user_id=target if kind == ReviewerKind.USER else None,
                group_id=target if kind == ReviewerKind.GROUP else None,
                is_fallback=fallback,
            )
            for kind, target, fallback in spec.reviewers
        )
    if before != spec:
        log_action(
            actor,
            "policy.review_settings_changed",
            policy,
            enabled=spec.enabled,
            recurrence=spec.recurrence,
            start=spec.start_at,
            next_start=policy.review_next_at,
        )


def _next_start(policy: AssignmentPolicy, now: datetime) -> datetime | None:
    """The first period start not yet started: the start date, or a later period when the
    policy already has an instance for it."""
    start = policy.review_start_at
    if start is None:
        return None
    latest = (
        policy.review_instances.order_by("-start_at").values_list("start_at", flat=True).first() if policy.pk else None
    )
    periods = 0
    candidate = start
    while latest is not None and candidate <= latest:
        periods += 1
        candidate = add_period(start, policy.review_recurrence, periods)
    return candidate


# --- Start (the beat job) ----------------------------------------------------------------


def start_due_instances(now: datetime | None = None) -> int:
    """Start every instance whose time has come, each in its own transaction."""
    now = now or timezone.now()
    due = AssignmentPolicy.objects.filter(review_enabled=True, review_next_at__lte=now).values_list("pk", flat=True)
    return sum(1 for policy_id in list(due) if start_instance(policy_id, now) is not None)


def start_instance(policy_id: UUID, now: datetime | None = None) -> AccessReviewInstance | None:
    """Start the policy's due period; None when nothing is due (started already)."""
    now = now or timezone.now()
    with transaction.atomic():
        policy = (
            AssignmentPolicy.objects.select_for_update(of=("self",))
            .select_related("package")
            .filter(pk=policy_id, review_enabled=True, review_next_at__lte=now)
            .first()
        )
        if policy is None or policy.review_next_at is None:
            return None
        period_start = policy.review_next_at
        duration = timedelta(days=policy.review_duration_days)
        end_at = period_start + duration
        if end_at <= now:
            # Started so late (reviews could not run) that its span passed: reviewers still
            # get the whole duration, not an instance that ends as it starts.
            end_at = now + duration
        try:
            with transaction.atomic():
                instance = AccessReviewInstance.objects.create(
                    policy=policy,
                    package=policy.package,
                    start_at=period_start,
                    end_at=end_at,
                    justification_required=policy.review_justification_required,
                    recommendations_enabled=policy.review_recommendations,
                    self_review=policy.review_self,
                    expiration_behavior=policy.review_expiration_behavior,
                )
        except IntegrityError:
            instance = None
        periods = 1
        upcoming = add_period(period_start, policy.review_recurrence)
        while upcoming <= now:
            periods += 1
            upcoming = add_period(period_start, policy.review_recurrence, periods)
        policy.review_next_at = upcoming
        policy.save(update_fields=["review_next_at", "modified_at"])
        if instance is None:
            return None
        count = _write_decisions(instance, policy, now)
        log_action(None, "review.started", instance, decisions=count, end=end_at)
        _email_reviewers(instance, reminder=False)
        return instance


def _resolve(entries: Sequence[PolicyReviewer]) -> set[UUID]:
    ids = {e.user_id for e in entries if e.kind == ReviewerKind.USER and e.user_id}
    groups = [e.group_id for e in entries if e.kind == ReviewerKind.GROUP and e.group_id]
    if groups:
        ids |= set(GroupMembership.objects.filter(group_id__in=groups).values_list("user_id", flat=True))
    if not ids:
        return set()
    return set(User.objects.filter(pk__in=ids, is_active=True).values_list("pk", flat=True))


def _write_decisions(instance: AccessReviewInstance, policy: AssignmentPolicy, now: datetime) -> int:
    entries = list(policy.reviewers.all())
    by_manager = any(e.kind == ReviewerKind.MANAGER and not e.is_fallback for e in entries)
    named = _resolve([e for e in entries if not e.is_fallback])
    fallbacks = _resolve([e for e in entries if e.is_fallback])
    rows = [InstanceReviewer(instance=instance, user_id=pk, is_fallback=False) for pk in sorted(named)]
    if not instance.self_review and not named:
        # Fallback reviewers review whoever no primary reviewer can (no manager).
        rows += [InstanceReviewer(instance=instance, user_id=pk, is_fallback=True) for pk in sorted(fallbacks)]
    InstanceReviewer.objects.bulk_create(rows)

    recommending = instance.recommendations_enabled or instance.expiration_behavior == ExpirationBehavior.RECOMMENDATION
    if instance.self_review:
        reviewer: Any = F("target_id")
    elif by_manager:
        reviewer = Case(
            When(
                Q(target__manager__is_active=True) & ~Q(target__manager_id=F("target_id")), then=F("target__manager_id")
            ),
            default=Value(None, output_field=UUIDField()),
        )
    else:
        reviewer = Value(None, output_field=UUIDField())
    recommendation, reason = (
        _recommendation_sql(now)
        if recommending
        else (
            Value(ReviewDecision.NOT_AVAILABLE),
            Value(""),
        )
    )
    # One INSERT … SELECT: the rows never pass through Python (100,000 in seconds).
    columns = {
        "id": _new_uuid(),
        "instance_id": Value(instance.pk, output_field=UUIDField()),
        "assignment_id": F("pk"),
        "target_id": F("target_id"),
        "reviewer_id": reviewer,
        "decision": Value(ReviewDecision.NOT_REVIEWED),
        "justification": Value(""),
        "reviewed_by_label": Value(""),
        "recommendation": recommendation,
        "recommendation_reason": reason,
        "apply_result": Value(ApplyResult.NEW),
    }
    select = (
        Assignment.objects.filter(policy=policy, state__in=AssignmentState.ACTIVE)
        .order_by()
        .annotate(**{f"c_{name}": expression for name, expression in columns.items()})
        .values(*(f"c_{name}" for name in columns))
    )
    sql, params = select.query.sql_with_params()
    table = connection.ops.quote_name(AccessReviewDecision._meta.db_table)
    names = ", ".join(connection.ops.quote_name(name) for name in columns)
    with connection.cursor() as cursor:
        # Table and column names are the model's own; every value is a bound parameter.
        cursor.execute(f"INSERT INTO {table} ({names}) {sql}", params)  # nosec B608
        return int(cursor.rowcount)


def _new_uuid() -> Func:
    if connection.vendor == "postgresql":
        return Func(function="gen_random_uuid", output_field=UUIDField())
    # SQLite keeps a UUID as 32 hex digits.
    return Func(
        Func(Func(Value(16), function="randomblob"), function="hex"), function="lower", output_field=CharField()
    )


def _recommendation_sql(now: datetime) -> tuple[Case, Case]:
    """The recommendation and its reason, as SQL for every row at once: deny when the person
    is disabled, no longer in a connected organization, or has not signed in for
    ``REVIEW_INACTIVE_DAYS``; approve otherwise."""
    days = settings.REVIEW_INACTIVE_DAYS
    cutoff = now - timedelta(days=days)
    gone = Q(target__user_type=UserType.GUEST) & ~Q(
        target__connected_organization__state=ConnectedOrganizationState.CONFIGURED
    )
    rules = [
        (Q(target__is_active=False), ReviewDecision.DENY, gettext_noop("The account is disabled.")),
        (gone, ReviewDecision.DENY, gettext_noop("No longer in a connected organization.")),
        (Q(target__last_login__isnull=True), ReviewDecision.DENY, gettext_noop("Has never signed in.")),
        (Q(target__last_login__lt=cutoff), ReviewDecision.DENY, f"Has not signed in for {days} days."),
    ]
    decision = Case(
        *(When(condition, then=Value(str(value))) for condition, value, _text in rules),
        default=Value(str(ReviewDecision.APPROVE)),
        output_field=CharField(),
    )
    reason = Case(
        *(When(condition, then=Value(text)) for condition, _value, text in rules),
        default=Value(f"Signed in within the last {days} days."),
        output_field=CharField(),
    )
    return decision, reason


# --- Emails and links ---------------------------------------------------------------------


def _behavior_sentence(instance: AccessReviewInstance) -> str | Promise:
    """In the reviewer's language: a lazy text, translated when their email is rendered."""
    sentences: dict[str, str | Promise] = {
        ExpirationBehavior.KEEP: gettext_lazy("Without a decision, access is kept."),
        ExpirationBehavior.REMOVE: gettext_lazy("Without a decision, access is removed."),
        ExpirationBehavior.RECOMMENDATION: gettext_lazy("Without a decision, the recommendation is taken."),
    }
    return sentences.get(instance.expiration_behavior, "")


def reviewers_with_work(instance: AccessReviewInstance, *, pending_only: bool) -> dict[UUID, int]:
    """Each reviewer of the instance and how many decisions they have (still to make): one
    aggregate for managers and self-reviewers, one count per named or fallback reviewer."""
    decisions = AccessReviewDecision.objects.filter(instance=instance)
    if pending_only:
        decisions = decisions.filter(decision=ReviewDecision.NOT_REVIEWED)
    counts: dict[UUID, int] = dict(
        decisions.filter(reviewer__isnull=False).values_list("reviewer_id").annotate(n=Count("id")).order_by()
    )
    for person in User.objects.filter(pk__in=instance.reviewer_rows.values("user_id")):
        n = decisions.reviewable_by(person).count()
        if n:
            counts[person.pk] = n
    return counts


def issue_link(instance: AccessReviewInstance, reviewer: User) -> str:
    link = ReviewLink.objects.create(instance=instance, reviewer=reviewer, expires_at=instance.end_at)
    return signing.dumps(str(link.pk), salt=notifications.REVIEW_LINK_SALT)


def review_link_url(instance: AccessReviewInstance, token: str) -> str:
    return notifications.absolute(reverse("myaccess:review_link", args=[instance.pk, token]))


CHAT_NAMES_SHOWN = 10


def _announce_in_chat(instance: AccessReviewInstance, counts: dict[UUID, int], *, reminder: bool) -> None:
    """The catalog's chat channels are told too, with the email's safe link (Access reviews
    in My Access, behind sign-in; never a reviewer's own single-use link)."""
    if not counts:
        return
    package = instance.package
    names = list(
        User.objects.filter(pk__in=counts, is_active=True).order_by("display_name", "username")[: CHAT_NAMES_SHOWN + 1]
    )
    shown = ", ".join(str(person) for person in names[:CHAT_NAMES_SHOWN])
    more = len(counts) - min(len(names), CHAT_NAMES_SHOWN)
    due = timezone.localtime(instance.end_at).strftime("%Y-%m-%d %H:%M %Z")
    left = sum(counts.values())
    decisions = "decision" if left == 1 else "decisions"
    title = (
        f"Reminder: access review of {package} has {left} {decisions} left"
        if reminder
        else f"Access review of {package} started"
    )
    body = (
        f'An access review of the access package "{package}" '
        + ("has not finished" if reminder else "has started")
        + f": {left} {decisions} to make by {due}. {_behavior_sentence(instance)}"
        + f"\nReviewers: {shown}{f' and {more} more' if more > 0 else ''}."
        + f"\nReview in My Access: {notifications.link('myaccess:reviews')}"
    )
    chat.announce_in_catalog(package.catalog_id, "review_reminder" if reminder else "review_started", title, body)


def _email_reviewers(instance: AccessReviewInstance, *, reminder: bool) -> int:
    counts = reviewers_with_work(instance, pending_only=reminder)
    _announce_in_chat(instance, counts, reminder=reminder)
    sent = 0
    for reviewer in User.objects.filter(pk__in=counts, is_active=True).order_by("username"):
        if not reviewer.email:
            continue
        token = issue_link(instance, reviewer)
        notifications.compose(
            "review_started",
            reviewer,
            {
                "instance": instance,
                "package": instance.package,
                "count": counts[reviewer.pk],
                "reminder": reminder,
                "self_review": instance.self_review,
                "behavior": _behavior_sentence(instance),
                "link": review_link_url(instance, token),
                "reviews_link": notifications.link("myaccess:reviews"),
            },
        )
        sent += 1
    return sent


def send_reminders(now: datetime | None = None) -> int:
    """One reminder halfway through an instance to reviewers with decisions still to make."""
    now = now or timezone.now()
    sent = 0
    for instance in AccessReviewInstance.objects.filter(
        state=InstanceState.IN_PROGRESS, reminder_sent_at__isnull=True, end_at__gt=now
    ).select_related("package"):
        if now < instance.start_at + (instance.end_at - instance.start_at) / 2:
            continue
        with transaction.atomic():
            claimed = AccessReviewInstance.objects.filter(pk=instance.pk, reminder_sent_at__isnull=True).update(
                reminder_sent_at=now
            )
            if not claimed:
                continue
            reviewers = _email_reviewers(instance, reminder=True)
            log_action(None, "review.reminder_sent", instance, reviewers=reviewers)
            sent += reviewers
    return sent


def open_review_link(token: str, instance_id: Any) -> ReviewLink:
    try:
        link_id = UUID(str(signing.loads(token, salt=notifications.REVIEW_LINK_SALT)))
    except (signing.BadSignature, ValueError, TypeError) as exc:
        raise LinkInvalid(_("This review link is not valid. It may have been cut short or changed.")) from exc
    link = (
        ReviewLink.objects.select_related("reviewer", "instance__package")
        .filter(pk=link_id, instance_id=instance_id if is_uuid(instance_id) else None)
        .first()
    )
    if link is None:
        raise LinkInvalid(_("This review link is not valid. It may have been cut short or changed."))
    return link


def check_review_link(link: ReviewLink, user: User | None, now: datetime | None = None) -> None:
    """Why this link cannot decide now (raised), as for approval links: the person first."""
    now = now or timezone.now()
    if user is None and settings.APPROVAL_LINK_REQUIRES_LOGIN:
        raise SignInRequired(_("Sign in to review access."))
    if user is not None and user.pk != link.reviewer_id:
        raise LinkForSomeoneElse(
            _(
                "This review link was sent to %(reviewer)s, and you are signed in as %(user)s. "
                "Only the person it was sent to can use it."
            )
            % {"reviewer": link.reviewer, "user": user}
        )
    if link.used_at is not None:
        raise LinkUsed(
            _(
                "This link has already been used. Each review link works once: "
                "continue under Access reviews in My Access."
            )
        )
    if not link.instance.is_open or now >= link.instance.end_at:
        raise LinkExpired(_("This access review has ended."))


def decide_by_link(
    token: str, instance_id: Any, user: User | None, decision_id: Any, decision: str, justification: str = ""
) -> AccessReviewDecision:
    """Decide one person's access through an emailed review link, once."""
    with transaction.atomic():
        found = open_review_link(token, instance_id)
        link = (
            ReviewLink.objects.select_for_update(of=("self",)).select_related("reviewer", "instance").get(pk=found.pk)
        )
        check_review_link(link, user)
        [made] = decide(link.reviewer, [decision_id], decision, justification, instance_id=link.instance_id)
        link.used_at = timezone.now()
        link.save(update_fields=["used_at"])
        log_action(link.reviewer, "review.link_used", made, signed_in=user is not None)
    return made


# --- Decide ------------------------------------------------------------------------------


def decide(
    reviewer: User,
    decision_ids: Iterable[Any],
    decision: str,
    justification: str = "",
    *,
    instance_id: Any = None,
    now: datetime | None = None,
) -> list[AccessReviewDecision]:
    """Approve or deny people's access as their reviewer. Only one's own reviewees (anyone
    else's is NotFound); changeable until the instance ends, not after."""
    now = now or timezone.now()
    if decision not in DECISIONS:
        raise ValidationFailed(_("Choose Approve or Deny."), field="decision")
    ids = list(dict.fromkeys(str(pk) for pk in decision_ids))
    if not ids:
        raise ValidationFailed(_("Select at least one person."), field="decisions")
    if not all(is_uuid(pk) for pk in ids):
        raise NotFound("Review decision not found.")
    justification = clean_text(justification, field="justification")
    with transaction.atomic():
        mine = reviewable_decisions(reviewer).filter(pk__in=ids)
        if instance_id is not None:
            mine = mine.filter(instance_id=instance_id)
        rows = list(
            AccessReviewDecision.objects.select_for_update(of=("self",))
            .select_related("instance__package", "target")
            .filter(pk__in=mine.values("pk"))
        )
        if len(rows) != len(ids):
            raise NotFound("Review decision not found.")
        for row in rows:
            instance = row.instance
            if not instance.is_open or now >= instance.end_at:
                raise InvalidTransition(
                    _("The access review of %(package)s has ended: decisions can no longer change.")
                    % {"package": instance.package}
                )
            if instance.justification_required and not justification:
                raise ValidationFailed(_("A justification is required for this review."), field="justification")
        events = []
        for row in rows:
            previous = row.decision
            row.decision = decision
            row.justification = justification
            row.reviewed_by = reviewer
            row.reviewed_by_label = actor_label(reviewer)[:256]
            row.reviewed_at = now
            events.append(
                build_event(
                    reviewer,
                    "review.decided",
                    row,
                    previous=previous,
                    decision=decision,
                    object_repr=f"Review of {row.target} ({row.instance.package})",
                    catalog_id=row.instance.package.catalog_id,
                    package_id=row.instance.package_id,
                )
            )
        AccessReviewDecision.objects.bulk_update(
            rows, ["decision", "justification", "reviewed_by", "reviewed_by_label", "reviewed_at"]
        )
        AuditEvent.objects.bulk_create(events)
    return rows


# --- End and apply --------------------------------------------------------------------------


def _lock_instance(actor: Any, instance_id: Any) -> AccessReviewInstance:
    if not is_uuid(instance_id):
        raise NotFound("Access review not found.")
    queryset = AccessReviewInstance.objects.select_for_update(of=("self",)).select_related("package")
    if actor is None:
        found = queryset.filter(pk=instance_id).first()
        if found is None:
            raise NotFound("Access review not found.")
        return found
    instance: AccessReviewInstance = get_for(actor, Action.MANAGE, queryset, instance_id, "access review")
    return instance


def end_instance(actor: Any, instance_id: Any, now: datetime | None = None) -> bool:
    """Stop an instance (an administrator, early) or end it (the beat job, at its end).
    False when it had ended already."""
    now = now or timezone.now()
    with transaction.atomic():
        instance = _lock_instance(actor, instance_id)
        new_state = REVIEW.next_state("end", instance.state) if instance.state != InstanceState.APPLIED else None
        if new_state is None:
            return False
        instance.state = new_state
        instance.ended_at = now
        instance.save(update_fields=["state", "ended_at", "modified_at"])
        log_action(
            actor, REVIEW.event("end"), instance, previous=InstanceState.IN_PROGRESS, early=now < instance.end_at
        )
        return True


@dataclass
class ApplyReport:
    removed: int = 0
    kept: int = 0
    already_ended: int = 0
    already_applied: bool = False


def apply_instance(actor: Any, instance_id: Any, now: datetime | None = None) -> ApplyReport:
    """Apply an ended instance's results, once. An instance still in progress is ended
    first ("Apply now"). Batched; each batch commits, and rows already applied are never
    applied again, so a second call (or one after a crash) is a no-op."""
    now = now or timezone.now()
    report = ApplyReport()
    with transaction.atomic():
        instance = _lock_instance(actor, instance_id)
        if instance.state == InstanceState.APPLIED:
            report.already_applied = True
            return report
    if instance.state == InstanceState.IN_PROGRESS:
        end_instance(actor, instance.pk, now)
    while _apply_batch(instance.pk, now, report):
        pass
    with transaction.atomic():
        instance = _lock_instance(None, instance.pk)
        if REVIEW.next_state("apply", instance.state) is None:
            report.already_applied = True
            return report
        instance.state = InstanceState.APPLIED
        instance.applied_at = now
        instance.save(update_fields=["state", "applied_at", "modified_at"])
        log_action(
            actor,
            REVIEW.event("apply"),
            instance,
            previous=InstanceState.COMPLETED,
            removed=report.removed,
            kept=report.kept,
            already_ended=report.already_ended,
        )
    return report


def _apply_batch(instance_id: UUID, now: datetime, report: ApplyReport) -> bool:
    with transaction.atomic():
        instance = _lock_instance(None, instance_id)
        if instance.state != InstanceState.COMPLETED:
            return False
        rows = list(
            AccessReviewDecision.objects.select_for_update(of=("self",))
            .filter(instance=instance, apply_result=ApplyResult.NEW)
            .only("pk", "decision", "recommendation", "assignment_id")[:BATCH]
        )
        if not rows:
            return False
        deny = [r for r in rows if r.outcome(instance.expiration_behavior) == ReviewDecision.DENY]
        keep = [r.pk for r in rows if r.outcome(instance.expiration_behavior) != ReviewDecision.DENY]
        ending = read_assignments(
            Assignment.objects.select_for_update(of=("self",)).filter(
                pk__in=[r.assignment_id for r in deny], state__in=ASSIGNMENT.sources_of("remove")
            )
        )
        removal_of = end_in_bulk(
            ending, "remove", notifications.REVIEW_REMOVAL_REASON, now, removal_reason=RemovalReason.REVIEW
        )
        gone = [r.pk for r in deny if r.assignment_id not in removal_of]
        AccessReviewDecision.objects.filter(pk__in=keep).update(apply_result=ApplyResult.APPLIED, applied_at=now)
        AccessReviewDecision.objects.filter(pk__in=gone).update(apply_result=ApplyResult.NOT_FOUND, applied_at=now)
        removed = [r for r in deny if r.assignment_id in removal_of]
        _record_removals([(r.pk, removal_of[r.assignment_id]) for r in removed], now)
        report.removed += len(removed)
        report.kept += len(keep)
        report.already_ended += len(gone)
        return True


def _record_removals(pairs: Sequence[tuple[UUID, UUID]], now: datetime) -> None:
    """Mark decisions applied with the removal request each made: one UPDATE joining the
    (decision, request) pairs on PostgreSQL (a subquery per row looked the request up through
    the wrong index), a CASE elsewhere."""
    if not pairs:
        return
    if connection.vendor != "postgresql":
        AccessReviewDecision.objects.filter(pk__in=[pk for pk, _ in pairs]).update(
            apply_result=ApplyResult.APPLIED,
            applied_at=now,
            removal_request_id=Case(
                *(When(pk=pk, then=Value(request_id, output_field=UUIDField())) for pk, request_id in pairs)
            ),
        )
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE governance_accessreviewdecision AS d SET apply_result = %s, applied_at = %s,"
            " removal_request_id = v.request_id FROM unnest(%s::uuid[], %s::uuid[]) AS v(decision_id, request_id)"
            " WHERE d.id = v.decision_id",
            [ApplyResult.APPLIED, now, array(pk for pk, _ in pairs), array(r for _, r in pairs)],
        )


def apply_now(actor: Any, instance_id: Any, now: datetime | None = None) -> None:
    """An administrator's "Apply now": end the instance (if still running) and have a worker
    apply its results; the beat job applies anything a lost task left."""
    with transaction.atomic():
        instance = _lock_instance(actor, instance_id)
        if instance.state == InstanceState.APPLIED:
            raise InvalidTransition("The results of this access review were applied already.")
    end_instance(actor, instance.pk, now)
    dispatch.send_on_commit(dispatch.APPLY_ACCESS_REVIEW, str(instance.pk))


def end_due_instances(now: datetime | None = None) -> int:
    """At an instance's end: end it and apply its results."""
    now = now or timezone.now()
    due = list(
        AccessReviewInstance.objects.filter(
            Q(state=InstanceState.IN_PROGRESS, end_at__lte=now) | Q(state=InstanceState.COMPLETED)
        ).values_list("pk", flat=True)
    )
    for instance_id in due:
        apply_instance(None, instance_id, now)
    return len(due)


def run_due(now: datetime | None = None) -> dict[str, int]:
    """The beat job: start what is due, remind halfway, end and apply at the end."""
    now = now or timezone.now()
    return {
        "started": start_due_instances(now),
        "reminded": send_reminders(now),
        "applied": end_due_instances(now),
    }


# --- Reading (portal, CSV, API) -----------------------------------------------------------


@dataclass
class Progress:
    total: int = 0
    approved: int = 0
    denied: int = 0

    @property
    def reviewed(self) -> int:
        return self.approved + self.denied

    @property
    def not_reviewed(self) -> int:
        return self.total - self.reviewed


def progress_of(instance_ids: Iterable[UUID]) -> dict[UUID, Progress]:
    """Progress of many instances in one query."""
    found: dict[UUID, Progress] = defaultdict(Progress)
    for instance_id, decision, n in (
        AccessReviewDecision.objects.filter(instance_id__in=list(instance_ids))
        .values_list("instance_id", "decision")
        .annotate(n=Count("id"))
        .order_by()
    ):
        progress = found[instance_id]
        progress.total += n
        if decision == ReviewDecision.APPROVE:
            progress.approved += n
        elif decision == ReviewDecision.DENY:
            progress.denied += n
    return found


def reviewer_label(actor: Any) -> str:
    person = person_of(actor)
    return str(person) if person is not None else actor_label(actor)


__all__ = [
    "ApplyReport",
    "NotAllowed",
    "Progress",
    "ReviewSpec",
    "apply_instance",
    "decide",
    "decide_by_link",
    "end_instance",
    "run_due",
    "save_settings",
    "start_instance",
]
