"""Forms of the admin portal. Each one collects what ONE service needs; the service decides.

Field names follow the services' ``DomainError.field`` names, so a refusal lands next to
the field it is about (see :func:`governance.web.attach_error`).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django import forms
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.template.loader import render_to_string

from governance.errors import ValidationFailed
from governance.ids import is_uuid
from governance.models import (
    AccessPackage,
    ApproverKind,
    AssignmentPolicy,
    Catalog,
    CatalogRole,
    CatalogState,
    ChannelKind,
    CollaborationMode,
    ConnectedOrganization,
    ConnectedOrganizationState,
    Connector,
    CustomExtension,
    DirectoryGroup,
    ExpirationBehavior,
    ExpirationType,
    ExtensionMode,
    ExtensionStage,
    OrganizationDomain,
    QuestionKind,
    Resource,
    ResourceRole,
    ResourceType,
    ReviewerKind,
    ReviewRecurrence,
    TargetScope,
    TimeoutAction,
    User,
)
from governance.services.policies import (
    MAX_STAGE_TIMEOUT_DAYS,
    MAX_STAGES,
    SIMPLE_FIELDS,
    ApproverSpec,
    PolicySpec,
    StageSpec,
)
from governance.services.questions import MAX_QUESTIONS, ChoiceSpec, QuestionSpec
from governance.services.reviews import ReviewSpec
from governance.services.sharing import MAX_NOTE
from governance.services.text import MAX_NAME, MAX_TEXT, check_characters, one_line

DATETIME_WIDGET = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
PICKER_RESULTS = 20


# --- Names and texts: the services' rules, said next to the field -------------------------


class _CheckedCharField(forms.CharField):
    multiline = False

    def validate(self, value: Any) -> None:
        super().validate(value)
        if value:
            try:
                check_characters(value, "", multiline=self.multiline, what="text" if self.multiline else "name")
            except ValidationFailed as exc:
                raise forms.ValidationError(exc.message, code="characters") from None


class NameField(_CheckedCharField):
    """A display name: at most MAX_NAME characters on one line (a line break in a name would
    stop every email about it)."""

    def __init__(self, *, max_length: int = MAX_NAME, **kwargs: Any) -> None:
        kwargs.setdefault("label", "Name")
        super().__init__(max_length=max_length, **kwargs)


class TextField(_CheckedCharField):
    """A description, justification or message: at most MAX_TEXT characters; line breaks and
    tabs, but no other control characters."""

    multiline = True

    def __init__(self, *, max_length: int = MAX_TEXT, rows: int = 2, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        super().__init__(max_length=max_length, widget=forms.Textarea(attrs={"rows": rows}), **kwargs)


def switch(label: str, help_text: str = "", *, initial: bool = False) -> forms.BooleanField:
    """A checkbox that may be left off."""
    return forms.BooleanField(label=label, required=False, initial=initial, help_text=help_text)


# --- A directory picker that works without JavaScript ------------------------------------


def with_initial_domain(organizations: QuerySet[ConnectedOrganization]) -> QuerySet[ConnectedOrganization]:
    """Each organization with the first domain it was connected with (Entra's "initial domain")."""
    first = OrganizationDomain.objects.filter(organization=OuterRef("pk")).order_by("id").values("domain")[:1]
    return organizations.annotate(initial_domain=Subquery(first))


def directory_matches(kind: str, query: str, exclude: Iterable[str] = (), limit: int = PICKER_RESULTS) -> list[Any]:
    """People (or groups) whose name, username or email contains ``query``."""
    # PostgreSQL refuses NUL in a text parameter; nobody's name contains one anyway.
    query = query.replace("\x00", "").strip()
    if not query:
        return []
    exclude = [pk for pk in exclude if is_uuid(pk)]
    if kind == "group":
        groups = DirectoryGroup.objects.filter(display_name__icontains=query).exclude(pk__in=exclude)
        return list(groups.order_by("display_name")[:limit])
    if kind == "organization":
        # Seed 003's "Select directories": found by any of their domains (or their name).
        organizations = (
            with_initial_domain(ConnectedOrganization.objects.all())
            .filter(Q(domains__domain__icontains=query) | Q(display_name__icontains=query))
            .exclude(pk__in=exclude)
            .distinct()
        )
        return list(organizations.order_by("display_name")[:limit])
    people = (
        User.objects.filter(is_active=True)
        .filter(
            Q(display_name__icontains=query)
            | Q(username__icontains=query)
            | Q(email__icontains=query)
            | Q(user_principal_name__icontains=query)
        )
        .exclude(pk__in=exclude)
        .select_related("connected_organization")
    )
    return list(people.order_by("display_name", "username")[:limit])


def directory_entries(kind: str, ids: Iterable[str]) -> list[Any]:
    valid = [pk for pk in ids if is_uuid(pk)]
    if not valid:
        return []
    if kind == "group":
        return list(DirectoryGroup.objects.filter(pk__in=valid).order_by("display_name"))
    if kind == "organization":
        return list(with_initial_domain(ConnectedOrganization.objects.filter(pk__in=valid)).order_by("display_name"))
    return list(
        User.objects.filter(pk__in=valid).select_related("connected_organization").order_by("display_name", "username")
    )


class DirectoryPicker(forms.Widget):
    """Chosen people (or groups) as ticked boxes, a search box, and the matches of the last
    search as unticked boxes. Without JavaScript the search is a submit button that shows
    the form again; with htmx the matches follow the typing."""

    template_name = "governance/widgets/picker.html"
    allow_multiple_selected = True

    def __init__(self, kind: str = "user", attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs)
        self.kind = kind
        self.label = ""
        self.query = ""

    def value_from_datadict(self, data: Any, files: Any, name: str) -> list[str]:
        # Each form gets its own copy of the widget, so keeping the search text here is safe.
        self.query = (data.get(f"{name}__q") or "").strip()
        getter = getattr(data, "getlist", None)
        return list(getter(name)) if getter else list(data.get(name) or [])

    def value_omitted_from_data(self, data: Any, files: Any, name: str) -> bool:
        return False

    def format_value(self, value: Any) -> list[str]:
        if value is None:
            return []
        if not isinstance(value, list | tuple | set | QuerySet):
            value = [value]
        return [str(getattr(v, "pk", v)) for v in value if v]

    def _render(self, template_name: str, context: dict[str, Any], renderer: Any = None) -> Any:
        # The project's engine, so the picker's template lives with the portal's templates.
        return render_to_string(template_name, context)

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        chosen = self.format_value(value)
        context["widget"].update(
            {
                "kind": self.kind,
                "label": self.label,
                "query": self.query,
                "chosen": directory_entries(self.kind, chosen),
                "matches": directory_matches(self.kind, self.query, exclude=chosen),
            }
        )
        return context


def searching(form: forms.Form, data: Any) -> bool:
    """The no-JavaScript search button was pressed: show the form again, without errors."""
    if "_search" not in data:
        return False
    form.is_valid()
    form.errors.clear()
    return True


class PortalForm(forms.Form):
    """Base of the portal's forms: pickers are labelled like their field."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.label_pickers()

    def label_pickers(self) -> None:
        for field in self.fields.values():
            if isinstance(field.widget, DirectoryPicker):
                field.widget.label = str(field.label)


class OnceForm(PortalForm):
    """A form that creates something carries a token, so sending it twice creates once."""

    submission = forms.UUIDField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.setdefault("submission", uuid.uuid4())

    @property
    def token(self) -> uuid.UUID | None:
        return self.cleaned_data.get("submission")


def people_field(label: str, *, required: bool = False, help_text: str = "") -> forms.ModelMultipleChoiceField:
    return forms.ModelMultipleChoiceField(
        queryset=User.objects.filter(is_active=True),
        widget=DirectoryPicker("user"),
        label=label,
        required=required,
        help_text=help_text,
    )


def groups_field(label: str, *, help_text: str = "") -> forms.ModelMultipleChoiceField:
    return forms.ModelMultipleChoiceField(
        queryset=DirectoryGroup.objects.all(),
        widget=DirectoryPicker("group"),
        label=label,
        required=False,
        help_text=help_text,
    )


# --- Catalogs -------------------------------------------------------------------------


class CatalogForm(OnceForm):
    display_name = NameField()
    description = TextField(label="Description", rows=3)
    is_externally_visible = switch(
        "Enabled for external users",
        "Users of connected organizations may request packages of this catalog where a policy allows.",
        initial=True,
    )


class CatalogEditForm(CatalogForm):
    state = forms.ChoiceField(
        label="State",
        choices=CatalogState.choices,
        help_text="An unpublished catalog's packages cannot be requested.",
    )


class CatalogRoleForm(PortalForm):
    users = people_field("People", required=True)
    role = forms.ChoiceField(label="Role", choices=CatalogRole.choices)


class ResourceSearchForm(forms.Form):
    connector = forms.ModelChoiceField(queryset=Connector.objects.none(), label="Connector", empty_label=None)
    q = forms.CharField(label="Search groups", required=False)

    def __init__(self, *args: Any, connectors: QuerySet[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["connector"].queryset = connectors  # type: ignore[attr-defined]


class AddResourceForm(forms.Form):
    connector = forms.UUIDField(widget=forms.HiddenInput)
    origin_id = NameField(
        max_length=512,
        label="Resource id",
        help_text="Its id in the target system (a SCIM group's id, a webhook's key).",
    )
    # The name the target system gives the group: the person only picked it, so a line break
    # in it is made a space rather than refused.
    display_name = forms.CharField(max_length=MAX_NAME, label="Name", help_text="What the portal calls it.")

    def clean_display_name(self) -> str:
        return one_line(self.cleaned_data["display_name"])

    resource_type = forms.ChoiceField(choices=ResourceType.choices, initial=ResourceType.GROUP, label="Type")


# --- Access packages ------------------------------------------------------------------


class PackageForm(OnceForm):
    catalog = forms.ModelChoiceField(queryset=Catalog.objects.none(), label="Catalog")
    display_name = NameField()
    description = TextField(label="Description", rows=3)
    is_hidden = switch(
        "Hidden", "Not listed in My Access; only people with the direct link (and a policy that allows them) see it."
    )

    def __init__(self, *args: Any, catalogs: QuerySet[Catalog], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["catalog"].queryset = catalogs  # type: ignore[attr-defined]


class PackageEditForm(PortalForm):
    display_name = NameField()
    description = TextField(label="Description", rows=3)
    is_hidden = PackageForm.base_fields["is_hidden"]


class ShareLinkForm(OnceForm):
    recipients = people_field("People", required=True, help_text="Each gets an email with the My Access link.")
    note = TextField(label="Message", max_length=MAX_NOTE)
    # Set by "Send anyway" once the form has warned that no policy allows some recipients.
    send_anyway = forms.BooleanField(required=False, widget=forms.HiddenInput)


class AddRoleForm(PortalForm):
    resource = forms.ModelChoiceField(queryset=Resource.objects.none(), label="Resource")
    resource_role = forms.ModelChoiceField(queryset=ResourceRole.objects.none(), label="Role", required=False)

    def __init__(self, *args: Any, package: AccessPackage, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["resource"].queryset = Resource.objects.filter(  # type: ignore[attr-defined]
            catalog_id=package.catalog_id
        ).select_related("connector")
        resource_id = self.data.get("resource") or self.initial.get("resource")
        roles = ResourceRole.objects.none()
        if resource_id and is_uuid(resource_id):
            roles = ResourceRole.objects.filter(resource_id=resource_id, resource__catalog_id=package.catalog_id)
        role_field = self.fields["resource_role"]
        role_field.queryset = roles  # type: ignore[attr-defined]
        role_field.label_from_instance = lambda role: role.display_name  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if data.get("resource") and not data.get("resource_role") and "resource_role" not in self.errors:
            self.add_error("resource_role", "Choose a role of this resource.")
        return data


class AddRolesForm(PortalForm):
    """Seed 003 "Select the resources you want to add. Select the role. Click Add": a tick
    per resource of the catalog and, beside it, the role to add (one role: chosen already)."""

    resources = forms.MultipleChoiceField(label="Resources", widget=forms.CheckboxSelectMultiple, required=False)

    def __init__(self, *args: Any, package: AccessPackage, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.catalog_resources = list(
            Resource.objects.filter(catalog_id=package.catalog_id)
            .select_related("connector")
            .prefetch_related("roles")
            .order_by("display_name")
        )
        in_package = set(package.role_links.values_list("resource_role_id", flat=True))
        choices = []
        for resource in self.catalog_resources:
            roles = [role for role in resource.roles.all() if role.pk not in in_package]
            if not roles:
                continue
            name = f"role_{resource.pk}"
            field = forms.ChoiceField(
                label=f"Role of {resource.display_name}",
                choices=[("", "Choose a role")] * (len(roles) > 1) + [(str(r.pk), r.display_name) for r in roles],
                required=False,
                initial=str(roles[0].pk) if len(roles) == 1 else "",
            )
            self.fields[name] = field
            choices.append((str(resource.pk), resource.display_name))
        self.fields["resources"].choices = choices  # type: ignore[attr-defined]
        by_id = {str(r.pk): r for r in self.catalog_resources}
        self.offered = [by_id[pk] for pk, _ in choices]

    @property
    def picks(self) -> list[tuple[Resource, Any, Any]]:
        """Each resource offered with its tick box and its role field, for the template's table."""
        boxes = list(self["resources"])
        return [(resource, box, self[f"role_{resource.pk}"]) for resource, box in zip(self.offered, boxes, strict=True)]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        chosen = data.get("resources") or []
        if not chosen and "resources" not in self.errors:
            self.add_error("resources", "Select the resources you want to add.")
        by_id = {str(r.pk): r for r in self.catalog_resources}
        roles = []
        for pk in chosen:
            role_id = data.get(f"role_{pk}")
            if not role_id:
                self.add_error(f"role_{pk}", f"Choose a role of {by_id[pk].display_name}.")
                continue
            roles.append(role_id)
        data["role_ids"] = roles
        return data


# --- Policies -------------------------------------------------------------------------

SCOPE_HELP: dict[str, str] = {
    TargetScope.NO_ONE: "Nobody requests it: administrators assign people with New assignment.",
    TargetScope.SPECIFIC_USERS: "Only the users and members of the groups you choose below.",
    TargetScope.ALL_MEMBERS: "Every internal user of the directory; external users cannot.",
    TargetScope.ALL_USERS: "Every user of the directory, internal and external.",
    TargetScope.SPECIFIC_ORGANIZATIONS: "Users of the connected organizations you choose below.",
    TargetScope.ALL_ORGANIZATIONS: "Users of every connected organization in the Configured state.",
    TargetScope.ALL_EXTERNAL: "Any external user, whether or not their organization is connected.",
}

EXPIRATION_HELP: dict[str, str] = {
    ExpirationType.ON_DATE: "Every assignment ends on the same date.",
    ExpirationType.AFTER_DAYS: "Each assignment ends this many days after it starts.",
    ExpirationType.AFTER_HOURS: "Each assignment ends this many hours after it starts (short, privileged access).",
    ExpirationType.NEVER: "Assignments last until someone removes them.",
}


@dataclass
class Choice:
    """A radio button with one line saying what it means."""

    radio: Any
    help: str


@dataclass
class StageFields:
    number: int
    enabled: Any
    approvers: Any
    approver_groups: Any
    manager: Any
    sponsor: Any
    fallback: Any
    fallback_groups: Any
    timeout_days: Any


@dataclass
class QuestionFields:
    number: int
    id: Any
    text: Any
    kind: Any
    required: Any
    choices: Any


# Empty question rows the policy form offers beyond those a policy already has.
SPARE_QUESTIONS = 2


def _choice_lines(choices: list[ChoiceSpec]) -> str:
    return "\n".join(c.text if c.value == c.text else f"{c.value}|{c.text}" for c in choices)


def _choices_of(lines: str) -> list[ChoiceSpec]:
    """One option a line; ``KE|Kenya`` stores the value KE and shows Kenya."""
    choices = []
    for line in lines.splitlines():
        line = line.strip()
        if not line:
            continue
        value, _, text = line.partition("|")
        choices.append(ChoiceSpec(value=value.strip(), text=(text or value).strip()))
    return choices


class PolicyForm(OnceForm):
    display_name = NameField()
    description = TextField(label="Description")
    allowed_target_scope = forms.ChoiceField(
        label="Who can request",
        choices=TargetScope.choices,
        widget=forms.RadioSelect,
        initial=TargetScope.SPECIFIC_USERS,
    )
    specific_users = people_field("Users who can request")
    specific_groups = groups_field("Groups whose members can request")
    specific_organizations = forms.ModelMultipleChoiceField(
        queryset=ConnectedOrganization.objects.all(),
        label="Specific connected organizations",
        required=False,
        widget=DirectoryPicker("organization"),
    )
    requires_approval = switch(
        "Require approval", "Requests wait for an approver; without it they are approved at once."
    )
    approver_justification_required = switch(
        "Require approver justification", "Approvers must say why they approve or deny."
    )
    requestor_justification_required = switch(
        "Require requestor justification", "Requestors must give a business justification."
    )
    allow_custom_schedule = switch(
        "Request for specific period?", "Requestors may choose a start and an end, within the expiration below."
    )
    expiration_type = forms.ChoiceField(
        label="Expiration", choices=ExpirationType.choices, widget=forms.RadioSelect, initial=ExpirationType.AFTER_DAYS
    )
    expiration_date = forms.DateTimeField(label="Access ends on", required=False, widget=DATETIME_WIDGET)
    expiration_days = forms.IntegerField(label="Days", required=False, min_value=1, initial=365)
    expiration_hours = forms.IntegerField(label="Hours", required=False, min_value=1)
    allow_extension = switch(
        "Allow users to extend access", "People are emailed 14 days and 1 day before the end, with a link to extend."
    )
    extension_requires_approval = switch("Require approval to extend", "Extensions go to this policy's approvers.")
    enabled = switch("Enabled", "A disabled policy accepts no new requests.", initial=True)
    extensions = forms.ModelMultipleChoiceField(
        queryset=CustomExtension.objects.none(),
        label="Custom extensions",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Each runs at its own stage for requests and assignments of this policy.",
    )
    extension_on_timeout = forms.ChoiceField(
        label="When a custom extension does not answer in time (or cannot be reached)",
        choices=TimeoutAction.choices,
        initial=TimeoutAction.CONTINUE,
        widget=forms.RadioSelect,
        required=False,
    )

    # Access reviews (rule 14).
    review_enabled = switch(
        "Require access reviews", "Reviewers confirm, every period, that each person still needs this access."
    )
    review_start_at = forms.DateTimeField(label="Starting on", required=False, widget=DATETIME_WIDGET)
    review_recurrence = forms.ChoiceField(
        label="Review frequency", choices=ReviewRecurrence.choices, initial=ReviewRecurrence.QUARTERLY, required=False
    )
    review_duration_days = forms.IntegerField(
        label="Duration (in days)", min_value=1, max_value=180, initial=14, required=False
    )
    review_reviewer_type = forms.ChoiceField(
        label="Reviewers",
        choices=[("manager", "Manager"), ("specific", "Specific reviewers"), ("self", "Self-review")],
        widget=forms.RadioSelect,
        initial="manager",
        required=False,
    )
    review_reviewers = people_field("Specific reviewers")
    review_reviewer_groups = groups_field("Reviewer groups", help_text="Any member reviews.")
    review_fallback = people_field(
        "Fallback reviewers", help_text="Review the people the reviewers above cannot (no manager)."
    )
    review_fallback_groups = groups_field("Fallback reviewer groups")
    review_justification_required = switch(
        "Require reviewer justification", "Reviewers must say why they approve or deny.", initial=True
    )
    review_recommendations = switch(
        "Show recommendations", "Deny is recommended for people who have not signed in lately.", initial=True
    )
    review_expiration_behavior = forms.ChoiceField(
        label="If reviewers don't respond",
        choices=ExpirationBehavior.choices,
        initial=ExpirationBehavior.KEEP,
        required=False,
    )

    def __init__(
        self,
        *args: Any,
        questions: list[QuestionSpec] | None = None,
        extensions: QuerySet[CustomExtension] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        choices = self.fields["extensions"]
        choices.queryset = extensions if extensions is not None else CustomExtension.objects.none()  # type: ignore[attr-defined]
        choices.label_from_instance = lambda e: f"{e} ({e.get_stage_display()}, {e.get_mode_display().lower()})"  # type: ignore[attr-defined]
        # What the form does not show (a pattern, translations, editability) stays as it was.
        self.saved_questions = {str(q.id): q for q in questions or [] if q.id}
        sent = sum(1 for key in (self.data or {}) if re.fullmatch(r"question[0-9]+_text", key))
        self.question_slots = min(MAX_QUESTIONS, max(sent, len(self.saved_questions) + SPARE_QUESTIONS))
        for n in range(1, self.question_slots + 1):
            self.fields[f"question{n}_id"] = forms.UUIDField(required=False, widget=forms.HiddenInput)
            self.fields[f"question{n}_text"] = forms.CharField(label=f"Question {n}", required=False, max_length=1000)
            self.fields[f"question{n}_kind"] = forms.ChoiceField(
                label="Answer", choices=QuestionKind.choices, initial=QuestionKind.SHORT_TEXT, required=False
            )
            self.fields[f"question{n}_required"] = switch("Required")
            self.fields[f"question{n}_choices"] = forms.CharField(
                label="Options",
                required=False,
                max_length=MAX_TEXT,
                widget=forms.Textarea(attrs={"rows": 3}),
                help_text="Multiple choice: one option a line; write KE|Kenya to keep the code KE.",
            )
        for n in range(1, MAX_STAGES + 1):
            if n > 1:
                self.fields[f"stage{n}_enabled"] = switch(f"Add stage {n}")
            self.fields[f"stage{n}_approvers"] = people_field("Approvers")
            self.fields[f"stage{n}_approver_groups"] = groups_field("Approver groups", help_text="Any member decides.")
            self.fields[f"stage{n}_manager"] = switch("Requestor's manager")
            self.fields[f"stage{n}_sponsor"] = switch("Requestor's sponsor")
            self.fields[f"stage{n}_fallback"] = people_field(
                "Fallback approvers", help_text="Asked only when the approvers above resolve to nobody."
            )
            self.fields[f"stage{n}_fallback_groups"] = groups_field("Fallback approver groups")
            self.fields[f"stage{n}_timeout_days"] = forms.IntegerField(
                label="Days to decide",
                min_value=1,
                max_value=MAX_STAGE_TIMEOUT_DAYS,
                initial=14,
                required=False,
                help_text="Without a decision in this many days the request is canceled.",
            )
        self.label_pickers()

    # What the template shows: each choice with its line of help, stages as groups.
    def scope_choices(self) -> list[Choice]:
        return [Choice(radio, SCOPE_HELP[radio.data["value"]]) for radio in self["allowed_target_scope"]]

    def expiration_choices(self) -> list[Choice]:
        return [Choice(radio, EXPIRATION_HELP[radio.data["value"]]) for radio in self["expiration_type"]]

    def stages(self) -> Iterator[StageFields]:
        for n in range(1, MAX_STAGES + 1):
            yield StageFields(
                number=n,
                enabled=self[f"stage{n}_enabled"] if n > 1 else None,
                **{
                    name: self[f"stage{n}_{name}"]
                    for name in (
                        "approvers",
                        "approver_groups",
                        "manager",
                        "sponsor",
                        "fallback",
                        "fallback_groups",
                        "timeout_days",
                    )
                },
            )

    def questions(self) -> Iterator[QuestionFields]:
        for n in range(1, self.question_slots + 1):
            yield QuestionFields(
                number=n,
                **{name: self[f"question{n}_{name}"] for name in ("id", "text", "kind", "required", "choices")},
            )

    def question_specs(self) -> list[QuestionSpec]:
        """The rows with a question, in order; empty rows are no question."""
        data = self.cleaned_data
        specs = []
        for n in range(1, self.question_slots + 1):
            text = (data.get(f"question{n}_text") or "").strip()
            if not text:
                continue
            question_id = data.get(f"question{n}_id")
            saved = self.saved_questions.get(str(question_id)) if question_id else None
            kind = data.get(f"question{n}_kind") or QuestionKind.SHORT_TEXT
            specs.append(
                QuestionSpec(
                    id=saved.id if saved else None,
                    text=text,
                    kind=kind,
                    is_required=bool(data.get(f"question{n}_required")),
                    choices=_choices_of(data.get(f"question{n}_choices") or ""),
                    is_answer_editable=saved.is_answer_editable if saved else True,
                    regex_pattern=saved.regex_pattern if saved and saved.kind == kind else "",
                    localizations=saved.localizations if saved else [],
                )
            )
        return specs

    def _used_stages(self) -> list[int]:
        data = self.cleaned_data
        if not data.get("requires_approval"):
            return []
        return [1] + [n for n in range(2, MAX_STAGES + 1) if data.get(f"stage{n}_enabled")]

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if data.get("allowed_target_scope") == TargetScope.NO_ONE:
            return data
        # Said here rather than by the service so the message sits next to the stage.
        for n in self._used_stages():
            if not (
                data.get(f"stage{n}_approvers")
                or data.get(f"stage{n}_approver_groups")
                or data.get(f"stage{n}_manager")
                or data.get(f"stage{n}_sponsor")
            ):
                self.add_error(f"stage{n}_approvers", f"Stage {n}: choose at least one approver.")
        return data

    def to_spec(self) -> PolicySpec:
        data = self.cleaned_data
        stages = []
        for n in self._used_stages():
            approvers = [ApproverSpec(ApproverKind.USER, user_id=u.pk) for u in data[f"stage{n}_approvers"]]
            approvers += [ApproverSpec(ApproverKind.GROUP, group_id=g.pk) for g in data[f"stage{n}_approver_groups"]]
            if data.get(f"stage{n}_manager"):
                approvers.append(ApproverSpec(ApproverKind.MANAGER))
            if data.get(f"stage{n}_sponsor"):
                approvers.append(ApproverSpec(ApproverKind.SPONSOR))
            approvers += [
                ApproverSpec(ApproverKind.USER, user_id=u.pk, is_fallback=True) for u in data[f"stage{n}_fallback"]
            ]
            approvers += [
                ApproverSpec(ApproverKind.GROUP, group_id=g.pk, is_fallback=True)
                for g in data[f"stage{n}_fallback_groups"]
            ]
            stages.append(StageSpec(timeout_days=data.get(f"stage{n}_timeout_days") or 14, approvers=approvers))
        return PolicySpec(
            display_name=data["display_name"],
            description=data.get("description") or "",
            allowed_target_scope=data["allowed_target_scope"],
            specific_user_ids=[u.pk for u in data["specific_users"]],
            specific_group_ids=[g.pk for g in data["specific_groups"]],
            specific_organization_ids=[o.pk for o in data["specific_organizations"]],
            requires_approval=data.get("requires_approval", False),
            stages=stages,
            requestor_justification_required=data.get("requestor_justification_required", False),
            approver_justification_required=data.get("approver_justification_required", False),
            allow_custom_schedule=data.get("allow_custom_schedule", False),
            expiration_type=data["expiration_type"],
            expiration_date=data.get("expiration_date"),
            expiration_days=data.get("expiration_days"),
            expiration_hours=data.get("expiration_hours"),
            allow_extension=data.get("allow_extension", False),
            extension_requires_approval=data.get("extension_requires_approval", False),
            enabled=data.get("enabled", False),
            questions=self.question_specs(),
            extension_ids=[e.pk for e in data.get("extensions") or []],
            extension_on_timeout=data.get("extension_on_timeout") or TimeoutAction.CONTINUE,
            review=self._review_spec(),
        )

    def _review_spec(self) -> ReviewSpec:
        data = self.cleaned_data
        kind = data.get("review_reviewer_type") or "manager"
        reviewers: list[tuple[str, Any, bool]] = []
        if kind == "manager":
            reviewers.append((ReviewerKind.MANAGER, None, False))
        elif kind == "specific":
            reviewers += [(ReviewerKind.USER, u.pk, False) for u in data.get("review_reviewers", [])]
            reviewers += [(ReviewerKind.GROUP, g.pk, False) for g in data.get("review_reviewer_groups", [])]
        if kind != "self":
            reviewers += [(ReviewerKind.USER, u.pk, True) for u in data.get("review_fallback", [])]
            reviewers += [(ReviewerKind.GROUP, g.pk, True) for g in data.get("review_fallback_groups", [])]
        return ReviewSpec(
            enabled=data.get("review_enabled", False),
            start_at=data.get("review_start_at"),
            recurrence=data.get("review_recurrence") or ReviewRecurrence.QUARTERLY,
            duration_days=data.get("review_duration_days") or 14,
            self_review=kind == "self",
            justification_required=data.get("review_justification_required", False),
            recommendations=data.get("review_recommendations", False),
            expiration_behavior=data.get("review_expiration_behavior") or ExpirationBehavior.KEEP,
            reviewers=reviewers,
        )

    @staticmethod
    def initial_from(spec: PolicySpec) -> dict[str, Any]:
        """The form's initial values for a saved policy (the inverse of :meth:`to_spec`)."""
        initial: dict[str, Any] = {name: getattr(spec, name) for name in SIMPLE_FIELDS}
        initial["specific_users"] = [str(pk) for pk in spec.specific_user_ids]
        initial["specific_groups"] = [str(pk) for pk in spec.specific_group_ids]
        initial["specific_organizations"] = [str(pk) for pk in spec.specific_organization_ids]
        for n, stage in enumerate(spec.stages, start=1):
            primary = [a for a in stage.approvers if not a.is_fallback]
            fallback = [a for a in stage.approvers if a.is_fallback]
            initial[f"stage{n}_enabled"] = True
            initial[f"stage{n}_timeout_days"] = stage.timeout_days
            initial[f"stage{n}_approvers"] = [str(a.user_id) for a in primary if a.kind == ApproverKind.USER]
            initial[f"stage{n}_approver_groups"] = [str(a.group_id) for a in primary if a.kind == ApproverKind.GROUP]
            initial[f"stage{n}_manager"] = any(a.kind == ApproverKind.MANAGER for a in primary)
            initial[f"stage{n}_sponsor"] = any(a.kind == ApproverKind.SPONSOR for a in primary)
            initial[f"stage{n}_fallback"] = [str(a.user_id) for a in fallback if a.kind == ApproverKind.USER]
            initial[f"stage{n}_fallback_groups"] = [str(a.group_id) for a in fallback if a.kind == ApproverKind.GROUP]
        initial["extensions"] = [str(pk) for pk in spec.extension_ids or []]
        initial["extension_on_timeout"] = spec.extension_on_timeout
        for n, question in enumerate(spec.questions, start=1):
            initial[f"question{n}_id"] = question.id
            initial[f"question{n}_text"] = question.text
            initial[f"question{n}_kind"] = question.kind
            initial[f"question{n}_required"] = question.is_required
            initial[f"question{n}_choices"] = _choice_lines(question.choices)
        if spec.review is not None:
            review = spec.review
            initial.update(
                review_enabled=review.enabled,
                review_start_at=review.start_at,
                review_recurrence=review.recurrence,
                review_duration_days=review.duration_days,
                review_justification_required=review.justification_required,
                review_recommendations=review.recommendations,
                review_expiration_behavior=review.expiration_behavior,
                review_reviewer_type="self"
                if review.self_review
                else "manager"
                if any(k == ReviewerKind.MANAGER for k, _, _ in review.reviewers)
                else "specific",
                review_reviewers=[str(t) for k, t, fb in review.reviewers if k == ReviewerKind.USER and not fb],
                review_reviewer_groups=[str(t) for k, t, fb in review.reviewers if k == ReviewerKind.GROUP and not fb],
                review_fallback=[str(t) for k, t, fb in review.reviewers if k == ReviewerKind.USER and fb],
                review_fallback_groups=[str(t) for k, t, fb in review.reviewers if k == ReviewerKind.GROUP and fb],
            )
        return initial


# --- Assignments and requests ---------------------------------------------------------


class NewAssignmentForm(OnceForm):
    users = people_field("Users", required=True)
    policy = forms.ModelChoiceField(
        queryset=AssignmentPolicy.objects.none(),
        label="Policy",
        help_text='Policies set to "No one (admin direct assignment only)".',
    )
    start = forms.DateTimeField(
        label="Start", required=False, widget=DATETIME_WIDGET, help_text="Empty: now. In the future: scheduled."
    )
    end = forms.DateTimeField(
        label="End", required=False, widget=DATETIME_WIDGET, help_text="Empty: the policy's expiration applies."
    )
    justification = TextField(label="Justification")

    def __init__(self, *args: Any, policies: QuerySet[AssignmentPolicy], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["policy"].queryset = policies  # type: ignore[attr-defined]
        if not self.is_bound and len(policies) == 1:
            self.initial.setdefault("policy", policies[0].pk)


class RemoveAssignmentForm(forms.Form):
    justification = TextField(label="Justification")


class UpdateEndForm(forms.Form):
    end = forms.DateTimeField(label="End", required=False, widget=DATETIME_WIDGET, help_text="Empty: no end date.")


class CancelRequestForm(forms.Form):
    reason = TextField(label="Reason")


# --- Connected organizations ------------------------------------------------------------

DOMAIN_SPLIT = re.compile(r"[\s,;]+")


class OrganizationForm(OnceForm):
    display_name = NameField()
    description = TextField(label="Description")
    domains = forms.CharField(
        label="Domains",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=(
            "One or more domains of the organization (contoso.example), separated by spaces or commas. "
            "Your own domains and their subdomains cannot be claimed."
        ),
    )
    state = forms.ChoiceField(
        label="State",
        choices=ConnectedOrganizationState.choices,
        initial=ConnectedOrganizationState.CONFIGURED,
        help_text=(
            "Configured: policies for all connected organizations include it. Proposed: only policies that name it."
        ),
    )

    def clean_domains(self) -> list[str]:
        return [d for d in DOMAIN_SPLIT.split(self.cleaned_data["domains"]) if d]


class CollaborationForm(forms.Form):
    """Collaboration restrictions: which external domains may sign in and be named by policies."""

    mode = forms.ChoiceField(
        label="Collaboration restrictions", choices=CollaborationMode.choices, widget=forms.RadioSelect
    )
    domains = forms.CharField(
        label="Domains",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Separated by spaces, commas or lines (fabrikam.example). A domain covers its subdomains.",
    )

    def clean_domains(self) -> list[str]:
        return [d for d in DOMAIN_SPLIT.split(self.cleaned_data["domains"]) if d]


class ConfirmForm(OnceForm):
    """A confirmation (Delete, Remove): its token makes a second click go where the first went."""


# --- External users' lifecycle (Sign-in and directory) ------------------------------------


class LifecycleForm(forms.Form):
    block_sign_in = switch(
        "Block external user from signing in", "When their last assignment ends, the account can no longer sign in."
    )
    remove_account = switch("Remove external user", "Delete the account some days after their last assignment ended.")
    remove_after_days = forms.IntegerField(label="Number of days before removing external user")


# --- Separation of duties -------------------------------------------------------------


class IncompatiblePackageForm(PortalForm):
    """Overview > Separation of duties: a package that may not be combined with this one."""

    other = forms.ModelChoiceField(queryset=AccessPackage.objects.none(), label="Incompatible access package")

    def __init__(self, *args: Any, choices: QuerySet[AccessPackage], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["other"]
        field.queryset = choices  # type: ignore[attr-defined]
        field.label_from_instance = lambda package: f"{package} ({package.catalog})"  # type: ignore[attr-defined]


class IncompatibleGroupForm(PortalForm):
    """Members of the chosen groups may not request or be assigned this package."""

    groups = groups_field("Incompatible groups", help_text="Members of these groups cannot have this package.")


# --- Custom extensions ----------------------------------------------------------------


class ExtensionForm(PortalForm):
    """A catalog's custom extension; the signing secret is write-only."""

    display_name = NameField()
    description = TextField(label="Description")
    endpoint_url = forms.URLField(
        label="Endpoint",
        max_length=2000,
        assume_scheme="https",
        help_text="An https:// URL that receives signed events.",
    )
    secret = forms.CharField(
        label="Signing secret",
        required=False,
        max_length=500,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="The endpoint checks each event's signature with it. Never shown again; leave empty to keep it.",
    )
    stage = forms.ChoiceField(label="Stage", choices=ExtensionStage.choices)
    mode = forms.ChoiceField(
        label="Mode",
        choices=ExtensionMode.choices,
        widget=forms.RadioSelect,
        initial=ExtensionMode.FIRE_AND_FORGET,
        help_text='Only "Request is created" and "Request is approved" can wait for an answer; '
        "the assignment's stages are fire-and-forget.",
    )
    timeout_minutes = forms.IntegerField(
        label="Wait at most (minutes)",
        min_value=1,
        initial=60,
        help_text="Wait for an answer: after this the policy's choice applies (continue or fail).",
    )


class ChatChannelForm(PortalForm):
    """A catalog's chat channel; its webhook URL (a credential) is never shown back."""

    display_name = NameField()
    kind = forms.ChoiceField(label="Kind", choices=ChannelKind.choices)
    url = forms.CharField(
        label="Webhook URL",
        max_length=2000,
        widget=forms.URLInput(attrs={"autocomplete": "off"}),
        help_text="The incoming webhook of the channel. Stored encrypted and never shown again.",
    )
