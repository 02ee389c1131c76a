"""My Access > Settings: the language and time zone of one's pages and emails."""

from __future__ import annotations

import zoneinfo

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from governance.errors import ValidationFailed
from governance.services.preferences import set_preferences
from governance.web import attach_error


class PreferencesForm(forms.Form):
    preferred_language = forms.ChoiceField(label=_("Language"), required=False, choices=[("", _("As my browser says"))])
    time_zone = forms.ChoiceField(label=_("Time zone"), required=False, choices=[("", _("As my browser says"))])

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["preferred_language"].choices = [("", _("As my browser says")), *settings.LANGUAGES]  # type: ignore[attr-defined]
        zones = sorted(zoneinfo.available_timezones())
        self.fields["time_zone"].choices = [("", _("As my browser says")), *((z, z) for z in zones)]  # type: ignore[attr-defined]


@login_required
@require_http_methods(["GET", "POST"])
def preferences(request: HttpRequest) -> HttpResponse:
    user = request.user
    initial = {"preferred_language": user.preferred_language, "time_zone": user.time_zone}  # type: ignore[union-attr]
    form = PreferencesForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            set_preferences(
                user,  # type: ignore[arg-type]
                language=form.cleaned_data["preferred_language"],
                time_zone=form.cleaned_data["time_zone"],
            )
        except ValidationFailed as exc:
            attach_error(form, exc)
        else:
            if form.cleaned_data["preferred_language"]:
                translation.activate(form.cleaned_data["preferred_language"])
            messages.success(request, _("Your settings are saved."))
            return redirect("myaccess:preferences")
    return render(request, "myaccess/preferences.html", {"form": form})
