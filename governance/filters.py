"""List filters of the admin portal (django-filter), all in the query string."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any, cast

import django_filters as filters
from django import forms
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from governance.models import (
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

SEARCH = forms.TextInput(attrs={"type": "search", "placeholder": "Name or email"})
DATE = forms.DateInput(attrs={"type": "date"})


def day_start(value: date) -> datetime:
    """Midnight of a date in the viewer's zone (dates in filters are the viewer's days)."""
    return timezone.make_aware(datetime.combine(value, time.min))


class PersonSearch(filters.FilterSet):
    """``q``: a part of the name, username or email of the people in ``person_fields``."""

    person_fields: tuple[str, ...] = ("target",)
    q = filters.CharFilter(label="Person", method="filter_person", widget=SEARCH)

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


class AssignmentFilter(PersonSearch):
    """Status (default: active, as the seeds' Assignments page), person, sort."""

    status = filters.ChoiceFilter(
        label="Status", choices=ASSIGNMENT_STATUS_CHOICES, method="filter_status", empty_label=None
    )
    sort = filters.OrderingFilter(
        fields=(
            ("target__display_name", "person"),
            ("state", "status"),
            ("start_at", "start"),
            ("end_at", "end"),
            ("created_at", "created"),
        ),
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


# Across packages a list may hold a million rows: only orders an index serves are offered.
INDEXED_SORTS = (("target__display_name", "person"), ("created_at", "created"))


class AllAssignmentsFilter(AssignmentFilter):
    sort = filters.OrderingFilter(fields=INDEXED_SORTS)


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
    status = filters.ChoiceFilter(label="Status", choices=REQUEST_STATUS_CHOICES, method="filter_status")
    policy = filters.ModelChoiceFilter(label="Policy", queryset=AssignmentPolicy.objects.none(), empty_label="All")
    type = filters.ChoiceFilter(label="Type", field_name="request_type", choices=RequestType.choices)
    sort = filters.OrderingFilter(
        fields=(
            ("target__display_name", "person"),
            ("state", "status"),
            ("request_type", "type"),
            ("created_at", "created"),
            ("completed_at", "completed"),
        ),
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


class AllRequestsFilter(RequestFilter):
    sort = filters.OrderingFilter(fields=INDEXED_SORTS)
    # Across packages policies share names ("Initial policy"): a part of the name finds them.
    policy = filters.CharFilter(  # type: ignore[assignment]
        label="Policy", field_name="policy__display_name", lookup_expr="icontains"
    )


# --- Audit log ----------------------------------------------------------------------------


class AuditFilter(DateRangeMixin):
    actor = filters.CharFilter(label="Actor", field_name="actor_label", lookup_expr="icontains")
    action = filters.CharFilter(
        label="Action",
        field_name="action",
        lookup_expr="startswith",
        widget=forms.TextInput(attrs={"placeholder": "request.canceled, package…"}),
    )
    object = filters.CharFilter(label="Object id", field_name="object_id", widget=forms.HiddenInput)
    package = filters.UUIDFilter(label="Access package", field_name="package_id", widget=forms.HiddenInput)

    class Meta:
        model = AuditEvent
        fields: list[str] = []


# --- Catalogs, packages, organizations -------------------------------------------------------


class CatalogFilter(filters.FilterSet):
    q = filters.CharFilter(label="Search", field_name="display_name", lookup_expr="icontains", widget=SEARCH)

    class Meta:
        model = Catalog
        fields: list[str] = []


class PackageFilter(filters.FilterSet):
    q = filters.CharFilter(label="Search", field_name="display_name", lookup_expr="icontains", widget=SEARCH)
    catalog = filters.ModelChoiceFilter(label="Catalog", queryset=Catalog.objects.none(), empty_label="All catalogs")
    sort = filters.OrderingFilter(
        fields=(("display_name", "name"), ("catalog__display_name", "catalog"), ("created_at", "created"))
    )

    class Meta:
        model = AccessPackage
        fields: list[str] = []

    def __init__(self, *args: Any, catalogs: QuerySet[Catalog], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(filters.ModelChoiceFilter, self.filters["catalog"]).queryset = catalogs


class OrganizationFilter(filters.FilterSet):
    q = filters.CharFilter(label="Search", method="filter_q", widget=SEARCH)
    state = filters.ChoiceFilter(
        label="State", choices=ConnectedOrganization._meta.get_field("state").choices, empty_label="Any state"
    )

    class Meta:
        model = ConnectedOrganization
        fields: list[str] = []

    def filter_q(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(display_name__icontains=value) | Q(domains__domain__icontains=value)).distinct()
