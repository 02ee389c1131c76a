"""The machinery every endpoint shares: authentication, OData options, paging, output."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar
from urllib.parse import urlencode

from django.db.models import Model, QuerySet
from django.http import HttpResponse
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema_field, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from governance.api import keyset
from governance.api.auth import BearerTokenAuthentication, TokenRateThrottle
from governance.api.errors import ODataError, with_request_id
from governance.api.odata import FilterField, QueryOptions, encode_skiptoken, parse_options, prune_expanded
from governance.errors import NotFound, ValidationFailed
from governance.models import ApiClient, User
from governance.services.text import MAX_NAME, MAX_TEXT, clean_name, clean_text

# --- Output -------------------------------------------------------------------------------


class GraphDateTime(serializers.DateTimeField):
    """ISO-8601 in UTC with a ``Z``, as Graph writes times."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%Y-%m-%dT%H:%M:%SZ", default_timezone=dt.UTC, **kwargs)


@extend_schema_field(OpenApiTypes.STR)
class Constant(serializers.Field):
    """A property whose value is the same for every object (e.g. ``catalogType``)."""

    def __init__(self, value: Any, **kwargs: Any) -> None:
        self.value = value
        kwargs.setdefault("source", "*")
        super().__init__(**kwargs)

    def to_representation(self, value: Any) -> Any:
        return self.value


@extend_schema_field(OpenApiTypes.BOOL)
class ConstantBool(Constant):
    pass


class GraphSerializer(serializers.Serializer):
    """Read-only output. Navigation properties appear only when ``$expand`` asks for them;
    ``$select`` keeps only the properties named (``id`` always stays)."""

    navigation: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, *args: Any, expand: Iterable[str] = (), select: Iterable[str] | None = None, **kwargs: Any):
        self._expand = frozenset(expand)
        self._select = frozenset(select) if select is not None else None
        # Only an instance being rendered is pruned; the schema and property lists see all.
        self._rendering = (args[0] if args else kwargs.get("instance")) is not None
        super().__init__(*args, **kwargs)

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        for name, field in list(fields.items()):
            if self._rendering and (
                (name in self.navigation and name not in self._expand)
                or (self._select is not None and name != "id" and name not in self._select)
            ):
                del fields[name]
                continue
            field.read_only = True
            field.required = False  # $select and $expand may leave any property out
            field.allow_null = True
        return fields

    @classmethod
    def property_names(cls) -> frozenset[str]:
        return frozenset(cls().get_fields())


class ErrorSerializer(serializers.Serializer):
    """Graph's error body."""

    error = inline_serializer(
        "ErrorDetail",
        fields={
            "code": serializers.CharField(),
            "message": serializers.CharField(),
            "target": serializers.CharField(required=False),
            "innerError": inline_serializer(
                "InnerError",
                fields={
                    "date": serializers.CharField(),
                    "request-id": serializers.CharField(required=False),
                    "client-request-id": serializers.CharField(required=False),
                },
            ),
        },
    )


ERRORS = {
    status: OpenApiResponse(ErrorSerializer, description=text)
    for status, text in (
        (400, "Bad input or an unsupported query option."),
        (401, "Missing, unknown or revoked token."),
        (403, "Visible, but this action is not allowed."),
        (404, "Not found, or not visible to this token."),
        (409, "Not possible in the object's current state."),
        (413, "The request body is too large."),
        (429, "Too many calls; wait Retry-After seconds."),
    )
}


def page_of(serializer: type[GraphSerializer], name: str) -> Any:
    return inline_serializer(
        f"{name}Collection",
        fields={
            "@odata.context": serializers.CharField(required=False),
            "@odata.count": serializers.IntegerField(required=False),
            "@odata.nextLink": serializers.CharField(required=False),
            "value": serializer(many=True),
        },
    )


COLLECTION_PARAMETERS = [
    OpenApiParameter(
        "$filter",
        OpenApiTypes.STR,
        description="eq, ne, ge, le, gt, lt (dates), and, or, not, contains(), startswith(), endswith() "
        "on the properties listed; names and enum values case-insensitive.",
    ),
    OpenApiParameter("$select", OpenApiTypes.STR, description="Comma-separated properties."),
    OpenApiParameter(
        "$expand",
        OpenApiTypes.STR,
        description="Comma-separated navigation properties, each with optional ($select=...;$expand=...).",
    ),
    OpenApiParameter("$orderby", OpenApiTypes.STR, description="Properties, each optionally asc or desc."),
    OpenApiParameter("$top", OpenApiTypes.INT, description="Page size (the server caps it)."),
    OpenApiParameter("$skip", OpenApiTypes.INT, description="Items to skip."),
    OpenApiParameter("$count", OpenApiTypes.BOOL, description="Include @odata.count."),
    OpenApiParameter("$skiptoken", OpenApiTypes.STR, description="From @odata.nextLink."),
    OpenApiParameter(
        "ConsistencyLevel",
        OpenApiTypes.STR,
        location=OpenApiParameter.HEADER,
        description="Accepted (eventual) as Graph's advanced queries send it; every query here is consistent.",
    ),
]
ITEM_PARAMETERS = [
    OpenApiParameter("$select", OpenApiTypes.STR, description="Comma-separated properties."),
    OpenApiParameter(
        "$expand",
        OpenApiTypes.STR,
        description="Comma-separated navigation properties, each with optional ($select=...;$expand=...).",
    ),
]


# --- Input ------------------------------------------------------------------------------


def name_field(**kwargs: Any) -> serializers.CharField:
    """A display name in a request body's schema: the portal's limit."""
    return serializers.CharField(max_length=MAX_NAME, **kwargs)


def text_field(**kwargs: Any) -> serializers.CharField:
    """Any other string in a request body's schema (a description, a justification, an id
    from another system, a duration): the portal's limit for texts."""
    return serializers.CharField(max_length=MAX_TEXT, **kwargs)


def body_of(request: Request) -> dict[str, Any]:
    data = request.data
    if not isinstance(data, Mapping):
        raise ValidationFailed("The request body must be a JSON object.")
    return dict(data)


def refuse_unknown(data: Mapping[str, Any], known: Iterable[str], where: str = "") -> None:
    """Properties we do not support are refused, so nobody believes they took effect."""
    unknown = sorted(k for k in data if not k.startswith("@odata.") and k not in set(known))
    if unknown:
        place = f" in {where}" if where else ""
        raise ValidationFailed(f"Property '{unknown[0]}'{place} is not supported.", field=unknown[0])


def text_of(data: Mapping[str, Any], name: str, *, required: bool = False, default: str = "") -> str:
    """A string property, as sent (no longer than any text the portal takes)."""
    value = data.get(name)
    if value is None:
        if required:
            raise ValidationFailed(f"'{name}' is required.", field=name)
        return default
    if not isinstance(value, str):
        raise ValidationFailed(f"'{name}' must be a string.", field=name)
    if len(value) > MAX_TEXT:
        raise ValidationFailed(f"'{name}' can be at most {MAX_TEXT:,} characters.", field=name)
    return value


def name_of(data: Mapping[str, Any], name: str, *, required: bool = False) -> str:
    """A display name, held to the portal's rules (one line of at most MAX_NAME characters);
    "" when it is optional and not given."""
    value = text_of(data, name, required=required)
    return clean_name(value, name) if value or required else ""


def free_text_of(data: Mapping[str, Any], name: str) -> str:
    """A description or justification, held to the portal's rules (at most MAX_TEXT)."""
    return clean_text(text_of(data, name), name)


def name_and_description(data: Mapping[str, Any]) -> dict[str, Any]:
    """``displayName`` and ``description``, where the body has them, as the services name them."""
    changes: dict[str, Any] = {}
    if "displayName" in data:
        changes["display_name"] = name_of(data, "displayName", required=True)
    if "description" in data:
        changes["description"] = free_text_of(data, "description")
    return changes


def odata_type(item: Mapping[str, Any], default: str = "") -> str:
    """An object's ``@odata.type`` without its namespace: ``#microsoft.graph.singleUser`` is ``singleUser``."""
    return str(item.get("@odata.type", default)).removeprefix("#").removeprefix("microsoft.graph.")


_DURATION = re.compile(r"P(?:(?P<days>[0-9]+)D)?(?:T(?:(?P<hours>[0-9]+)H)?)?")
# msgraph-sdk for Python writes a timedelta as str(timedelta) ("7 days, 0:00:00"), not ISO-8601.
_PYTHON_DURATION = re.compile(
    r"(?:(?P<days>[0-9]+) days?, )?(?P<hours>[0-9]+):(?P<minutes>[0-9]{2}):(?P<seconds>[0-9]{2})"
)
# A hundred years: anything longer is a typo, or an attempt at the end of the calendar.
MAX_DURATION_DAYS = 36_525


def parse_duration(value: str, field: str) -> tuple[int, int]:
    """(days, hours) of a duration given in whole days or hours, at most MAX_DURATION_DAYS."""
    value = (value or "").strip()
    match = _DURATION.fullmatch(value)
    if match is None or value in {"P", "PT"} or value.endswith("T"):
        match = _PYTHON_DURATION.fullmatch(value)
        if match is None or match["minutes"] != "00" or match["seconds"] != "00":
            raise ValidationFailed(
                f"'{field}' is an ISO-8601 duration in days or hours, e.g. P30D or PT8H.", field=field
            )
    # Leading zeros aside, a number longer than this is out of range before int() reads it.
    digits = [(match[part] or "0").lstrip("0") or "0" for part in ("days", "hours")]
    if any(len(d) > len(str(MAX_DURATION_DAYS * 24)) for d in digits):
        raise ValidationFailed(f"'{field}' can be at most {MAX_DURATION_DAYS:,} days.", field=field)
    days, hours = (int(d) for d in digits)
    if days * 24 + hours > MAX_DURATION_DAYS * 24:
        raise ValidationFailed(f"'{field}' can be at most {MAX_DURATION_DAYS:,} days.", field=field)
    return days, hours


def bool_of(data: Mapping[str, Any], name: str, default: bool = False) -> bool:
    value = data.get(name)
    if value is None:
        return default
    # Graph reads "true" and "false" as the booleans (Microsoft's own policy Example 4 sends them).
    if isinstance(value, str) and value.lower() in {"true", "false"}:
        return value.lower() == "true"
    if not isinstance(value, bool):
        raise ValidationFailed(f"'{name}' must be true or false.", field=name)
    return value


def object_of(data: Mapping[str, Any], name: str, *, required: bool = False) -> dict[str, Any]:
    value = data.get(name)
    if value is None:
        if required:
            raise ValidationFailed(f"'{name}' is required.", field=name)
        return {}
    if not isinstance(value, Mapping):
        raise ValidationFailed(f"'{name}' must be an object.", field=name)
    return dict(value)


def list_of(data: Mapping[str, Any], name: str) -> list[Any]:
    value = data.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValidationFailed(f"'{name}' must be an array.", field=name)
    return value


def id_of(data: Mapping[str, Any], name: str, *, required: bool = False) -> str | None:
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise ValidationFailed(f"'{name}' is required.", field=name)
        return None
    if not isinstance(value, str):
        raise ValidationFailed(f"'{name}' must be an id (a GUID string).", field=name)
    return value


def datetime_of(data: Mapping[str, Any], name: str) -> dt.datetime | None:
    value = data.get(name)
    if value is None:
        return None
    parsed = None
    if isinstance(value, str):
        try:
            parsed = parse_datetime(value)
        except ValueError:
            parsed = None
    if parsed is None:
        raise ValidationFailed(f"'{name}' must be an ISO-8601 date and time, e.g. 2030-01-31T17:00:00Z.", field=name)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    try:
        return parsed.astimezone(dt.UTC)
    except OverflowError:  # 9999-12-31T23:00-05:00 is after the last day Python knows
        raise ValidationFailed(f"'{name}' is out of range: between years 1 and 9999 in UTC.", field=name) from None


def odata_context(request: Any, data: Any) -> str:
    """Graph's ``@odata.context``: the entity set the answer comes from (``/$entity`` for one)."""
    path = request.path.split("/v1.0/", 1)[-1].rstrip("/")
    collection = isinstance(data, dict) and isinstance(data.get("value"), list)
    if not collection:
        head, _, last = path.rpartition("/")
        if head and (_ID.fullmatch(last) or "_" in last):
            path = head
        path = f"{path}/$entity"
    return f"{request.build_absolute_uri('/v1.0/')}$metadata#{path}"


_ID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# The path parameters that are ids: a malformed one is a 400, as Graph answers, not a 404.
ID_PARAMETERS = ("pk", "stage_id")


def current_user_filter(on: str, allowed: tuple[str, ...]) -> str:
    """The ``on`` of ``filterByCurrentUser(on='...')``, one of what this collection takes."""
    known = next((a for a in allowed if a.lower() == on.lower()), None)
    if known is None:
        raise ValidationFailed(f"filterByCurrentUser(on=...) takes {' or '.join(allowed)}.", field="on")
    return known


# --- Views --------------------------------------------------------------------------------


class GraphView(APIView):
    authentication_classes = [BearerTokenAuthentication]
    permission_classes = [IsAuthenticated]
    throttle_classes = [TokenRateThrottle]

    @property
    def client(self) -> ApiClient:
        user = self.request.user
        assert isinstance(user, ApiClient)
        return user

    def acting_user(self) -> User | None:
        return self.client.acting_user

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        for name in ID_PARAMETERS:
            value = kwargs.get(name)
            if isinstance(value, str) and not _ID.fullmatch(value):
                raise ODataError(f"Invalid id '{value[:80]}': an id is a GUID.", code="invalidRequest", target=name)

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        # The ``/$count`` segment of a collection: its number of items, as plain text.
        self.count_segment = bool(kwargs.pop("count_segment", False))
        return super().dispatch(request, *args, **kwargs)

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        data = getattr(response, "data", None)
        if (
            isinstance(response, Response)
            and response.status_code in (200, 201, 202)
            and isinstance(data, dict)
            and "@odata.context" not in data
        ):
            response.data = {"@odata.context": odata_context(request, data), **data}
        return with_request_id(super().finalize_response(request, response, *args, **kwargs), request._request)


class ResourceView(GraphView):
    """One kind of Graph resource: how to find it, filter it, expand it and render it."""

    serializer: ClassVar[type[GraphSerializer]]
    filters: ClassVar[Mapping[str, FilterField]] = {}
    expandable: ClassVar[Mapping[str, frozenset[str]]] = {}
    noun: ClassVar[str] = "object"

    def base_queryset(self) -> QuerySet[Any]:
        raise NotImplementedError

    def optimize(self, queryset: QuerySet[Any], options: QueryOptions) -> QuerySet[Any]:
        """select_related/prefetch for what is rendered, so a page costs a constant count."""
        return queryset

    def query_options(self, request: Request, *, collection: bool) -> QueryOptions:
        return parse_options(
            request.query_params,
            collection=collection,
            filters=self.filters,
            expand=self.expandable,
            select=self.serializer.property_names(),
        )

    def render(self, obj: Model, options: QueryOptions | None = None, status: int = 200) -> Response:
        options = options or QueryOptions()
        data = dict(self.serializer(obj, expand=options.expand, select=options.select).data)
        return Response(prune_expanded(data, options.expand), status=status)

    def list_response(self, request: Request, queryset: QuerySet[Any] | None = None) -> Response:
        options = self.query_options(request, collection=True)
        queryset = self.base_queryset() if queryset is None else queryset
        queryset = queryset.filter(options.filter)
        if options.order_by:
            queryset = queryset.order_by(*options.order_by, "pk")
        if self.count_segment:
            return count_response(queryset.count())
        body: dict[str, Any] = {}
        if options.count:
            body["@odata.count"] = queryset.count()
        # Keyset paging where the order allows it: a deep page costs what the first does.
        order = keyset.ordering(queryset)
        if options.after is not None:
            key = keyset.decode(options.after, queryset, order) if order else None
            if key is None:
                raise ODataError("The $skiptoken is not valid; follow @odata.nextLink as given.", target="$skiptoken")
            queryset = keyset.after(queryset, order or [], key)
        rows = list(self.optimize(queryset, options)[options.offset : options.offset + options.top + 1])
        more = len(rows) > options.top
        rows = rows[: options.top]
        values = self.serializer(rows, many=True, expand=options.expand, select=options.select).data
        body["value"] = prune_expanded([dict(v) for v in values], options.expand)
        if more:
            token = keyset.encode(rows[-1], order) if order else encode_skiptoken(options.offset + options.top)
            body["@odata.nextLink"] = next_link(request, token)
        return Response(body)

    def get_object(self, pk: Any, queryset: QuerySet[Any] | None = None, options: QueryOptions | None = None) -> Any:
        queryset = self.base_queryset() if queryset is None else queryset
        if options is not None:
            queryset = self.optimize(queryset, options)
        obj = queryset.filter(pk=pk).first()
        if obj is None:
            raise NotFound(f"{self.noun[0].upper()}{self.noun[1:]} not found.")
        return obj

    def retrieve(self, request: Request, pk: Any, queryset: QuerySet[Any] | None = None) -> Response:
        options = self.query_options(request, collection=False)
        return self.render(self.get_object(pk, queryset, options), options)


def next_link(request: Request, skiptoken: str) -> str:
    """The next page: the same query, from where ``skiptoken`` says (an offset or the last
    row's sort key; ``$skip`` is folded into it)."""
    params = request.query_params.copy()
    params.pop("$skip", None)
    params["$skiptoken"] = skiptoken
    return request.build_absolute_uri(request.path) + "?" + urlencode(params, safe="$(),'/")


def count_response(count: int) -> Any:
    """The ``/$count`` segment's answer: the number alone, as text (what Graph's SDKs read).
    A plain HttpResponse, typed Any so that the list views keep their one signature."""
    return HttpResponse(str(count), content_type="text/plain; charset=utf-8")


def no_content(status: int = 204) -> Response:
    return Response(status=status)
