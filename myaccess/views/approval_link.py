"""The emailed approval link: GET shows what is asked and changes nothing; only POST decides.

Every way a link can fail (tampered, used, expired, someone else's, already decided,
no longer pending) ends on a page that says so in words, with the status it deserves.
"""

from __future__ import annotations

from uuid import UUID

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from governance.errors import AlreadyDecided, DomainError, ValidationFailed
from governance.models import Decision
from governance.services import approval_links
from governance.services.approval_links import LinkExpired, LinkForSomeoneElse, LinkInvalid, LinkUsed
from governance.web import attach_error
from myaccess.forms import DecisionForm
from myaccess.views.signed_links import open_link, refusal_page

TITLES: list[tuple[type[DomainError], str | Promise]] = [
    (LinkInvalid, gettext_lazy("This link is not valid")),
    (LinkUsed, gettext_lazy("This link has already been used")),
    (LinkExpired, gettext_lazy("This link has expired")),
    (LinkForSomeoneElse, gettext_lazy("This link is for someone else")),
    (AlreadyDecided, gettext_lazy("Already decided")),
]


def _refused(request: HttpRequest, error: DomainError, link: object = None) -> HttpResponse:
    return refusal_page(
        request,
        error,
        titles=TITLES,
        fallback=gettext_lazy("Nothing to decide"),
        template="myaccess/approval_link_refused.html",
        link=link,
    )


@require_http_methods(["GET", "HEAD", "POST"])
def approval_link(request: HttpRequest, request_id: UUID, token: str) -> HttpResponse:
    opened = open_link(
        request,
        lambda: approval_links.open_link(token, request_id),
        approval_links.check_usable,
        lambda error, link: _refused(request, error, link),
    )
    if isinstance(opened, HttpResponse):
        return opened
    link, user = opened
    required = bool(link.request.policy and link.request.policy.approver_justification_required)
    form = DecisionForm(request.POST if request.method == "POST" else None, justification_required=required)
    if request.method == "POST" and form.is_valid():
        decision = form.cleaned_data["decision"]
        try:
            # Checked again under the link's row lock: two clicks, one decision.
            made = approval_links.decide_by_link(
                token, request_id, user, decision, form.cleaned_data.get("justification", "")
            )
        except ValidationFailed as exc:
            attach_error(form, exc)
        except DomainError as exc:
            return _refused(request, exc, link)
        else:
            return render(request, "myaccess/approval_link_done.html", {"link": link, "decision": made})
    req = link.request
    return render(
        request,
        "myaccess/approval_link.html",
        {
            "link": link,
            "req": req,
            "form": form,
            "stage_count": req.approval_stages().count() if req.policy_id else 1,
            "decisions": req.decisions.select_related("approver").order_by("stage_order"),
            "approve": Decision.APPROVE,
            "deny": Decision.DENY,
        },
    )
