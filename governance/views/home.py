"""The front page: administrators see what needs attention, everyone else goes to My Access."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from governance.models import AccessPackage, Assignment, AssignmentRequest, AssignmentState, GrantState, RequestState
from governance.permissions import Action, has_admin_portal, restrict


@login_required
def home(request: HttpRequest) -> HttpResponse:
    if not has_admin_portal(request.user):
        return redirect("myaccess:home")
    return redirect("governance:dashboard")


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    if not has_admin_portal(request.user):
        return redirect("myaccess:home")
    requests = restrict(AssignmentRequest.objects.all(), request.user, Action.VIEW).aggregate(
        failed=Count("pk", filter=Q(state__in=RequestState.REPROCESSABLE)),
        pending=Count("pk", filter=Q(state=RequestState.PENDING_APPROVAL)),
    )
    assignments = restrict(Assignment.objects.all(), request.user, Action.VIEW)
    drifted = assignments.filter(state__in=AssignmentState.ACTIVE, grants__state=GrantState.DRIFTED).distinct().count()
    packages = restrict(AccessPackage.objects.all(), request.user, Action.VIEW).count()
    return render(
        request,
        "governance/dashboard.html",
        {"counts": {**requests, "drifted": drifted, "packages": packages}},
    )
