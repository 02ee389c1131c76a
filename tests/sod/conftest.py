"""Issue 18's tests reuse the API's clients (tokens) and My Access's fixtures."""

from __future__ import annotations

from tests.api.conftest import admin_api, api_as
from tests.myaccess.conftest import developer_tools

__all__ = ["admin_api", "api_as", "developer_tools"]
