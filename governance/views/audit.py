"""The audit log: every state change, filtered by actor, action, day and object; CSV too.

Events carry the catalog they happened in; people with catalog roles see their catalogs'
events, and events outside any catalog are for global roles only.
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils import timezone

from governance.filters import AuditFilter
from governance.models import AuditEvent
from governance.permissions import Action, restrict
from governance.views.access import admin_portal
from governance.views.listing import render_filtered, stream_csv

CSV_HEADER = ["Time", "Actor", "Action", "Object type", "Object", "Object id", "Catalog id", "Package id", "Details"]


def _events(request: HttpRequest) -> AuditFilter:
    events: QuerySet[AuditEvent] = restrict(AuditEvent.objects.all(), request.user, Action.VIEW)
    return AuditFilter(request.GET, queryset=events)


@admin_portal
def audit_list(request: HttpRequest) -> HttpResponse:
    return render_filtered(request, "audit", _events(request))


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
