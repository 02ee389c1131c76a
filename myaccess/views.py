"""My Access: what a person can request, has, and has asked for."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from governance.models import AssignmentState, RequestState
from governance.permissions import own_assignments, own_requests, requestable_packages


@login_required
def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    return render(
        request,
        "myaccess/home.html",
        {
            "packages": requestable_packages(user).filter(is_hidden=False).select_related("catalog")[:50],  # type: ignore[arg-type]
            "assignments": own_assignments(user).filter(state__in=AssignmentState.ACTIVE).select_related("package"),  # type: ignore[arg-type]
            "requests": own_requests(user).filter(state__in=RequestState.OPEN).select_related("package"),  # type: ignore[arg-type]
        },
    )
