"""The API's token fixtures, for the security tests that call the API."""

from tests.api.conftest import admin_api, api_as  # noqa: F401 - shared fixtures
