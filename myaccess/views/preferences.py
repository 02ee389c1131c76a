"""My Access > Settings: the language and time zone of one's pages and emails."""

from __future__ import annotations

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
from myaccess.forms import PreferencesForm


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
