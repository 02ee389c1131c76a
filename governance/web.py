"""Glue between the services and the views of both portals.

A view calls a service; a :class:`DomainError` becomes a message on the page (next to its
field on a form), ``NotFound``/``NotAllowed`` become a 404, and htmx requests get only the
part of the page they asked for.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from uuid import UUID

from django import forms
from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import get_script_prefix, get_urlconf, reverse
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


# An id no row has: reversed in place of the real one, then replaced by it.
_ANY_ID = UUID(int=0)


def url_of_id(name: str, pk: Any) -> str:
    """``reverse(name, args=[pk])`` for a page named by one UUID, as a list links each of its
    rows: Django resolves the pattern again for each call (three links a row made a tenth
    of the requests list's CPU); here a name's URL is reversed once, with a stand-in id,
    and each row's id is put in its place. The same string as ``{% url name pk %}``."""
    if not isinstance(pk, UUID):
        return reverse(name, args=[pk])
    head, tail = _url_around_id(name, get_script_prefix(), get_urlconf() or settings.ROOT_URLCONF)
    return f"{head}{pk}{tail}"


@lru_cache(maxsize=256)
def _url_around_id(name: str, prefix: str, urlconf: Any) -> tuple[str, str]:
    head, _, tail = reverse(name, args=[_ANY_ID], urlconf=urlconf).partition(str(_ANY_ID))
    return head, tail


def safe_next(request: HttpRequest, fallback: str) -> str:
    """Where to go after a POST: ``next`` when it stays on this site."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return fallback


# --- Confirm before destroying (issue 14 item 2) ----------------------------------------


@dataclass
class Confirmation:
    """What a confirmation page says and where its one button posts.

    ``what_if`` (services/explain.py's WhatIf) lists, per person, which accesses they lose and
    which they keep through another assignment; ``lead`` says the rest in a sentence.
    ``form`` is shown (bound to the GET's values, so a reason typed before is kept) and
    posted with the button; ``hidden`` are extra (name, value) pairs posted along (a bulk
    action's selected ids)."""

    title: str
    button: str
    action: str
    back: str
    lead: str = ""
    what_if: Any = None
    form: forms.Form | None = None
    hidden: list[tuple[str, str]] = field(default_factory=list)
    limit: int = 50

    @property
    def people(self) -> list[Any]:
        return list(self.what_if.people[: self.limit]) if self.what_if is not None else []

    @property
    def more(self) -> int:
        return max(len(self.what_if.people) - self.limit, 0) if self.what_if is not None else 0


def confirm_page(
    request: HttpRequest,
    confirmation: Confirmation,
    template: str = "governance/confirm.html",
    context: dict[str, Any] | None = None,
) -> HttpResponse:
    """The GET half of a destructive action: a page saying what will happen, with the one
    button that does it (its POST is the action's own view). Without JavaScript it is a
    page of its own; an htmx trigger gets only the ``_confirm.html`` part, to swap in place."""
    return render_page(request, template, {**(context or {}), "confirm": confirmation}, partial="_confirm.html")
