"""How the OpenAPI schema (drf-spectacular) describes the API."""

from __future__ import annotations

import inspect
from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema

from governance.api.auth import BearerTokenAuthentication


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """How the OpenAPI schema describes the bearer token."""

    target_class = BearerTokenAuthentication
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "A token from manage.py create_api_client."}


class GraphAutoSchema(AutoSchema):
    """Collections are ``..._list`` and items ``..._retrieve``, so operation ids never clash."""

    def get_operation_id(self) -> str:
        operation_id: str = super().get_operation_id()
        if self.method == "GET" and not self.path.rstrip("/").endswith("}") and operation_id.endswith("_retrieve"):
            operation_id = operation_id.removesuffix("_retrieve") + "_list"
        return operation_id

    def get_description(self) -> str:  # type: ignore[override]
        """The endpoint's own docstring only, never one inherited from the shared base views."""
        own = type(self.view).__dict__.get("__doc__") or ""
        method = getattr(self.view, self.method.lower(), None)
        return inspect.cleandoc(own or getattr(method, "__doc__", None) or "")

    def get_operation(self, *args: Any, **kwargs: Any) -> Any:
        """Name, in each endpoint's query options, what it can filter, expand and select."""
        operation = super().get_operation(*args, **kwargs)
        if not operation:
            return operation
        filters = sorted(getattr(self.view, "filters", {}))
        expand = sorted(getattr(self.view, "expandable", {}))
        serializer = getattr(self.view, "serializer", None)
        select = sorted(serializer.property_names()) if serializer is not None else []
        extra = {
            "$filter": f"Properties: {', '.join(filters)}." if filters else "Nothing can be filtered here.",
            "$expand": f"Properties: {', '.join(expand)}." if expand else "Nothing can be expanded here.",
            "$select": f"Properties: {', '.join(select)}." if select else "",
        }
        for parameter in operation.get("parameters", []):
            if parameter.get("in") == "query" and parameter.get("name") in extra:
                parameter["description"] = f"{parameter.get('description', '')} {extra[parameter['name']]}".strip()
        return operation


def count_segments(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular writes a collection's ``/$count`` route as ``/count``, with the
    collection's own operations: restore Graph's path and say what it answers (a number, as
    text). A postprocessing hook (SPECTACULAR_SETTINGS)."""
    paths = result.get("paths", {})
    for path in [p for p in paths if p.endswith("/count")]:
        item = paths.pop(path)
        operation = item.get("get")
        if operation is None:
            continue
        operation["operationId"] = f"{operation['operationId']}_count"
        operation["description"] = "The number of items of the collection ($filter applies), as plain text."
        operation["parameters"] = [
            p
            for p in operation.get("parameters", [])
            if p.get("name") in {"$filter", "ConsistencyLevel"} or p.get("in") == "path"
        ]
        responses = operation["responses"]
        responses["200"] = {
            "description": "The number of items.",
            "content": {"text/plain": {"schema": {"type": "integer", "minimum": 0}}},
        }
        paths[path.removesuffix("/count") + "/$count"] = {"get": operation}
    return result
