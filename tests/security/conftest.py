"""Security tests reuse the API's token fixtures, the delivery tests' LDAP connector and
My Access's seed 002 package with a pending request."""

from tests.api.conftest import admin_api, api_as  # noqa: F401
from tests.delivery.conftest import ldap_connector  # noqa: F401
from tests.myaccess.conftest import developer_tools, pending, second_approver  # noqa: F401
