"""The connectors page: the list (names and health) for every administrator; add, edit,
Test connection and delete for global administrators only (404 for everyone else).

The form is made from the connector kind's declared fields, so a plugin's connector gets its
page with no code here.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from governance.errors import DomainError, NotFound
from governance.forms import NameField
from governance.models import Connector, DriftMode
from governance.services import connectors as service
from governance.web import attach_error, not_found_on_refusal, safe_next


class ConnectorForm(forms.Form):
    display_name = NameField()
    enabled = forms.BooleanField(label="Enabled", required=False, initial=True)
    drift_mode = forms.ChoiceField(
        label="Drift check",
        choices=DriftMode.choices,
        help_text="What the periodic check does when access was removed outside Portcullis.",
    )

    def __init__(
        self, kind: str, *args: Any, secret_states: list[service.SecretState] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.kind = kind
        states = {state.field.name: state for state in secret_states or []}
        for spec in service.fields_of(kind):
            field: forms.Field
            if spec.kind == "bool":
                field = forms.BooleanField(required=False)
            elif spec.kind == "int":
                field = forms.IntegerField(required=spec.required)
            elif spec.kind == "choice":
                blank = [] if spec.required else [("", "—")]
                field = forms.ChoiceField(choices=blank + [(c, c) for c in spec.choices], required=spec.required)
            elif spec.kind == "secret":
                # Write-only: never rendered back, never autofilled with the admin's own password.
                field = forms.CharField(
                    required=False,
                    strip=False,
                    max_length=service.SECRET_MAX_LENGTH,
                    widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
                )
                state = states.get(spec.name) or service.SecretState(spec, is_set=False)
                field.secret_state = state  # type: ignore[attr-defined]  # read by the template
            else:
                field = forms.CharField(required=spec.required, max_length=1000)
            field.label = spec.label
            field.help_text = spec.help
            if spec.kind != "secret":
                field.initial = spec.default
            self.fields[spec.name] = field

    def config(self) -> dict[str, Any]:
        return {
            spec.name: self.cleaned_data.get(spec.name) for spec in service.fields_of(self.kind) if not spec.is_secret
        }

    def secrets(self) -> dict[str, str]:
        return {spec.name: self.cleaned_data.get(spec.name) or "" for spec in service.secret_fields(self.kind)}


def _connector_or_404(request: HttpRequest, pk: Any) -> Connector:
    try:
        return service.get_connector(request.user, pk)
    except NotFound as exc:
        raise Http404(exc.message) from exc


def _managers_only(request: HttpRequest) -> None:
    if not service.can_manage(request.user):
        raise Http404("Connector not found.")


@login_required
def connector_list(request: HttpRequest) -> HttpResponse:
    try:
        connectors = list(service.connectors_for(request.user))
    except NotFound as exc:
        raise Http404(exc.message) from exc
    for connector in connectors:
        connector.kind_label = service.kind_label(connector.kind)  # type: ignore[attr-defined]  # for the template
    can_manage = service.can_manage(request.user)
    return render(
        request,
        "governance/connectors/list.html",
        {
            "connectors": connectors,
            "can_manage": can_manage,
            "plugin_problems": service.plugin_problems() if can_manage else [],
        },
    )


@login_required
def connector_new(request: HttpRequest) -> HttpResponse:
    _managers_only(request)
    kind = request.GET.get("kind") or request.POST.get("kind") or ""
    kinds = service.kinds_to_add()
    if kind not in dict(kinds):
        return render(request, "governance/connectors/choose.html", {"kinds": kinds})
    return _edit(request, None, kind)


@login_required
def connector_detail(request: HttpRequest, pk: Any) -> HttpResponse:
    connector = _connector_or_404(request, pk)
    return _edit(request, connector, connector.kind)


def _edit(request: HttpRequest, connector: Connector | None, kind: str) -> HttpResponse:
    initial = {**service.defaults(kind), **(connector.config if connector else {})}
    if connector is not None:
        initial.update(display_name=connector.display_name, enabled=connector.enabled, drift_mode=connector.drift_mode)
    form = ConnectorForm(
        kind, request.POST or None, initial=initial, secret_states=service.secret_states(connector, kind)
    )
    if request.method == "POST" and form.is_valid():
        try:
            saved = service.save_connector(
                request.user,
                connector_id=connector.pk if connector else None,
                display_name=form.cleaned_data["display_name"],
                kind=kind,
                config=form.config(),
                secrets=form.secrets(),
                drift_mode=form.cleaned_data["drift_mode"],
                enabled=form.cleaned_data["enabled"],
            )
        except DomainError as error:
            not_found_on_refusal(error)
            attach_error(form, error)
        else:
            messages.success(request, f"Saved {saved}.")
            return redirect("connectors:detail", pk=saved.pk)
    return render(
        request,
        "governance/connectors/form.html",
        {
            "form": form,
            "connector": connector,
            "kind": kind,
            "kind_label": service.kind_label(kind),
            "missing_plugin": service.missing_plugin(kind),
            "can_delete": connector is not None and not service.is_singleton(kind),
        },
    )


@login_required
@require_POST
def connector_test(request: HttpRequest, pk: Any) -> HttpResponse:
    connector = _connector_or_404(request, pk)
    worked, message = service.test_connection(request.user, connector.pk)
    (messages.success if worked else messages.error)(request, f"Test connection: {message}")
    return redirect(safe_next(request, reverse("connectors:detail", args=[connector.pk])))


@login_required
@require_POST
def connector_delete(request: HttpRequest, pk: Any) -> HttpResponse:
    connector = _connector_or_404(request, pk)
    try:
        service.delete_connector(request.user, connector.pk)
    except DomainError as error:
        messages.error(request, error.message)
        return redirect("connectors:detail", pk=connector.pk)
    messages.success(request, f"Deleted {connector}.")
    return redirect("connectors:list")
