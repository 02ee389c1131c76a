"""What a POST leads to: a message for a refusal, and a create that happens only once."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from uuid import UUID

from django.contrib import messages
from django.db import IntegrityError, transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect

from governance.errors import DomainError, ValidationFailed
from governance.forms import ConfirmForm
from governance.models import FormSubmission, User
from governance.web import not_found_on_refusal


@contextmanager
def refusals_as_messages(request: HttpRequest) -> Iterator[None]:
    """A service's refusal becomes an error message on the next page; an object the person
    may not see or act on becomes a 404."""
    try:
        yield
    except DomainError as error:
        not_found_on_refusal(error)
        messages.error(request, error.message)


def submit_once(request: HttpRequest, token: UUID | None, create: Callable[[], str]) -> str:
    """Run ``create`` (which returns the URL to show next) once per form token.

    The token row and whatever ``create`` writes commit together, so a second submission
    of the same form waits for the first and is sent to the same page; when ``create``
    refuses, nothing is kept and the form can be corrected and sent again. Old tokens are
    deleted by a beat job (:func:`governance.services.submissions.purge_form_submissions`).
    """
    if token is None:
        return create()
    user = request.user
    if not isinstance(user, User):  # the portal's views let only signed-in people this far
        raise Http404("Not found.")
    with transaction.atomic():
        try:
            with transaction.atomic():
                record = FormSubmission.objects.create(token=token, user=user)
        except IntegrityError:
            first = FormSubmission.objects.filter(token=token, user=user).first()
            if first is None or not first.result_url:
                raise ValidationFailed("This form was already sent; reload the page to start again.") from None
            return first.result_url
        url = create()
        record.result_url = url[:512]
        record.save(update_fields=["result_url"])
    return url


def delete_once(request: HttpRequest, delete: Callable[[], str], refused_url: str) -> HttpResponse:
    """A confirmed Delete: ``delete`` runs once per confirmation (a second click goes where
    the first went); a refusal, such as rule 10's, comes back as a message at ``refused_url``."""
    form = ConfirmForm(request.POST)
    form.is_valid()
    with refusals_as_messages(request):
        return redirect(submit_once(request, form.token, delete))
    return redirect(refused_url)
