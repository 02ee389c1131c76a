"""Security tests use the API's token fixtures and the delivery tests' LDAP connector."""

from tests.api.conftest import admin_api, api_as  # noqa: F401
from tests.delivery.conftest import ldap_connector  # noqa: F401
