"""Development mailbox: read the outbox in the browser (DEBUG only, 404 otherwise).

Someone trying `make run` has no SMTP server; here they open the approval email and
follow its link to play the approver.
"""

from __future__ import annotations

from uuid import UUID

from csp.constants import NONE, UNSAFE_INLINE
from csp.decorators import csp_replace
from django.conf import settings
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from governance.models import OutboundEmail
from myaccess.pagination import paginate


def _debug_only() -> None:
    if not settings.DEBUG:
        raise Http404("The development mailbox is off.")


def mailbox(request: HttpRequest) -> HttpResponse:
    _debug_only()
    # A NUL byte is no address, and PostgreSQL refuses to compare text holding one.
    to = request.GET.get("to", "").replace("\x00", "").strip()
    emails = OutboundEmail.objects.select_related("recipient").order_by("-created_at", "pk")
    if to:
        emails = emails.filter(Q(to_address__icontains=to) | Q(recipient__username__iexact=to))
    return render(request, "myaccess/mailbox.html", {"page": paginate(request, emails), "to": to})


def email_detail(request: HttpRequest, email_id: UUID) -> HttpResponse:
    _debug_only()
    email = get_object_or_404(OutboundEmail.objects.select_related("recipient"), pk=email_id)
    return render(request, "myaccess/mailbox_email.html", {"email": email})


# Emails carry their styles inline (mail clients ignore stylesheets) and never a script.
# (django-csp types a view as taking the request alone, hence the ignore.)
@csp_replace({"style-src": [UNSAFE_INLINE], "script-src": [NONE]})  # type: ignore[arg-type]
def email_html(request: HttpRequest, email_id: UUID) -> HttpResponse:
    """The HTML part as a mail client would show it."""
    _debug_only()
    email = get_object_or_404(OutboundEmail, pk=email_id)
    if not email.body_html:
        raise Http404("This email has no HTML part.")
    return HttpResponse(email.body_html, content_type="text/html; charset=utf-8")
