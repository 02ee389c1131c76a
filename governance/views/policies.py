"""A package's Policies tab: Add policy, edit, enable/disable, delete (seed 003 "Create a
policy"). The form has every option of DESIGN §2; the service validates the whole."""

from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.db.models import Count, F, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from governance.forms import ConfirmForm, PolicyForm, searching
from governance.models import AccessPackage, AssignmentPolicy, CustomExtension
from governance.permissions import Action
from governance.services import policies as policy_service
from governance.views.access import admin_portal
from governance.views.outcomes import delete_once, refusals_as_messages, submit_once
from governance.views.packages import find_package, package_tabs
from governance.web import refusals_on

# Stage errors of the service have no field of their own in the form: show them by the switch.
POLICY_FIELDS = {"stages": "requires_approval", "questions": "question1_text"}


def _policy_of(package: AccessPackage, policy_pk: UUID) -> AssignmentPolicy:
    policy = package.policies.filter(pk=policy_pk).first()
    if policy is None:
        raise Http404("Not found.")
    return policy


@admin_portal
def policy_list(request: HttpRequest, pk: UUID) -> HttpResponse:
    package = find_package(request, pk)
    current = Q(stages__generation=F("stage_generation"))
    policies = package.policies.annotate(stage_count=Count("stages", filter=current)).order_by("created_at")
    return render(
        request,
        "governance/packages/policies.html",
        {**package_tabs(request, package, "policies"), "policies": policies},
    )


def _policy_form(request: HttpRequest, package: AccessPackage, policy: AssignmentPolicy | None) -> HttpResponse:
    saved = policy_service.spec_of(policy) if policy else None
    initial = PolicyForm.initial_from(saved) if saved else None
    form = PolicyForm(
        request.POST or None,
        initial=initial,
        questions=saved.questions if saved else None,
        extensions=CustomExtension.objects.filter(catalog_id=package.catalog_id).order_by("display_name"),
    )
    if request.method == "POST" and not searching(form, request.POST) and form.is_valid():
        spec = form.to_spec()

        def save() -> str:
            saved = policy_service.save_policy(request.user, package.pk, spec, policy_id=policy.pk if policy else None)
            messages.success(request, f"Policy {saved} {'saved' if policy else 'created'}.")
            return reverse("governance:policy_list", args=[package.pk])

        with refusals_on(form, POLICY_FIELDS):
            # Editing twice saves the same thing twice; only a new policy needs the token.
            return redirect(submit_once(request, form.token if policy is None else None, save))
    return render(
        request,
        "governance/policies/form.html",
        {**package_tabs(request, package, "policies"), "form": form, "policy": policy},
    )


@admin_portal
def policy_create(request: HttpRequest, pk: UUID) -> HttpResponse:
    return _policy_form(request, find_package(request, pk, Action.MANAGE), None)


@admin_portal
def policy_edit(request: HttpRequest, pk: UUID, policy_pk: UUID) -> HttpResponse:
    package = find_package(request, pk, Action.MANAGE)
    return _policy_form(request, package, _policy_of(package, policy_pk))


@admin_portal
@require_POST
def policy_set_enabled(request: HttpRequest, pk: UUID, policy_pk: UUID) -> HttpResponse:
    package = find_package(request, pk, Action.MANAGE)
    policy = _policy_of(package, policy_pk)
    enabled = request.POST.get("enabled") == "1"
    with refusals_as_messages(request):
        policy_service.set_policy_enabled(request.user, policy.pk, enabled)
        messages.success(request, f"Policy {policy} {'enabled' if enabled else 'disabled'}.")
    return redirect("governance:policy_list", pk=package.pk)


@admin_portal
def policy_delete(request: HttpRequest, pk: UUID, policy_pk: UUID) -> HttpResponse:
    package = find_package(request, pk, Action.MANAGE)
    if request.method == "POST":

        def delete() -> str:
            policy = _policy_of(package, policy_pk)
            policy_service.delete_policy(request.user, policy.pk)
            messages.success(request, f"Policy {policy} deleted.")
            return reverse("governance:policy_list", args=[package.pk])

        return delete_once(request, delete, reverse("governance:policy_list", args=[package.pk]))
    policy = _policy_of(package, policy_pk)
    return render(
        request,
        "governance/policies/delete.html",
        {**package_tabs(request, package, "policies"), "policy": policy, "form": ConfirmForm()},
    )
