"""Issue 15's tests reuse the admin portal's scene and My Access's seed 002 package."""

from tests.myaccess.conftest import developer_tools, pending  # noqa: F401
from tests.myaccess.test_smtp_round_trip import smtp_inbox  # noqa: F401
from tests.portal.conftest import as_persona, finance_owner, scene  # noqa: F401
