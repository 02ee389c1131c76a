"""Request access: the packages a person may request, a package's direct link, the form."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Exists, OuterRef, Prefetch, Q, prefetch_related_objects
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from governance.errors import DomainError, DuplicateRequest, NotFound, NotRequestable
from governance.models import (
    AccessPackage,
    Assignment,
    AssignmentRequest,
    AssignmentState,
    PackageResourceRole,
    RequestState,
    RequestType,
    User,
)
from governance.permissions import discoverable_packages, package_by_link
from governance.services.requests import refuse_duplicate, submit_request
from governance.views.listing import MY_ACCESS_PER_PAGE, paginate_counting_along
from governance.web import attach_error, not_found_on_refusal, render_page
from myaccess.explain import explain_policy
from myaccess.forms import RequestForm, SearchForm
from myaccess.refusal import reasons_for


def _role_links() -> Prefetch:
    """A package's resource roles, with what they are on, for "What you get"."""
    links = PackageResourceRole.objects.select_related("resource_role__resource").order_by(
        "resource_role__resource__display_name", "resource_role__display_name"
    )
    return Prefetch("role_links", queryset=links)


def _mine(user: User) -> tuple[Exists, Exists]:
    """Whether the person already has the package, or an open request for it (rule 12)."""
    has_access = Exists(
        Assignment.objects.filter(package=OuterRef("pk"), target=user, state__in=AssignmentState.ACTIVE)
    )
    open_request = Exists(
        AssignmentRequest.objects.filter(
            package=OuterRef("pk"), target=user, state__in=RequestState.OPEN, request_type__in=RequestType.ADDS
        )
    )
    return has_access, open_request


@login_required
def request_access(request: HttpRequest) -> HttpResponse:
    """My Access home: requestable, not Hidden (rule 9), searchable."""
    user: User = request.user  # type: ignore[assignment]
    search = SearchForm(request.GET)
    query = search.query
    packages = discoverable_packages(user).select_related("catalog").prefetch_related(_role_links())
    if query:
        packages = packages.filter(
            Q(display_name__icontains=query)
            | Q(description__icontains=query)
            | Q(catalog__display_name__icontains=query)
        )
    page = paginate_counting_along(request, packages.order_by("display_name", "pk"), MY_ACCESS_PER_PAGE)
    _mark_mine(user, page.rows)
    return render_page(
        request,
        "myaccess/request_access.html",
        {"search": search, "query": query, "page": page},
        partial="myaccess/_package_list.html",
    )


def _mark_mine(user: User, packages: list[AccessPackage]) -> None:
    """``has_access`` and ``open_request`` on the page's packages, in one query for the page
    (asked in the list's own query, they would be asked of every requestable package: the
    total counted along makes the database build every row before it picks the page), and
    each card's two links (``page_url``, ``form_url``): two URLs reversed once for the page,
    not twice a card."""
    marker = str(UUID(int=0))
    page_url = reverse("myaccess:package", args=[marker])
    form_url = reverse("myaccess:request_form", args=[marker])
    for package in packages:
        package.page_url = page_url.replace(marker, str(package.pk))  # type: ignore[attr-defined]
        package.form_url = form_url.replace(marker, str(package.pk))  # type: ignore[attr-defined]
    has_access, open_request = _mine(user)
    flags = {
        pk: (mine, asked)
        for pk, mine, asked in AccessPackage.objects.filter(pk__in=[p.pk for p in packages])
        .annotate(has_access=has_access, open_request=open_request)
        .values_list("pk", "has_access", "open_request")
    }
    for package in packages:
        package.has_access, package.open_request = flags.get(package.pk, (False, False))  # type: ignore[attr-defined]


def _existing(user: User, package: AccessPackage) -> DuplicateRequest | None:
    try:
        refuse_duplicate(user, package)
    except DuplicateRequest as exc:
        return exc
    return None


class CannotRequest(Exception):
    """The package's link, opened by someone no policy allows: say why (a page, not a 404)."""

    def __init__(self, package: AccessPackage) -> None:
        self.package = package


def _package_or_404(user: User, package_id: UUID) -> AccessPackage:
    try:
        return package_by_link(user, package_id)
    except NotRequestable as exc:
        raise CannotRequest(exc.package) from exc
    except NotFound as exc:
        not_found_on_refusal(exc)
        raise


def cannot_request(request: HttpRequest, package: AccessPackage) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    return render(
        request,
        "myaccess/cannot_request.html",
        {"package": package, "reasons": reasons_for(user, package)},
        # Still rule 11's 404 for anything reading the status; a person reads the reason.
        status=404,
    )


def explains_refusal(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except CannotRequest as refusal:
            return cannot_request(request, refusal.package)

    return wrapped


def _package_context(user: User, package: AccessPackage) -> dict[str, Any]:
    prefetch_related_objects([package], "catalog", _role_links())
    policies = package.policies.requestable_by(user).prefetch_related("questions")
    explanations = [explain_policy(policy, user) for policy in policies]
    return {"package": package, "explanations": explanations, "duplicate": _existing(user, package)}


@login_required
@explains_refusal
def package(request: HttpRequest, package_id: UUID) -> HttpResponse:
    """A package's direct link: hidden packages too, for people a policy allows (rule 9)."""
    user: User = request.user  # type: ignore[assignment]
    found = _package_or_404(user, package_id)
    return render_page(request, "myaccess/package.html", _package_context(user, found))


@login_required
@require_http_methods(["GET", "POST"])
@explains_refusal
def request_form(request: HttpRequest, package_id: UUID) -> HttpResponse:
    """Request: choose a policy when several apply (rule 11), justify, maybe a period (rule 5)."""
    user: User = request.user  # type: ignore[assignment]
    found = _package_or_404(user, package_id)
    context = _package_context(user, found)
    form = RequestForm(request.POST if request.method == "POST" else None, explanations=context["explanations"])
    duplicate = context["duplicate"]
    if request.method == "POST" and duplicate is None and form.is_valid():
        start, end = form.period()
        try:
            made = submit_request(
                user,
                found.pk,
                policy_id=form.cleaned_data.get("policy") or None,
                justification=form.cleaned_data.get("justification", ""),
                start=start,
                end=end,
                answers=form.answers(),
            )
        except DuplicateRequest as exc:
            duplicate = exc
        except NotFound as exc:
            not_found_on_refusal(exc)
        except DomainError as exc:
            attach_error(form, exc)
        else:
            messages.success(request, _("Your request for %(package)s was submitted.") % {"package": found})
            return redirect(reverse("myaccess:request", args=[made.pk]) + "?submitted=1")
    return render_page(
        request,
        "myaccess/request_form.html",
        {**context, "form": form, "duplicate": duplicate},
        partial="myaccess/_request_form.html",
    )
