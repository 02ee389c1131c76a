"""A package's "Access reviews" tab (rule 14): its instances with progress, one instance's
decisions, Stop, Apply now, and the results as CSV."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from governance.models import AccessPackage, AccessReviewDecision, AccessReviewInstance, ReviewDecision
from governance.permissions import Action, can
from governance.services import reviews
from governance.views.access import admin_portal
from governance.views.listing import paginate, stream_csv
from governance.views.outcomes import refusals_as_messages
from governance.views.packages import find_package, package_tabs
from governance.web import render_page

DECISION_FILTERS = {
    "approved": ReviewDecision.APPROVE,
    "denied": ReviewDecision.DENY,
    "not_reviewed": ReviewDecision.NOT_REVIEWED,
}


def _instance_of(package: AccessPackage, instance_pk: UUID) -> AccessReviewInstance:
    instance = AccessReviewInstance.objects.select_related("policy").filter(pk=instance_pk, package=package).first()
    if instance is None:
        raise Http404("Access review not found.")
    return instance


@admin_portal
def review_list(request: HttpRequest, pk: UUID) -> HttpResponse:
    package = find_package(request, pk)
    instances = list(package.review_instances.select_related("policy").order_by("-start_at")[:100])
    progress = reviews.progress_of(i.pk for i in instances)
    rows = [(instance, progress.get(instance.pk, reviews.Progress())) for instance in instances]
    policies = package.policies.filter(review_enabled=True).order_by("created_at")
    return render_page(
        request,
        "governance/packages/reviews.html",
        {**package_tabs(request, package, "reviews"), "rows": rows, "policies": policies},
    )


@admin_portal
def review_detail(request: HttpRequest, pk: UUID, instance_pk: UUID) -> HttpResponse:
    package = find_package(request, pk)
    instance = _instance_of(package, instance_pk)
    show = request.GET.get("decision", "")
    decisions = instance.decisions.select_related("target", "reviewer", "reviewed_by").order_by(
        "target__username", "pk"
    )
    if show in DECISION_FILTERS:
        decisions = decisions.filter(decision=DECISION_FILTERS[show])
    page = paginate(request, decisions)
    progress = reviews.progress_of([instance.pk]).get(instance.pk, reviews.Progress())
    return render_page(
        request,
        "governance/packages/review_detail.html",
        {
            **package_tabs(request, package, "reviews"),
            "instance": instance,
            "page": page,
            "progress": progress,
            "show": show,
            "can_stop": instance.is_open and can(request.user, Action.MANAGE, instance),
            "can_apply": instance.state != "Applied" and can(request.user, Action.MANAGE, instance),
            "applied": instance.decisions.exclude(apply_result="New").count() if instance.state != "Applied" else None,
        },
        partial="governance/packages/_review_decisions.html",
    )


@admin_portal
@require_POST
def review_stop(request: HttpRequest, pk: UUID, instance_pk: UUID) -> HttpResponse:
    package = find_package(request, pk)
    instance = _instance_of(package, instance_pk)
    with refusals_as_messages(request):
        if reviews.end_instance(request.user, instance.pk):
            messages.success(request, "The access review was stopped. Apply its results when you are ready.")
    return redirect("governance:package_review", pk=package.pk, instance_pk=instance.pk)


@admin_portal
@require_POST
def review_apply(request: HttpRequest, pk: UUID, instance_pk: UUID) -> HttpResponse:
    package = find_package(request, pk)
    instance = _instance_of(package, instance_pk)
    with refusals_as_messages(request):
        reviews.apply_now(request.user, instance.pk)
        messages.success(request, "Applying the results: denied access is being removed.")
    return redirect("governance:package_review", pk=package.pk, instance_pk=instance.pk)


CSV_HEADER = [
    "Person",
    "User principal name",
    "Decision",
    "Justification",
    "Reviewed by",
    "Reviewed at",
    "Recommendation",
    "Recommendation reason",
    "Applied",
    "Result",
]


def _csv_rows(instance: AccessReviewInstance) -> Iterator[list[Any]]:
    rows = (
        AccessReviewDecision.objects.filter(instance=instance)
        .select_related("target")
        .order_by("target__username", "pk")
    )
    for row in rows.iterator(chunk_size=2000):
        outcome = row.outcome(instance.expiration_behavior)
        if row.apply_result == "New":
            result = ""
        elif row.removal_request_id:
            result = "Access removed"
        elif row.apply_result == "AppliedSuccessfullyButObjectNotFound":
            result = "Access had already ended"
        else:
            result = "Access kept" if outcome == ReviewDecision.APPROVE else "Access removed"
        yield [
            str(row.target),
            row.target.user_principal_name or row.target.username,
            row.get_decision_display(),
            row.justification,
            row.reviewed_by_label,
            row.reviewed_at,
            row.get_recommendation_display(),
            row.recommendation_reason,
            row.applied_at,
            result,
        ]


@admin_portal
def review_download(request: HttpRequest, pk: UUID, instance_pk: UUID) -> StreamingHttpResponse:
    package = find_package(request, pk)
    instance = _instance_of(package, instance_pk)
    return stream_csv(f"access-review-{instance.start_at:%Y-%m-%d}.csv", CSV_HEADER, _csv_rows(instance))
