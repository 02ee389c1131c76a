"""A list filter's search box, for htmx: the first policies or access packages whose name
contains what the admin typed, among those the admin may see (the lists' own filter decides:
``PolicyPlaceFilter.offer_places``), narrowed by the catalog and package already chosen."""

from __future__ import annotations

from typing import cast

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from governance.filters import MATCHES_SHOWN, NamedChoiceField, PolicyPlaceFilter
from governance.ids import is_uuid
from governance.models import AssignmentPolicy
from governance.views.access import admin_portal, visible_places

SEARCHED = ("policy", "package")


@admin_portal
def filter_choices(request: HttpRequest) -> HttpResponse:
    name = request.GET.get("field", "")
    if name not in SEARCHED:
        raise Http404("No such filter.")
    filterset = PolicyPlaceFilter(request.GET, queryset=AssignmentPolicy.objects.none())  # its choices, no rows
    filterset.offer_places(*visible_places(request))
    text = request.GET.get(name, "").strip()
    if is_uuid(text):  # the box still shows the chosen one: offer the others too
        text = ""
    matches = filterset.matches(name, text, MATCHES_SHOWN + 1)
    field = cast(NamedChoiceField, filterset.form.fields[name])
    shown = [{"pk": found.pk, "name": found.display_name, "detail": field.detail_of(found)} for found in matches]
    return render(
        request,
        "governance/widgets/_search_choice_options.html",
        {
            "id": f"id_{name}",
            "text": text,
            "matches": shown[:MATCHES_SHOWN],
            "more": len(shown) > MATCHES_SHOWN,
        },
    )
