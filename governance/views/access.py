"""How admin-portal views reach objects: only through :mod:`governance.permissions`.

Anything a person may not see, or may not act on, simply is not there (404).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from django.contrib.auth.decorators import login_required
from django.db import models
from django.http import Http404, HttpRequest
from django.http.response import HttpResponseBase

from governance.models import AccessPackage, Catalog
from governance.permissions import Action, can, catalogs_where, has_admin_portal, restrict

_M = TypeVar("_M", bound=models.Model)
View = Callable[..., HttpResponseBase]


def admin_portal(view: View) -> View:
    """Signed in and holding an administrative role; for anyone else the page does not exist."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not has_admin_portal(request.user):
            raise Http404("Page not found.")
        return view(request, *args, **kwargs)

    return login_required(wrapped)


def visible(request: HttpRequest, queryset: models.QuerySet[_M], pk: Any) -> _M:
    """One object the person may see, or 404."""
    obj = restrict(queryset, request.user, Action.VIEW).filter(pk=pk).first()
    if obj is None:
        raise Http404("Not found.")
    return obj


def require(request: HttpRequest, action: Action, obj: models.Model) -> None:
    """An action the person may not take on this object answers 404, like an invisible one."""
    if not can(request.user, action, obj):
        raise Http404("Not found.")


def may_somewhere(request: HttpRequest, action: Action) -> bool:
    """The person may take ``action`` in at least one catalog (shows a list's buttons)."""
    where = catalogs_where(request.user, action)
    return where is None or bool(where)


def selected_ids(request: HttpRequest) -> list[str]:
    """The rows ticked in a list for a bulk action; the service reports ids it cannot find."""
    return [value for value in request.POST.getlist("ids") if value]


def visible_places(request: HttpRequest) -> tuple[models.QuerySet[Catalog], models.QuerySet[AccessPackage]]:
    """The catalogs and access packages a person may see: what a list's filters offer."""
    catalogs = restrict(Catalog.objects.all(), request.user, Action.VIEW)
    packages = restrict(AccessPackage.objects.all(), request.user, Action.VIEW)
    return catalogs, packages
