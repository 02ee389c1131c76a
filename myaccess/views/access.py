"""Access I have: active (and ended) assignments, Extend, and Remove my access."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Exists, OuterRef, Prefetch, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from governance.errors import DomainError, DuplicateRequest, NotFound
from governance.models import (
    Assignment,
    AssignmentPolicy,
    AssignmentRequest,
    AssignmentState,
    RequestState,
    RequestType,
    RoleGrant,
    User,
)
from governance.permissions import own_assignments
from governance.services import explain
from governance.services.requests import request_extension, request_removal
from governance.views.listing import MY_ACCESS_PER_PAGE, paginate
from governance.web import attach_error, not_found_on_refusal, render_page
from myaccess.forms import ExtendForm, RemoveForm

STATUS_FILTERS = {"active": AssignmentState.ACTIVE, "ended": AssignmentState.ENDED}


def _assignments(user: User) -> QuerySet[Assignment]:
    grants = RoleGrant.objects.select_related("resource_role__resource").order_by(
        "resource_role__resource__display_name", "resource_role__display_name"
    )
    pending_change = AssignmentRequest.objects.filter(
        assignment=OuterRef("pk"),
        request_type__in=RequestType.UPDATES | RequestType.REMOVES,
        state__in=RequestState.OPEN,
    )
    # The policy must still let the person request the package (the service checks it again).
    still_allowed = AssignmentPolicy.objects.requestable_by(user).filter(pk=OuterRef("policy_id"))
    return (
        own_assignments(user)
        .select_related("package", "policy")
        .prefetch_related(Prefetch("grants", queryset=grants))
        .annotate(change_pending=Exists(pending_change), policy_allows_me=Exists(still_allowed))
    )


def can_extend(assignment: Assignment) -> bool:
    policy = assignment.policy
    return bool(
        assignment.is_active
        and assignment.end_at
        and policy is not None
        and policy.allow_extension
        and policy.enabled
        and assignment.policy_allows_me  # type: ignore[attr-defined]
    )


@login_required
def access_list(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    status = request.GET.get("status", "active")
    if status not in STATUS_FILTERS:
        status = "active"
    rows = _assignments(user).filter(state__in=STATUS_FILTERS[status]).order_by("-created_at", "pk")
    page = paginate(request, rows, MY_ACCESS_PER_PAGE, count=True)
    for assignment in page.rows:
        assignment.extendable = can_extend(assignment)
    return render_page(
        request, "myaccess/access_list.html", {"page": page, "status": status}, partial="myaccess/_access_table.html"
    )


def _detail(request: HttpRequest, assignment_id: UUID, **forms: Any) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    assignment = _assignments(user).filter(pk=assignment_id).first()
    if assignment is None:
        raise Http404("Assignment not found.")
    policy = assignment.policy
    extendable = can_extend(assignment)
    extend_form = forms.get("extend_form") or ExtendForm(
        choose_end=bool(policy and policy.allow_custom_schedule),
        justification_required=bool(policy and policy.requestor_justification_required),
    )
    history = (
        AssignmentRequest.objects.filter(assignment=assignment).select_related("package").order_by("-created_at")[:20]
    )
    why: dict[str, Any] = {}
    if assignment.is_active:
        # "Why do I have this?" (issue 22): how it came, what justifies each resource, and
        # what ending it would take away (rule 7's what-if, for oneself).
        what_if = explain.removing_assignments([assignment.pk], viewer=user)
        why = {
            "origin": AssignmentRequest.objects.filter(assignment=assignment, request_type__in=RequestType.ADDS)
            .select_related("requestor")
            .order_by("created_at")
            .first(),
            "held": explain.why_holds(user, [g.resource_role_id for g in assignment.grants.all()], viewer=user),
            "if_ended": what_if.people[0] if what_if.people else None,
        }
    return render_page(
        request,
        "myaccess/access_detail.html",
        {
            "assignment": assignment,
            "extendable": extendable,
            "extend_form": extend_form,
            "remove_form": forms.get("remove_form") or RemoveForm(),
            "history": history,
            "duplicate": forms.get("duplicate"),
            "why": why,
        },
    )


@login_required
def access_detail(request: HttpRequest, assignment_id: UUID) -> HttpResponse:
    return _detail(request, assignment_id)


@login_required
@require_POST
def extend(request: HttpRequest, assignment_id: UUID) -> HttpResponse:
    """Extend: a userExtend request, approved first when the policy asks."""
    user: User = request.user  # type: ignore[assignment]
    assignment = own_assignments(user).select_related("policy").filter(pk=assignment_id).first()
    if assignment is None:
        raise Http404("Assignment not found.")
    policy = assignment.policy
    form = ExtendForm(
        request.POST,
        choose_end=bool(policy and policy.allow_custom_schedule),
        justification_required=bool(policy and policy.requestor_justification_required),
    )
    if form.is_valid():
        try:
            made = request_extension(
                user,
                assignment.pk,
                justification=form.cleaned_data.get("justification", ""),
                end=form.cleaned_data.get("end"),
            )
        except DuplicateRequest as exc:
            return _detail(request, assignment_id, extend_form=form, duplicate=exc)
        except NotFound as exc:
            not_found_on_refusal(exc)
        except DomainError as exc:
            attach_error(form, exc)
        else:
            if made.state == RequestState.PENDING_APPROVAL:
                messages.success(
                    request,
                    _("You asked to extend your access to %(package)s; it now needs approval.")
                    % {"package": assignment.package},
                )
            else:
                messages.success(
                    request, _("Your access to %(package)s is being extended.") % {"package": assignment.package}
                )
            return redirect("myaccess:request", request_id=made.pk)
    return _detail(request, assignment_id, extend_form=form)


@login_required
@require_POST
def remove(request: HttpRequest, assignment_id: UUID) -> HttpResponse:
    """Remove my access (userRemove): the person gives it up."""
    user: User = request.user  # type: ignore[assignment]
    form = RemoveForm(request.POST)
    if form.is_valid():
        try:
            made = request_removal(user, assignment_id, form.cleaned_data.get("justification", ""))
        except NotFound as exc:
            not_found_on_refusal(exc)
        except DomainError as exc:
            attach_error(form, exc)
        else:
            messages.success(request, _("Your access is being removed."))
            return redirect("myaccess:request", request_id=made.pk)
    return _detail(request, assignment_id, remove_form=form)
