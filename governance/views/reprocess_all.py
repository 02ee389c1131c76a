"""Reprocessing from the requests and assignments lists: the rows ticked, or "Reprocess all
matching" (DESIGN §8).

For all matching, GET shows how many rows the list's filter matches that the person may reprocess, with a
button; only POST records the bulk operation and queues its one task, so the click returns
at once however many rows match. The operation's page shows its progress (htmx polling,
or reload).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from django.contrib import messages
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone

from governance.errors import ValidationFailed
from governance.models import AccessPackage, BulkReprocess, BulkReprocessKind
from governance.permissions import Action, can, restrict
from governance.services.bulk_reprocess import COUNT_CAP, MatchingScope, count_matching, queue_reprocess_matching
from governance.services.reprocess import BulkResult
from governance.views.access import admin_portal, may_somewhere, selected_ids
from governance.views.packages import find_package
from governance.web import render_page, safe_next

# Query-string keys that choose a page or an order, not which rows match.
NOT_FILTERS = ("page", "sort", "next")

LIST_URLS = {
    BulkReprocessKind.REQUESTS: ("governance:request_list", "governance:package_requests"),
    BulkReprocessKind.ASSIGNMENTS: ("governance:assignment_list", "governance:package_assignments"),
}
CONFIRM_URLS = {
    BulkReprocessKind.REQUESTS: ("governance:request_reprocess_all", "governance:package_requests_reprocess_all"),
    BulkReprocessKind.ASSIGNMENTS: (
        "governance:assignment_reprocess_all",
        "governance:package_assignments_reprocess_all",
    ),
}
RULES = {
    BulkReprocessKind.REQUESTS: "Delivery failed or Partially delivered, completed in the last {days} days",
    BulkReprocessKind.ASSIGNMENTS: "active",
}


def _url(names: tuple[str, str], package_id: UUID | None, query: str = "") -> str:
    url = reverse(names[1], args=[package_id]) if package_id else reverse(names[0])
    return f"{url}?{query}" if query else url


def filter_query(request: HttpRequest) -> str:
    params = request.GET.copy()
    for key in NOT_FILTERS:
        params.pop(key, None)
    return params.urlencode()


def reprocess_all_url(request: HttpRequest, kind: str, package: AccessPackage | None) -> str:
    """The "Reprocess all matching" link of a list: its confirmation, with the list's filter."""
    return _url(CONFIRM_URLS[BulkReprocessKind(kind)], package.pk if package else None, filter_query(request))


def may_reprocess(request: HttpRequest, package: AccessPackage | None) -> bool:
    """Whether a list may offer Reprocess: on a package's tab, in that package; across
    packages, in some catalog (the service then skips each row the person may not touch)."""
    return can(request.user, Action.REPROCESS, package) if package else may_somewhere(request, Action.REPROCESS)


def reprocess_controls(request: HttpRequest, kind: str, package: AccessPackage | None) -> dict[str, Any]:
    """What a list's template needs for its Reprocess buttons."""
    allowed = may_reprocess(request, package)
    return {
        "can_reprocess_any": allowed,
        "reprocess_all_url": reprocess_all_url(request, kind, package) if allowed else "",
    }


def reprocess_selected(
    request: HttpRequest, noun: str, back: str, reprocess: Callable[[Any, list[str]], BulkResult]
) -> HttpResponse:
    """The rows ticked in a list, reprocessed by ``reprocess``; ineligible ones are reported."""
    ids = selected_ids(request)
    back = safe_next(request, back)
    if not ids:
        messages.error(request, f"Select at least one {noun} to reprocess.")
        return redirect(back)
    result = reprocess(request.user, ids)
    (messages.success if not result.skipped else messages.warning)(request, f"Reprocess: {result.summary()}")
    return redirect(back)


def _confirm(request: HttpRequest, kind: BulkReprocessKind, package: AccessPackage | None) -> HttpResponse:
    if not may_reprocess(request, package):
        raise Http404("Not found.")
    query = filter_query(request)
    scope = MatchingScope(
        kind=kind,
        query=request.GET.copy(),
        package_id=package.pk if package else None,
        as_of=timezone.now(),
    )
    for key in NOT_FILTERS:
        scope.query.pop(key, None)
    package_id = package.pk if package else None
    noun = "request" if kind == BulkReprocessKind.REQUESTS else "assignment"
    context: dict[str, Any] = {
        "kind": kind,
        "noun": noun,
        "package": package,
        "back_url": _url(LIST_URLS[kind], package_id, query),
        "action_url": _url(CONFIRM_URLS[kind], package_id, query),
        "rule": RULES[kind].format(days=_window_days()),
        "error": "",
        "count": 0,
        "capped": False,
        "cap": COUNT_CAP,
    }
    try:
        if request.method == "POST":
            operation = queue_reprocess_matching(request.user, scope)
            if operation.matched:
                messages.success(request, f"Reprocessing {operation.matched:,} {noun}s — queued")
            else:
                messages.info(request, f"Nothing to reprocess: no {noun}s match.")
            return redirect("governance:bulk_reprocess_detail", pk=operation.pk)
        context["description"] = scope.describe()
        context["count"], context["capped"] = count_matching(request.user, scope)
    except ValidationFailed as error:
        context["error"] = error.message
    return render_page(
        request,
        "governance/reprocess_all/confirm.html",
        context,
        partial="governance/reprocess_all/_confirm.html",
        status=400 if context["error"] else 200,
    )


def _window_days() -> int:
    from django.conf import settings

    return int(settings.REPROCESS_WINDOW_DAYS)


@admin_portal
def request_reprocess_all(request: HttpRequest) -> HttpResponse:
    return _confirm(request, BulkReprocessKind.REQUESTS, None)


@admin_portal
def package_requests_reprocess_all(request: HttpRequest, pk: UUID) -> HttpResponse:
    return _confirm(request, BulkReprocessKind.REQUESTS, find_package(request, pk))


@admin_portal
def assignment_reprocess_all(request: HttpRequest) -> HttpResponse:
    return _confirm(request, BulkReprocessKind.ASSIGNMENTS, None)


@admin_portal
def package_assignments_reprocess_all(request: HttpRequest, pk: UUID) -> HttpResponse:
    return _confirm(request, BulkReprocessKind.ASSIGNMENTS, find_package(request, pk))


def _operations(request: HttpRequest) -> QuerySet[BulkReprocess]:
    """One's own bulk operations; global roles see everyone's (they are not in a catalog)."""
    return restrict(BulkReprocess.objects.all(), request.user, Action.VIEW) | BulkReprocess.objects.filter(
        actor=request.user.pk
    )


@admin_portal
def bulk_reprocess_detail(request: HttpRequest, pk: UUID) -> HttpResponse:
    operation = _operations(request).filter(pk=pk).first()
    if operation is None:
        raise Http404("Not found.")
    kind = BulkReprocessKind(operation.kind)
    return render_page(
        request,
        "governance/reprocess_all/detail.html",
        {
            "operation": operation,
            "reasons": sorted(operation.skipped_reasons.items(), key=lambda item: -item[1]),
            "list_url": _url(LIST_URLS[kind], operation.package_scope, operation.query),
        },
        partial="governance/reprocess_all/_progress.html",
    )
