"""The OpenAPI schema the API serves is valid and drf-spectacular has nothing to warn about.

Apart from the schemathesis fuzzers (tests/api/test_schemathesis.py), which read the schema
when their module is imported: the fast tier, which leaves the fuzzers out, need not."""

from __future__ import annotations

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_schema_is_valid_openapi() -> None:
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")
