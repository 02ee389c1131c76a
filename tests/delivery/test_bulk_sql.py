"""The set-based writer keeps each row's JSON as given: a batch encodes each distinct flat
dict once (issue 19), and values that compare equal but are not the same JSON (1, 1.0,
True) stay apart. On PostgreSQL this is the COPY path; on SQLite the ORM's."""

from __future__ import annotations

import pytest

from governance import models as m
from governance.services.bulk_sql import audit_row, insert_audit_rows

pytestmark = pytest.mark.django_db


def test_each_audit_row_of_a_batch_keeps_its_own_data():
    data = [
        {"previous": "pending", "message": "Granted."},
        {"n": 1},
        {"n": True},
        {"n": 1.0},
        {"previous": "pending", "message": "Granted."},
        {"n": 1},
        {"nested": {"a": [1, 2]}, "n": None},
        {"ids": [1, 2]},
        {},
        {"previous": "pending", "message": "Already a member in the target."},
    ]
    rows = [audit_row(None, "test.json", "thing", i, f"thing {i}", None, None, **d) for i, d in enumerate(data)]

    assert insert_audit_rows(rows) == len(data)

    stored = [e.data for e in m.AuditEvent.objects.filter(action="test.json").order_by("pk")]
    assert stored == data
    assert [type(d["n"]) for d in stored if "n" in d and d["n"] is not None] == [int, bool, float, int]
