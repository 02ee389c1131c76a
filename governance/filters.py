"""List filters of the admin portal (django-filter), all in the query string."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any, cast
from uuid import UUID

import django_filters as filters
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django_filters.fields import ModelChoiceField

from governance.ids import is_uuid
from governance.models import (
    ACTIVITY_NAMES,
    AccessPackage,
    Assignment,
    AssignmentPolicy,
    AssignmentRequest,
    AssignmentState,
    AuditEvent,
    Catalog,
    ConnectedOrganization,
    GrantState,
    RequestState,
    RequestType,
    RoleGrant,
)
from governance.services.text import unstorable

DATE = forms.DateInput(attrs={"type": "date"})
# What a filter shows when it does not narrow anything (django-filter's default is "---------").
ANY = "Any"


def search_box(placeholder: str) -> forms.TextInput:
    """A search box whose placeholder says what it searches."""
    return forms.TextInput(attrs={"type": "search", "placeholder": placeholder})


class ColumnSort(filters.OrderingFilter):
    """``?sort=column`` (``-column`` reversed): one choice per sortable column of a list.

    A column may order by several fields, so that an index serves the order at a million
    rows (Status sorts by state, then newest first: the (state, created_at, id) index)."""

    def __init__(self, columns: dict[str, tuple[str, ...]], **kwargs: Any) -> None:
        self.columns = columns
        super().__init__(fields=[(fields[0], column) for column, fields in columns.items()], **kwargs)

    def filter(self, qs: QuerySet[Any], value: Any) -> QuerySet[Any]:
        if not value:
            return qs
        ordering = []
        for param in value:
            if not param:
                continue
            descending = param.startswith("-")
            for field in self.columns.get(param.lstrip("-"), ()):
                ordering.append(f"-{field}" if descending else field)
        return qs.order_by(*ordering) if ordering else qs


def day_start(value: date) -> datetime:
    """Midnight of a date in the viewer's zone (dates in filters are the viewer's days)."""
    return timezone.make_aware(datetime.combine(value, time.min))


class PersonSearch(filters.FilterSet):
    """``q``: a part of the name, username or email of the people in ``person_fields``."""

    person_fields: tuple[str, ...] = ("target",)
    q = filters.CharFilter(label="Person", method="filter_person", widget=search_box("Name, username or email"))

    def filter_person(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        value = value.strip()
        if not value:
            return queryset
        match = Q()
        for person in self.person_fields:
            for attribute in ("display_name", "username", "email", "user_principal_name"):
                match |= Q(**{f"{person}__{attribute}__icontains": value})
        return queryset.filter(match)


class DateRangeMixin(filters.FilterSet):
    """``from`` and ``to`` days (inclusive) on a timestamp."""

    date_field = "created_at"
    date_from = filters.DateFilter(label="From", method="filter_from", widget=DATE)
    date_to = filters.DateFilter(label="To", method="filter_to", widget=DATE)

    def filter_from(self, queryset: QuerySet[Any], name: str, value: date) -> QuerySet[Any]:
        return queryset.filter(**{f"{self.date_field}__gte": day_start(value)})

    def filter_to(self, queryset: QuerySet[Any], name: str, value: date) -> QuerySet[Any]:
        return queryset.filter(**{f"{self.date_field}__lt": day_start(value + timedelta(days=1))})


# --- Assignments ------------------------------------------------------------------------

ACTIVE = "active"
DRIFTED = "drifted"
ATTENTION = "attention"
ALL = "all"
# Scheduled: a direct assignment (or approved request) whose start is still to come. No
# assignment row exists before the start, so the list shows the scheduled requests instead.
SCHEDULED = "scheduled"
ASSIGNMENT_STATUS_CHOICES = [
    (ACTIVE, "Active"),
    (SCHEDULED, "Scheduled"),
    (ATTENTION, "Delivery failed or partially fulfilled"),
    (AssignmentState.DELIVERED, "Delivered"),
    (AssignmentState.PARTIALLY_DELIVERED, "Partially fulfilled"),
    (AssignmentState.DELIVERY_FAILED, "Delivery failed"),
    (AssignmentState.DELIVERING, "Delivering"),
    (DRIFTED, "Drifted"),
    (AssignmentState.EXPIRED, "Expired"),
    (AssignmentState.REMOVED, "Removed"),
    (ALL, "All"),
]


def has_drift() -> Exists:
    """An assignment has a grant that was found missing in its target system."""
    return Exists(RoleGrant.objects.filter(assignment=OuterRef("pk"), state=GrantState.DRIFTED))


def with_drift(queryset: QuerySet[Assignment]) -> QuerySet[Assignment]:
    return queryset.annotate(drifted=has_drift())


class FastSelect(forms.Select):
    """Django's Select, markup for markup, without a template per option: Django renders each
    option through one (~0.5 ms an option), and the list filters that offer every catalog,
    package and policy the viewer may see spent most of a list page's time there (201
    packages and 401 policies: 80 of the requests list's 146 ms)."""

    def render(self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None) -> SafeString:
        widget = self.get_context(name, value, attrs)["widget"]
        parts = [format_html('<select name="{}"', widget["name"]), _attributes(widget["attrs"]), ">"]
        for group_name, options, _index in widget["optgroups"]:
            if group_name:
                parts.append(format_html('\n  <optgroup label="{}">', group_name))
            for option in options:
                parts.append(
                    format_html(
                        '\n  <option value="{}"{}>{}</option>\n',
                        str(option["value"]),
                        _attributes(option["attrs"]),
                        option["label"],
                    )
                )
            if group_name:
                parts.append("\n  </optgroup>")
        parts.append("\n</select>")
        return mark_safe("".join(str(part) for part in parts))  # nosec B308 B703 - every part is escaped above


def _attributes(attrs: dict[str, Any]) -> str:
    """Django's widgets/attrs.html: True is a bare name, False is left out."""
    return "".join(
        format_html(" {}", key) if val is True else format_html(' {}="{}"', key, str(val))
        for key, val in attrs.items()
        if val is not False
    )


class AssignmentFilter(PersonSearch):
    """Status (default: active, as the seeds' Assignments page), person, sort."""

    status = filters.ChoiceFilter(
        label="Status", choices=ASSIGNMENT_STATUS_CHOICES, method="filter_status", empty_label=None, widget=FastSelect
    )
    sort = ColumnSort(
        {
            "person": ("target__display_name",),
            "policy": ("policy__display_name",),
            "status": ("state", "created_at"),
            "start": ("start_at",),
            "end": ("end_at",),
            "created": ("created_at",),
        }
    )

    class Meta:
        model = Assignment
        fields: list[str] = []

    def __init__(self, data: Any = None, *args: Any, **kwargs: Any) -> None:
        data = data.copy() if data is not None else {}
        if not data.get("status"):
            data["status"] = ACTIVE
        super().__init__(data, *args, **kwargs)

    def filter_status(self, queryset: QuerySet[Assignment], name: str, value: str) -> QuerySet[Assignment]:
        if value == ACTIVE:
            return queryset.filter(state__in=AssignmentState.ACTIVE)
        if value == DRIFTED:
            return queryset.filter(has_drift(), state__in=AssignmentState.ACTIVE)
        if value == ATTENTION:
            return queryset.filter(state__in=[AssignmentState.DELIVERY_FAILED, AssignmentState.PARTIALLY_DELIVERED])
        if value == ALL:
            return queryset
        if value == SCHEDULED:
            return queryset.none()
        return queryset.filter(state=value)

    @property
    def scheduled(self) -> bool:
        """Whether the list shows scheduled starts (:func:`scheduled_starts`) instead of rows."""
        return self.form.is_valid() and self.form.cleaned_data.get("status") == SCHEDULED


def scheduled_starts(requests: QuerySet[AssignmentRequest], query: str = "") -> QuerySet[AssignmentRequest]:
    """Assignments that start later: add requests in ``scheduled``, soonest start first."""
    rows = requests.filter(state=RequestState.SCHEDULED, request_type__in=RequestType.ADDS)
    if query.strip():
        rows = PersonSearch().filter_person(rows, "q", query)
    return rows.order_by("schedule_start")


# A search box offers at most this many matches as the admin types (the list filters'
# policies and packages: 20,000 of each at full size, too many for a select).
MATCHES_SHOWN = 20


class SearchChoice(forms.TextInput):
    """One of many by a search box: a plain text box, so without JavaScript the typed text is
    sent and the list is filtered by names containing it; with htmx it is a combobox whose
    listbox shows the first :data:`MATCHES_SHOWN` matches (``governance:filter_choices``)
    and choosing one sends its id. A chosen id shows its name, the detail (a policy's
    package) beside it. The policy and the package filter of the lists both use it."""

    template_name = "governance/widgets/search_choice.html"

    def __init__(self, placeholder: str) -> None:
        super().__init__(attrs={"placeholder": placeholder, "autocomplete": "off"})

    def _render(self, template_name: str, context: dict[str, Any], renderer: Any = None) -> Any:
        # The project's engine, so the template lives with the portal's templates.
        return render_to_string(template_name, context)

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        widget = context["widget"]
        widget["chosen"] = None
        # ModelChoiceField hands its widget the choices, which know the field (and so what
        # the form found when it checked the id: no second query for the name).
        field = getattr(getattr(self, "choices", None), "field", None)
        if isinstance(field, NamedChoiceField) and value and is_uuid(str(value).strip()):
            chosen = field.found(str(value).strip())
            if chosen is not None:
                widget["chosen"] = {"pk": str(chosen.pk), "detail": field.detail_of(chosen)}
                widget["value"] = chosen.display_name
            else:  # not one the viewer may see: the field's error says so, the box stays empty
                widget["value"] = ""
        widget["attrs_html"] = mark_safe(_attributes(widget["attrs"]))  # nosec B308 B703 - escaped by format_html
        return context


class NamedChoiceField(ModelChoiceField):
    """One object by its id, or a part of a name (what the search box sends without
    JavaScript, and what the requests list took before it shared the policy filter with the
    assignments list: its links, bookmarks and downloads keep working). ``detail``: the
    relation that tells objects of one name apart (policies of different packages share
    names: "Admin direct")."""

    def __init__(self, *args: Any, detail: str, noun: str, **kwargs: Any) -> None:
        self.detail = detail
        self.noun = noun
        self.checked: Any = None
        super().__init__(*args, **kwargs)

    def found(self, pk: str) -> Any:
        """The object with this id the viewer may see, or None."""
        if self.checked is None or str(self.checked.pk) != pk:
            self.checked = self.queryset.filter(pk=pk).first() if self.queryset is not None else None
        return self.checked

    def detail_of(self, obj: Any) -> str:
        return str(getattr(obj, self.detail).display_name)

    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.display_name} ({self.detail_of(obj)})"

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str) and value.strip() and not is_uuid(value.strip()):
            problem = unstorable(value)
            if problem:  # PostgreSQL cannot even compare it: a form error, not a 500
                raise ValidationError(f"{self.noun} name cannot contain {problem}.", code="invalid")
            return value.strip()[:256]
        self.checked = super().to_python(value)
        return self.checked


class NamedChoiceFilter(filters.ModelChoiceFilter):
    """``?<name>=<id>``: one object of the queryset (what the viewer may see, set by
    :meth:`PlaceFilter.offer_places`); ``?<name>=<text>``: those whose name contains it."""

    field_class = NamedChoiceField

    def __init__(self, *, detail: str, noun: str, placeholder: str, **kwargs: Any) -> None:
        super().__init__(detail=detail, noun=noun, widget=SearchChoice(placeholder), **kwargs)

    def filter(self, qs: QuerySet[Any], value: Any) -> QuerySet[Any]:
        if isinstance(value, str):
            return qs.filter(**{f"{self.field_name}__display_name__icontains": value})
        return super().filter(qs, value)


class PolicyFilter(NamedChoiceFilter):
    """``?policy=<id>``: one policy of the packages the viewer may see (narrowed to the chosen
    package); ``?policy=<text>``: policies whose name contains it."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("label", "Policy")
        kwargs.setdefault("field_name", "policy")
        kwargs.setdefault("queryset", AssignmentPolicy.objects.select_related("package"))
        super().__init__(detail="package", noun="A policy", placeholder="Policy name", **kwargs)


class PlaceFilter(filters.FilterSet):
    """Across packages: the catalog (a select: a tenant has a few hundred) and the access
    package (a search box: it has 20,000) a row belongs to. The views offer only what the
    person may see (``places``); the packages narrow to the chosen catalog."""

    catalog = filters.ModelChoiceFilter(
        label="Catalog",
        field_name="package__catalog",
        queryset=Catalog.objects.all(),
        empty_label=ANY,
        widget=FastSelect,
    )
    package = NamedChoiceFilter(
        label="Access package",
        field_name="package",
        queryset=AccessPackage.objects.select_related("catalog"),
        detail="catalog",
        noun="An access package",
        placeholder="Access package name",
    )

    def offer_places(self, catalogs: QuerySet[Catalog], packages: QuerySet[AccessPackage]) -> None:
        """The choices: ``catalogs`` and ``packages`` the viewer may see."""
        chosen = self.data.get("catalog") if self.data else None
        if chosen and is_uuid(chosen):
            packages = packages.filter(catalog_id=chosen)
        # A select of every catalog (200 at full size) shows only their names: their other
        # columns cost 1.7 ms of a list page's CPU for nothing.
        self.offer("catalog", catalogs.only("id", "display_name").order_by("display_name"))
        self.offer("package", packages.select_related("catalog").order_by("display_name", "pk"))

    def offer(self, name: str, choices: QuerySet[Any]) -> None:
        cast(filters.ModelChoiceFilter, self.filters[name]).queryset = choices

    def offered(self, name: str) -> QuerySet[Any]:
        # Every place filter is declared with a queryset (narrowed here), never None.
        return cast(QuerySet[Any], cast(filters.ModelChoiceFilter, self.filters[name]).queryset)


class PolicyPlaceFilter(PlaceFilter):
    """Catalog, access package and policy: the all-requests and all-assignments lists filter
    alike, with the same query string."""

    policy = PolicyFilter()

    def offer_places(self, catalogs: QuerySet[Catalog], packages: QuerySet[AccessPackage]) -> None:
        super().offer_places(catalogs, packages)
        policies = AssignmentPolicy.objects.filter(package__in=self.offered("package").order_by())
        chosen = self.data.get("package") if self.data else None
        if chosen and is_uuid(chosen):
            policies = policies.filter(package_id=UUID(str(chosen)))
        self.offer("policy", policies.select_related("package").order_by("display_name", "package__display_name", "pk"))

    def matches(self, name: str, text: str, limit: int) -> list[Any]:
        """The first ``limit`` objects of filter ``name`` whose name contains ``text`` (a search
        box's listbox): after :meth:`offer_places`, so only what the viewer may see."""
        if unstorable(text):
            return []
        choices = self.offered(name)
        if text:
            choices = choices.filter(display_name__icontains=text)
        return list(choices[:limit])


# Across packages a list may hold a million rows: every order here is one an index serves
# (migration 0015: start, end, type, completed; the people's, packages' and policies' names).
class AllAssignmentsFilter(AssignmentFilter, PolicyPlaceFilter):
    sort = ColumnSort(
        {
            "person": ("target__display_name",),
            "package": ("package__display_name",),
            "policy": ("policy__display_name",),
            "status": ("state", "created_at"),
            "start": ("start_at",),
            "end": ("end_at",),
            "created": ("created_at",),
        }
    )


# --- Requests ---------------------------------------------------------------------------

OPEN = "open"
REQUEST_STATUS_CHOICES = [
    (OPEN, "Open"),
    (ATTENTION, "Delivery failed or partially delivered"),
    # Seed 000 calls Delivery failed "Undelivered": both words find it.
    *(
        (value, "Delivery failed (Undelivered)" if value == RequestState.DELIVERY_FAILED else label)
        for value, label in RequestState.choices
    ),
]


class RequestFilter(PersonSearch, DateRangeMixin):
    """One package's requests; ``package_id`` offers its policies to filter by (seed 000)."""

    person_fields = ("target", "requestor")
    q = filters.CharFilter(
        label="Person", method="filter_person", widget=search_box("Person or requestor: name, username or email")
    )
    status = filters.ChoiceFilter(
        label="Status", choices=REQUEST_STATUS_CHOICES, method="filter_status", empty_label=ANY, widget=FastSelect
    )
    policy = filters.ModelChoiceFilter(
        label="Policy", queryset=AssignmentPolicy.objects.none(), empty_label=ANY, widget=FastSelect
    )
    type = filters.ChoiceFilter(
        label="Type", field_name="request_type", choices=RequestType.choices, empty_label=ANY, widget=FastSelect
    )
    sort = ColumnSort(
        {
            "person": ("target__display_name",),
            "policy": ("policy__display_name",),
            "type": ("request_type", "created_at"),
            "status": ("state", "created_at"),
            "created": ("created_at",),
            "completed": ("completed_at",),
        }
    )

    class Meta:
        model = AssignmentRequest
        fields: list[str] = []

    def __init__(self, data: Any = None, *args: Any, package_id: Any = None, **kwargs: Any) -> None:
        super().__init__(data, *args, **kwargs)
        if "policy" in self.filters and isinstance(self.filters["policy"], filters.ModelChoiceFilter):
            policies = AssignmentPolicy.objects.filter(package_id=package_id).order_by("display_name")
            self.filters["policy"].queryset = policies

    def filter_status(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        if value == OPEN:
            return queryset.filter(state__in=RequestState.OPEN)
        if value == ATTENTION:
            return queryset.filter(state__in=RequestState.REPROCESSABLE)
        return queryset.filter(state=value)


class AllRequestsFilter(RequestFilter, PolicyPlaceFilter):
    policy = PolicyFilter()
    sort = ColumnSort(
        {
            "person": ("target__display_name",),
            "package": ("package__display_name",),
            "policy": ("policy__display_name",),
            "type": ("request_type", "created_at"),
            "status": ("state", "created_at"),
            "created": ("created_at",),
            "completed": ("completed_at",),
        }
    )


# --- Audit log ----------------------------------------------------------------------------


def _activities() -> list[tuple[str, str]]:
    """Each readable activity once (two actions may read the same: "Request denied")."""
    return sorted({(name, name) for name in ACTIVITY_NAMES.values()})


class AuditFilter(DateRangeMixin):
    """Who, which activity, which object, by the words the log shows (and by ids, for links)."""

    actor = filters.CharFilter(label="Who", method="filter_actor", widget=search_box("Name or username of who did it"))
    activity = filters.ChoiceFilter(label="Activity", choices=_activities, method="filter_activity", empty_label=ANY)
    about = filters.CharFilter(
        label="Object",
        field_name="object_repr",
        lookup_expr="icontains",
        widget=search_box("Package, person or request name"),
    )
    # An action's stable key or its first part ("request."): links and scripts.
    action = filters.CharFilter(label="Action", field_name="action", lookup_expr="startswith", widget=forms.HiddenInput)
    object = filters.CharFilter(label="Object id", field_name="object_id", widget=forms.HiddenInput)
    package = filters.UUIDFilter(label="Access package", field_name="package_id", widget=forms.HiddenInput)

    class Meta:
        model = AuditEvent
        fields: list[str] = []

    def filter_actor(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(actor_label__icontains=value) | Q(actor__display_name__icontains=value))

    def filter_activity(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        return queryset.filter(action__in=[action for action, words in ACTIVITY_NAMES.items() if words == value])


# --- Catalogs, packages, organizations -------------------------------------------------------


class CatalogFilter(filters.FilterSet):
    q = filters.CharFilter(
        label="Search", field_name="display_name", lookup_expr="icontains", widget=search_box("Catalog name")
    )
    sort = ColumnSort(
        {
            "name": ("display_name",),
            "state": ("state", "display_name"),
            "external": ("is_externally_visible", "display_name"),
            "packages": ("package_count",),
            "resources": ("resource_count",),
        }
    )

    class Meta:
        model = Catalog
        fields: list[str] = []


class PackageFilter(filters.FilterSet):
    q = filters.CharFilter(
        label="Search", field_name="display_name", lookup_expr="icontains", widget=search_box("Access package name")
    )
    catalog = filters.ModelChoiceFilter(label="Catalog", queryset=Catalog.objects.none(), empty_label=ANY)
    sort = ColumnSort(
        {
            "name": ("display_name",),
            "catalog": ("catalog__display_name", "display_name"),
            "hidden": ("is_hidden", "display_name"),
            "created": ("created_at",),
        }
    )

    class Meta:
        model = AccessPackage
        fields: list[str] = []

    def __init__(self, *args: Any, catalogs: QuerySet[Catalog], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(filters.ModelChoiceFilter, self.filters["catalog"]).queryset = catalogs


class OrganizationFilter(filters.FilterSet):
    q = filters.CharFilter(label="Search", method="filter_q", widget=search_box("Organization name or domain"))
    state = filters.ChoiceFilter(
        label="State", choices=ConnectedOrganization._meta.get_field("state").choices, empty_label=ANY
    )
    sort = ColumnSort(
        {
            "name": ("display_name",),
            "state": ("state", "display_name"),
            "users": ("user_count",),
            "policies": ("policy_count",),
        }
    )

    class Meta:
        model = ConnectedOrganization
        fields: list[str] = []

    def filter_q(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(display_name__icontains=value) | Q(domains__domain__icontains=value)).distinct()
