"""Development mailbox: read the outbox in the browser (DEBUG only, 404 otherwise).

Someone trying `make run` has no SMTP server; here they sign in as the approver, open the
approval email and follow its link. The outbox holds everyone's approval links, so even in
development it needs a signed-in person, who sees the emails sent to them; administrators
who may see the system (``Action.VIEW_SYSTEM``) see everyone's.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from uuid import UUID

from csp.constants import NONE, UNSAFE_INLINE
from csp.decorators import csp_replace
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from governance.models import User
from governance.permissions import Action, can_globally, own_emails
from governance.views.listing import MY_ACCESS_PER_PAGE, paginate
from governance.web import render_page


def development_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """404 for everyone without DEBUG (before asking anyone to sign in); else signed in only."""
    signed_in_view = login_required(view)

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not settings.DEBUG:
            raise Http404("The development mailbox is off.")
        return signed_in_view(request, *args, **kwargs)

    return wrapper


@development_only
def mailbox(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    # A NUL byte is no address, and PostgreSQL refuses to compare text holding one.
    to = request.GET.get("to", "").replace("\x00", "").strip()
    emails = own_emails(user).select_related("recipient").order_by("-created_at", "pk")
    if to:
        emails = emails.filter(Q(to_address__icontains=to) | Q(recipient__username__iexact=to))
    page = paginate(request, emails, MY_ACCESS_PER_PAGE, count=True)
    context = {"page": page, "to": to, "everyone": can_globally(user, Action.VIEW_SYSTEM)}
    return render_page(request, "myaccess/mailbox.html", context, partial="myaccess/_mailbox_table.html")


@development_only
def email_detail(request: HttpRequest, email_id: UUID) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    email = get_object_or_404(own_emails(user).select_related("recipient"), pk=email_id)
    return render(request, "myaccess/mailbox_email.html", {"email": email})


# Emails carry their styles inline (mail clients ignore stylesheets) and never a script.
@csp_replace({"style-src": [UNSAFE_INLINE], "script-src": [NONE]})
@development_only
def email_html(request: HttpRequest, email_id: UUID) -> HttpResponse:
    """The HTML part as a mail client would show it."""
    user: User = request.user  # type: ignore[assignment]
    email = get_object_or_404(own_emails(user), pk=email_id)
    if not email.body_html:
        raise Http404("This email has no HTML part.")
    return HttpResponse(email.body_html, content_type="text/html; charset=utf-8")
