"""Set-based writes (governance/services/bulk_sql.py) store what an instance would."""

from __future__ import annotations

import pytest

from governance import models as m
from governance.services.bulk_sql import audit_row, insert_audit_rows

pytestmark = pytest.mark.django_db


def test_json_data_repeated_across_a_copy_is_stored_row_for_row():
    # One COPY encodes each distinct dict once: equal-looking values of other types
    # (True and 1 are equal in Python), and dicts holding lists, keep their own.
    datas = [
        {"previous": "granted", "state": "revoking"},
        {"flag": True},
        {"flag": 1},
        {"flag": True},
        {"ids": [1, 2]},
        {"previous": "granted", "state": "revoking"},
        {},
    ]
    rows = [
        audit_row(None, "grant.revoking", "rolegrant", i, f"row {i}", None, None, **data)
        for i, data in enumerate(datas)
    ]
    assert insert_audit_rows(rows) == len(datas)
    stored = dict(m.AuditEvent.objects.values_list("object_id", "data"))
    assert [stored[str(i)] for i in range(len(datas))] == datas
    assert type(stored["1"]["flag"]) is bool
    assert type(stored["2"]["flag"]) is int
