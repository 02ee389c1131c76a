"""My Access > Access reviews: the people I review, with the recommendation and its reason;
Approve / Deny per person or for all selected (rule 14). And the emailed review link: GET
shows, only POST decides, once."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from governance.errors import DomainError, ValidationFailed
from governance.models import AccessReviewDecision, InstanceState, ReviewDecision, User
from governance.permissions import reviewable_decisions
from governance.services import reviews
from governance.services.approval_links import LinkExpired, LinkForSomeoneElse, LinkInvalid, LinkUsed
from governance.views.listing import MY_ACCESS_PER_PAGE, paginate
from governance.web import attach_error, not_found_on_refusal, render_page
from myaccess.forms import ReviewForm
from myaccess.views.signed_links import open_link, refusal_page

FILTERS = {
    "pending": {"decision": ReviewDecision.NOT_REVIEWED},
    "approved": {"decision": ReviewDecision.APPROVE},
    "denied": {"decision": ReviewDecision.DENY},
    "all": {},
}

TITLES: list[tuple[type[DomainError], str | Promise]] = [
    (LinkInvalid, gettext_lazy("This link is not valid")),
    (LinkUsed, gettext_lazy("This link has already been used")),
    (LinkExpired, gettext_lazy("This review has ended")),
    (LinkForSomeoneElse, gettext_lazy("This link is for someone else")),
]


def _parse_choice(request: HttpRequest) -> tuple[list[str], str]:
    """Which rows and which decision: a row's own button (``one=<id>:<decision>``) or the
    selection with the Approve selected / Deny selected buttons."""
    one = request.POST.get("one", "")
    if one:
        pk, _, decision = one.partition(":")
        return [pk], decision
    return request.POST.getlist("selected"), request.POST.get("decision", "")


def _open_rows(user: User) -> Any:
    return (
        reviewable_decisions(user)
        .filter(instance__state=InstanceState.IN_PROGRESS, instance__end_at__gt=timezone.now())
        .select_related("instance__package", "target", "assignment")
        .order_by("instance__end_at", "target__username", "pk")
    )


@login_required
@require_http_methods(["GET", "POST"])
def review_list(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    show = request.GET.get("show", "pending")
    if show not in FILTERS:
        show = "pending"
    form = ReviewForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        ids, decision = _parse_choice(request)
        try:
            decided = reviews.decide(user, ids, decision, form.cleaned_data.get("justification", ""))
        except ValidationFailed as exc:
            attach_error(form, exc)
        except DomainError as exc:
            not_found_on_refusal(exc)
            messages.error(request, exc.message)
        else:
            names = ", ".join(str(row.target) for row in decided[:5]) + ("…" if len(decided) > 5 else "")
            if decision == ReviewDecision.APPROVE:
                messages.success(request, _("You approved access for %(names)s.") % {"names": names})
            else:
                messages.success(request, _("You denied access for %(names)s.") % {"names": names})
            return redirect(f"{request.path}?show={show}")
    rows = _open_rows(user).filter(**FILTERS[show])
    package = request.GET.get("package", "")
    if package:
        rows = rows.filter(instance__package__display_name__icontains=package[:200])
    page = paginate(request, rows, MY_ACCESS_PER_PAGE, count=True)
    return render_page(
        request,
        "myaccess/review_list.html",
        {"page": page, "show": show, "form": form, "package": package[:200]},
        partial="myaccess/_review_table.html",
    )


def _refused(request: HttpRequest, error: DomainError, link: object = None) -> HttpResponse:
    return refusal_page(
        request,
        error,
        titles=TITLES,
        fallback=gettext_lazy("Nothing to review"),
        template="myaccess/review_link_refused.html",
        link=link,
    )


@require_http_methods(["GET", "HEAD", "POST"])
def review_link(request: HttpRequest, instance_id: UUID, token: str) -> HttpResponse:
    opened = open_link(
        request,
        lambda: reviews.open_review_link(token, instance_id),
        reviews.check_review_link,
        lambda error, link: _refused(request, error, link),
    )
    if isinstance(opened, HttpResponse):
        return opened
    link, user = opened
    form = ReviewForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        ids, decision = _parse_choice(request)
        try:
            made = reviews.decide_by_link(
                token, instance_id, user, ids[0] if ids else "", decision, form.cleaned_data.get("justification", "")
            )
        except ValidationFailed as exc:
            attach_error(form, exc)
        except DomainError as exc:
            return _refused(request, exc, link)
        else:
            return render(request, "myaccess/review_link_done.html", {"link": link, "decision": made})
    rows = (
        AccessReviewDecision.objects.reviewable_by(link.reviewer)
        .filter(instance=link.instance)
        .select_related("target", "instance__package")
        .order_by("target__username", "pk")[:200]
    )
    return render(request, "myaccess/review_link.html", {"link": link, "rows": rows, "form": form})
