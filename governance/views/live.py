"""Status that updates itself (issue 14): what counts as in flight, how often a page asks
again, and the small answer a list's poller gets.

A page showing something in flight carries an htmx poller: a detail page re-reads itself
and swaps its live region (``hx-select``); a list asks :func:`live_states` for the badges of
its in-flight rows and swaps them out of band, so ticked checkboxes and typed filters stay.
The next ask comes later each time (2 s, then backing off to a minute) and stops when nothing
is in flight any more. Without JavaScript the same page is simply reloaded.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from governance.ids import is_uuid
from governance.models import Assignment, AssignmentRequest, AssignmentState, GrantState, RequestState
from governance.permissions import Action, restrict
from governance.views.access import admin_portal

FIRST_DELAY = 2.0
BACKOFF = 1.5
MAX_DELAY = 60.0
MAX_IDS = 100
POLL_HEADER = "X-Poll"

# Requests move on without anyone reloading: approval, delivery.
REQUEST_IN_FLIGHT = frozenset({RequestState.SUBMITTED, RequestState.PENDING_APPROVAL, RequestState.DELIVERING})
# An active assignment this close to its end is about to show Expired (beat runs every minute).
ENDING_SOON = timedelta(minutes=2)


def request_in_flight(request: AssignmentRequest) -> bool:
    return request.state in REQUEST_IN_FLIGHT


def assignment_in_flight(assignment: Assignment, now: datetime | None = None, grant_states: Any = ()) -> bool:
    """Delivering, revoking what it granted, or about to expire."""
    if assignment.state == AssignmentState.DELIVERING:
        return True
    if any(state in GrantState.WORK for state in grant_states):
        return True
    end = assignment.end_at
    now = now or timezone.now()
    return assignment.state in AssignmentState.ACTIVE and end is not None and end <= now + ENDING_SOON


def poll_count(request: HttpRequest) -> int:
    """How many times this page has asked already (0: a page load, not a poll)."""
    raw = request.headers.get(POLL_HEADER, "")
    return min(int(raw), 1000) if raw.isdigit() else 0


def next_delay(request: HttpRequest) -> float:
    return round(min(FIRST_DELAY * BACKOFF ** poll_count(request), MAX_DELAY), 1)


KINDS: dict[str, Any] = {
    "requests": (AssignmentRequest, lambda row, now: request_in_flight(row)),
    "assignments": (Assignment, lambda row, now: assignment_in_flight(row, now)),
}


@admin_portal
def live_states(request: HttpRequest) -> HttpResponse:
    """The current badges of a list's in-flight rows (out-of-band swaps) and the poller,
    asking again only for those still in flight."""
    kind = request.GET.get("kind", "")
    if kind not in KINDS:
        raise Http404("Not found.")
    model, in_flight = KINDS[kind]
    ids = [pk for pk in request.GET.getlist("id") if is_uuid(pk)][:MAX_IDS]
    rows = list(restrict(model.objects.filter(pk__in=ids), request.user, Action.VIEW))
    now = timezone.now()
    still = [row.pk for row in rows if in_flight(row, now)]
    return render(
        request,
        "governance/_live_states.html",
        {"rows": rows, "kind": kind, "still": still, "delay": next_delay(request), "poll": poll_count(request) + 1},
    )
