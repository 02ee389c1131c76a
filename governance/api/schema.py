"""How the OpenAPI schema (drf-spectacular) describes the API."""

from __future__ import annotations

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
