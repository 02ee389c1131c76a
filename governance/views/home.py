"""The front page: administrators see what needs attention, everyone else goes to My Access."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from governance.filters import ATTENTION, DRIFTED
from governance.models import (
    AccessPackage,
    Assignment,
    AssignmentRequest,
    AssignmentState,
    AuditEvent,
    GrantState,
    RequestState,
    RoleGrant,
)
from governance.permissions import Action, has_admin_portal, restrict

RECENT_EVENTS = 8


@login_required
def home(request: HttpRequest) -> HttpResponse:
    if not has_admin_portal(request.user):
        return redirect("myaccess:home")
    return redirect("governance:dashboard")


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """Counts that need attention, each opening the list filtered to exactly those rows."""
    if not has_admin_portal(request.user):
        return redirect("myaccess:home")
    user = request.user
    # One count per tile, each filtered on an indexed state, so none reads the whole table.
    requests = restrict(AssignmentRequest.objects.all(), user, Action.VIEW)
    failed_requests = requests.filter(state__in=RequestState.REPROCESSABLE).count()
    pending = requests.filter(state=RequestState.PENDING_APPROVAL).count()
    failed_assignments = (
        restrict(Assignment.objects.all(), user, Action.VIEW)
        .filter(state__in=[AssignmentState.DELIVERY_FAILED, AssignmentState.PARTIALLY_DELIVERED])
        .count()
    )
    drifted = (
        restrict(RoleGrant.objects.all(), user, Action.VIEW)
        .filter(state=GrantState.DRIFTED, assignment__state__in=AssignmentState.ACTIVE)
        .values("assignment_id")
        .distinct()
        .count()
    )
    tiles = [
        {
            "count": failed_requests,
            "label": "requests with delivery errors",
            "url": f"/governance/requests/?status={ATTENTION}",
            "alert": bool(failed_requests),
        },
        {
            "count": failed_assignments,
            "label": "assignments not fully delivered",
            "url": f"/governance/assignments/?status={ATTENTION}",
            "alert": bool(failed_assignments),
        },
        {
            "count": drifted,
            "label": "assignments with drifted access",
            "url": f"/governance/assignments/?status={DRIFTED}",
            "alert": bool(drifted),
        },
        {
            "count": pending,
            "label": "requests pending approval",
            "url": f"/governance/requests/?status={RequestState.PENDING_APPROVAL}",
            "alert": False,
        },
        {
            "count": restrict(AccessPackage.objects.all(), user, Action.VIEW).count(),
            "label": "access packages",
            "url": "/governance/packages/",
            "alert": False,
        },
    ]
    # Grant-level events are the engine's bookkeeping; the audit log has them all.
    events = (
        restrict(AuditEvent.objects.all(), user, Action.VIEW)
        .exclude(action__startswith="grant.")
        .select_related("actor")
        .order_by("-created_at", "-id")[:RECENT_EVENTS]
    )
    return render(request, "governance/dashboard.html", {"tiles": tiles, "events": events})
