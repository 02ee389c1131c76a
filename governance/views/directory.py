"""The directory picker's search, for htmx: matching people (or groups) as checkboxes."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from governance.forms import directory_entries, directory_matches
from governance.views.access import admin_portal


@admin_portal
def directory_search(request: HttpRequest) -> HttpResponse:
    requested = request.GET.get("kind", "")
    kind = requested if requested in ("group", "organization") else "user"
    name = request.GET.get("name", "")
    if not name.isidentifier():
        name = "users"
    chosen = request.GET.getlist(name)
    query = request.GET.get(f"{name}__q", "").strip()
    return render(
        request,
        "governance/widgets/_picker_options.html",
        {
            "widget": {
                "name": name,
                "kind": kind,
                "attrs": {"id": f"id_{name}"},
                "chosen": directory_entries(kind, chosen),
                "query": query,
                "matches": directory_matches(kind, query, exclude=chosen),
            }
        },
    )
