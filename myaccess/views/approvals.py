"""Approvals: requests waiting for my decision, deciding them, and my past decisions."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, F, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from governance.errors import DomainError, NotFound, ValidationFailed
from governance.models import ApprovalDecision, Decision, User
from governance.permissions import approvable_requests, approval_to_review
from governance.services.approvals import already_decided, decide, too_late
from governance.views.listing import MY_ACCESS_PER_PAGE, paginate
from governance.web import attach_error, not_found_on_refusal, render_page
from myaccess.forms import DecisionForm


@login_required
def approval_list(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    view = "history" if request.GET.get("view") == "history" else "pending"
    rows: QuerySet[Any]
    if view == "history":
        rows = (
            ApprovalDecision.objects.filter(approver=user)
            .select_related("request__package", "request__target")
            .order_by("-decided_at", "pk")
        )
        template = "myaccess/_decision_table.html"
    else:
        rows = (
            approvable_requests(user)
            .select_related("package", "target", "requestor")
            # Stages of the generation each request was submitted under (its snapshot).
            .annotate(
                stage_count=Count(
                    "policy__stages", filter=Q(policy__stages__generation=F("stage_generation")), distinct=True
                )
            )
            .order_by("stage_due_at", "pk")
        )
        template = "myaccess/_approval_table.html"
    page = paginate(request, rows, MY_ACCESS_PER_PAGE, count=True)
    return render_page(request, "myaccess/approval_list.html", {"page": page, "view": view}, partial=template)


@login_required
@require_http_methods(["GET", "POST"])
def approval_detail(request: HttpRequest, request_id: UUID) -> HttpResponse:
    """Approve or Deny the current stage (rule 4): the first decision wins."""
    user: User = request.user  # type: ignore[assignment]
    try:
        found = approval_to_review(user, request_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    assert found.policy is not None
    required = found.policy.approver_justification_required
    form = DecisionForm(request.POST if request.method == "POST" else None, justification_required=required)
    refusal: DomainError | None = None
    if request.method == "POST" and form.is_valid():
        decision = form.cleaned_data["decision"]
        try:
            decide(
                user,
                found.pk,
                decision,
                form.cleaned_data.get("justification", ""),
                stage_order=form.cleaned_data.get("stage") or None,
            )
        except NotFound as exc:
            not_found_on_refusal(exc)
        except ValidationFailed as exc:
            attach_error(form, exc)
        except DomainError as exc:
            refusal = exc
        else:
            names = {"person": found.target, "package": found.package}
            if decision == Decision.APPROVE:
                messages.success(request, _("You approved %(person)s's request for %(package)s.") % names)
            else:
                messages.success(request, _("You denied %(person)s's request for %(package)s.") % names)
            return redirect("myaccess:approvals")
        found.refresh_from_db()
    stage = found.current_approval_stage()
    can_decide = stage is not None and user.pk in found.stage_approver_ids(stage)
    decisions = list(found.decisions.select_related("approver").order_by("stage_order"))
    if refusal is None and can_decide:
        refusal = too_late(found)
    if refusal is None and not can_decide:
        by_others = [d for d in decisions if d.approver_id != user.pk]
        if by_others:
            refusal = already_decided(by_others[-1])
    return render_page(
        request,
        "myaccess/approval_detail.html",
        {
            "req": found,
            "form": form,
            "refusal": refusal,
            "can_decide": can_decide and refusal is None,
            "stage_count": found.approval_stages().count(),
            "decisions": decisions,
        },
    )
