"""The audit log: every state change, filtered by actor, action, day and object; CSV too.

Events carry the catalog they happened in; people with catalog roles see their catalogs'
events, and events outside any catalog are for global roles only.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils import timezone

from governance.filters import AuditFilter
from governance.ids import is_uuid
from governance.models import AccessPackage, AuditEvent, RoleGrant
from governance.permissions import Action, restrict
from governance.views.access import admin_portal
from governance.views.listing import paginate, stream_csv
from governance.web import render_page

CSV_HEADER = ["Time", "Actor", "Action", "Object type", "Object", "Object id", "Catalog id", "Package id", "Details"]


def _events(request: HttpRequest) -> AuditFilter:
    events: QuerySet[AuditEvent] = restrict(AuditEvent.objects.all(), request.user, Action.VIEW)
    return AuditFilter(request.GET, queryset=events)


def readable(events: Iterable[AuditEvent]) -> list[AuditEvent]:
    """Each event with the words the log shows: ``package_name`` (where it happened) and
    ``object_text`` (a grant names its person, not their id). Two queries for any page."""
    events = list(events)
    package_ids = {e.package_id for e in events if e.package_id}
    names = dict(AccessPackage.objects.filter(pk__in=package_ids).values_list("pk", "display_name"))
    grant_ids = [e.object_id for e in events if e.object_type == "rolegrant"]
    grants = {
        str(g.pk): g
        for g in RoleGrant.objects.filter(pk__in=grant_ids).select_related(
            "resource_role__resource", "assignment__target"
        )
    }
    for event in events:
        event.package_name = names.get(event.package_id, "") if event.package_id else ""  # type: ignore[attr-defined]
        grant = grants.get(event.object_id) if event.object_type == "rolegrant" else None
        text = f"{grant.resource_role} for {grant.assignment.target}" if grant else event.object_repr
        event.object_text = text  # type: ignore[attr-defined]
    return events


@admin_portal
def audit_list(request: HttpRequest) -> HttpResponse:
    filterset = _events(request)
    page = paginate(request, filterset.qs.select_related("actor"))
    page.rows = readable(page.rows)
    package = request.GET.get("package", "")
    return render_page(
        request,
        "governance/audit/list.html",
        {"filter": filterset, "page": page, "package_name": readable_package(package)},
        partial="governance/audit/_table.html",
    )


def readable_package(package_id: str) -> str:
    """The name of the package a "history of one package" link is about."""
    if not is_uuid(package_id):
        return ""
    return AccessPackage.objects.filter(pk=package_id).values_list("display_name", flat=True).first() or ""


@admin_portal
def audit_download(request: HttpRequest) -> StreamingHttpResponse:
    rows = (
        _events(request)
        .qs.order_by("-created_at", "-id")
        .values_list(
            "created_at",
            "actor_label",
            "action",
            "object_type",
            "object_repr",
            "object_id",
            "catalog_id",
            "package_id",
            "data",
        )
    )
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    return stream_csv(f"audit-{stamp}.csv", CSV_HEADER, rows.iterator(chunk_size=2000))
