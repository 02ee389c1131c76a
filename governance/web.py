"""Glue between the services and the views of both portals.

A view calls a service; a :class:`DomainError` becomes a message on the page (next to its
field on a form), ``NotFound``/``NotAllowed`` become a 404, and htmx requests get only the
part of the page they asked for.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from django import forms
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme

from governance.errors import DomainError, NotAllowed, NotFound


def attach_error(form: forms.Form, error: DomainError, field_names: Mapping[str, str] | None = None) -> None:
    """Show a service's refusal on the form: next to its field when the form has it."""
    name = (field_names or {}).get(error.field or "", error.field)
    form.add_error(name if name in form.fields else None, error.message)


@contextmanager
def refusals_on(form: forms.Form, field_names: Mapping[str, str] | None = None) -> Iterator[None]:
    """A service's refusal inside becomes an error on ``form``, which is shown again."""
    try:
        yield
    except DomainError as error:
        attach_error(form, error, field_names)


def not_found_on_refusal(error: DomainError) -> None:
    """In the portals an object one may not see or act on simply is not there (404)."""
    if isinstance(error, NotFound | NotAllowed):
        raise Http404(error.message) from error


def render_page(
    request: HttpRequest, template: str, context: dict[str, Any], *, partial: str | None = None, status: int = 200
) -> HttpResponse:
    """One view, two renders: the whole page, or only ``partial`` for an htmx swap."""
    htmx = getattr(request, "htmx", None)
    if partial and htmx and not htmx.boosted:
        return render(request, partial, context, status=status)
    return render(request, template, context, status=status)


def safe_next(request: HttpRequest, fallback: str) -> str:
    """Where to go after a POST: ``next`` when it stays on this site."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return fallback
