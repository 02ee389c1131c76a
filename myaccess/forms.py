"""Forms of My Access. They only shape input; the services judge it (and name the field)."""

from __future__ import annotations

import zoneinfo
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from governance.forms import TextField
from governance.models import AssignmentPolicy, Decision, PolicyQuestion, QuestionKind
from governance.services.questions import MAX_SHORT_ANSWER, AnswerSpec
from myaccess.explain import PolicyExplanation

DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"]


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs, format="%Y-%m-%dT%H:%M")


def _when_field(label: Any, help_text: Any = "") -> forms.DateTimeField:
    return forms.DateTimeField(
        label=label, required=False, input_formats=DATETIME_FORMATS, widget=DateTimeLocalInput(), help_text=help_text
    )


class SearchForm(forms.Form):
    q = forms.CharField(label=_("Search"), required=False, max_length=200)

    @property
    def query(self) -> str:
        """The search words; nothing when they are no valid search (too long, a NUL byte, which
        PostgreSQL cannot even compare)."""
        return str(self.cleaned_data.get("q", "")) if self.is_valid() else ""


def _answer_field(question: PolicyQuestion) -> forms.Field:
    label = _("%(question)s (required)") % {"question": question.text} if question.is_required else question.text
    if question.kind == QuestionKind.MULTIPLE_CHOICE:
        return forms.ChoiceField(
            label=label,
            choices=[(c["value"], c["text"]) for c in question.choices],
            widget=forms.RadioSelect,
            required=False,
        )
    if question.kind == QuestionKind.LONG_TEXT:
        return TextField(label=label, rows=3)
    return forms.CharField(label=label, max_length=MAX_SHORT_ANSWER, required=False)


class RequestForm(forms.Form):
    """Request access: policy (when several apply), justification, an optional period."""

    policy = forms.ChoiceField(label=_("Policy"), widget=forms.RadioSelect, required=False)
    justification = TextField(label=_("Business justification"), rows=3)
    specific_period = forms.ChoiceField(
        label=_("Request for specific period?"),
        choices=[("no", _("No")), ("yes", _("Yes"))],
        initial="no",
        widget=forms.RadioSelect,
        required=False,
    )
    start = _when_field(_("Start"), _("Leave empty to start as soon as the request is approved."))
    end = _when_field(_("End"), _("Leave empty for the longest period the policy allows."))

    def __init__(self, *args: Any, explanations: Sequence[PolicyExplanation], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.explanations = list(explanations)
        policies = [e.policy for e in self.explanations]
        if len(policies) > 1:
            self.fields["policy"].required = True
            choice: forms.ChoiceField = self.fields["policy"]  # type: ignore[assignment]
            choice.choices = [(str(p.pk), p.display_name) for p in policies]
            choice.error_messages["required"] = _("Choose one of the policies.")
        else:
            # Rule 11: exactly one policy is chosen silently.
            del self.fields["policy"]
        # The box says whether the policy asks for it, so nobody types a reason for nothing.
        if all(p.requestor_justification_required for p in policies):
            self.fields["justification"].label = _("Business justification (required)")
            self.fields["justification"].widget.attrs["required"] = True
        elif not any(p.requestor_justification_required for p in policies):
            self.fields["justification"].label = _("Business justification (optional)")
        else:
            self.fields["justification"].help_text = _("Required by the policies that say so above.")
        if not any(p.allow_custom_schedule for p in policies):
            for name in ("specific_period", "start", "end"):
                del self.fields[name]
        # Requestor information (rule 15): each policy's questions, answered for the chosen one.
        self.asked: list[tuple[AssignmentPolicy, list[PolicyQuestion]]] = []
        for policy in policies:
            questions = sorted(policy.questions.all(), key=lambda q: q.sequence)
            for question in questions:
                self.fields[f"answer_{question.pk}"] = _answer_field(question)
            if questions:
                self.asked.append((policy, questions))

    @property
    def question_groups(self) -> list[tuple[AssignmentPolicy, list[Any]]]:
        """Each policy's questions as bound fields, for the template."""
        return [(policy, [self[f"answer_{q.pk}"] for q in questions]) for policy, questions in self.asked]

    def answers(self) -> list[AnswerSpec]:
        """The answers to the chosen policy's questions (the service judges them)."""
        chosen = self.cleaned_data.get("policy") or (str(self.explanations[0].policy.pk) if self.explanations else "")
        for policy, questions in self.asked:
            if str(policy.pk) == str(chosen):
                return [AnswerSpec(q.pk, self.cleaned_data.get(f"answer_{q.pk}") or "") for q in questions]
        return []

    @property
    def policy_options(self) -> list[tuple[Any, PolicyExplanation]]:
        """Each policy's radio button with what choosing it means (rule 11)."""
        return list(zip(self["policy"], self.explanations, strict=True))

    @property
    def offers_period(self) -> bool:
        return "specific_period" in self.fields

    def period(self) -> tuple[datetime | None, datetime | None]:
        if self.cleaned_data.get("specific_period") != "yes":
            return None, None
        return self.cleaned_data.get("start"), self.cleaned_data.get("end")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        wants_period = cleaned.get("specific_period") == "yes"
        if wants_period and not cleaned.get("start") and not cleaned.get("end"):
            self.add_error("start", _("Enter a start, an end, or both; or answer No."))
        return cleaned


class DecisionForm(forms.Form):
    """Approve or Deny (two submit buttons named ``decision``) with a justification."""

    decision = forms.ChoiceField(choices=[(d, d) for d in Decision.values], widget=forms.HiddenInput)
    justification = TextField(label=_("Justification"), rows=3)
    stage = forms.IntegerField(widget=forms.HiddenInput, required=False, min_value=1, max_value=3)

    def __init__(self, *args: Any, justification_required: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if justification_required:
            self.fields["justification"].label = _("Justification (required)")
        self.fields["decision"].error_messages["required"] = _("Choose Approve or Deny.")


class ExtendForm(forms.Form):
    justification = TextField(label=_("Business justification"))
    end = _when_field(_("New end"), _("Leave empty for the longest period the policy allows."))

    def __init__(self, *args: Any, choose_end: bool = False, justification_required: bool = False, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if not choose_end:
            del self.fields["end"]
        if justification_required:
            self.fields["justification"].label = _("Business justification (required)")


class RemoveForm(forms.Form):
    justification = TextField(label=_("Why (optional)"))


class ReviewForm(forms.Form):
    """Access reviews: the justification given with Approve / Deny (per person or selected);
    which rows and which decision come from the button pressed."""

    justification = TextField(label=_("Justification"), rows=2)


class PreferencesForm(forms.Form):
    preferred_language = forms.ChoiceField(label=_("Language"), required=False, choices=[("", _("As my browser says"))])
    time_zone = forms.ChoiceField(label=_("Time zone"), required=False, choices=[("", _("As my browser says"))])

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["preferred_language"].choices = [("", _("As my browser says")), *settings.LANGUAGES]  # type: ignore[attr-defined]
        zones = sorted(zoneinfo.available_timezones())
        self.fields["time_zone"].choices = [("", _("As my browser says")), *((z, z) for z in zones)]  # type: ignore[attr-defined]
