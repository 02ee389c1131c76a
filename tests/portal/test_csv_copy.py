"""The big CSV downloads (assignments, requests) leave PostgreSQL as CSV (``COPY … TO
STDOUT``): the same bytes as the row-by-row path, the same scoping, and streamed in pieces."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from governance import models as m
from governance.views import csv_export
from tests import factories as f
from tests.conftest import need
from tests.portal.conftest import Scene

pytestmark = pytest.mark.django_db

# Every way a cell can need care: quotes, commas, line breaks, formulas, empty, non-ASCII.
AWKWARD_NAMES = [
    'Anne "the boss" O\'Neil',
    "Smith, John",
    "two\nlines",
    "carriage\rreturn",
    "=HYPERLINK(1)",
    "+1 555",
    "-minus",
    "@at",
    "\ttabbed",
    "",
    "Zoë Ångström 名前",
    "\\.",
]
STATES = [m.AssignmentState.DELIVERED, m.AssignmentState.PARTIALLY_DELIVERED, m.AssignmentState.EXPIRED]
ZONES = ["UTC", "Europe/Berlin", "America/St_Johns", "Asia/Kolkata"]


@pytest.fixture
def postgres_only() -> None:
    need(connection.vendor == "postgresql", "COPY is PostgreSQL's (set DATABASE_URL)")


@pytest.fixture
def awkward(scene: Scene) -> list[m.Assignment]:
    """Assignments and requests of people with awkward names, at times with microseconds and
    on both sides of a daylight-saving change, some drifted, some without a policy or end."""
    made = []
    base = datetime(2026, 3, 29, 0, 59, 59, 999_999, tzinfo=UTC)
    for i, name in enumerate(AWKWARD_NAMES):
        person = f.UserFactory(
            username=f"awk{i}", display_name=name, email="" if i % 3 else f"awk{i}@x.example", user_principal_name=name
        )
        at = base + timedelta(hours=i, minutes=7 * i)
        assignment = f.AssignmentFactory(
            package=scene.package,
            policy=None if i % 4 == 0 else scene.direct_policy,
            target=person,
            state=STATES[i % 3],
            start_at=at,
            end_at=None if i % 2 else at + timedelta(days=200),
        )
        m.Assignment.objects.filter(pk=assignment.pk).update(created_at=at - timedelta(seconds=i))
        if i % 5 == 0:
            f.RoleGrantFactory(assignment=assignment, resource_role=scene.good_role, state=m.GrantState.DRIFTED)
        request = f.RequestFactory(
            package=scene.package, policy=scene.direct_policy, target=person, requestor_label=name, state="delivered"
        )
        m.AssignmentRequest.objects.filter(pk=request.pk).update(
            created_at=at, completed_at=None if i % 2 else at + timedelta(minutes=3)
        )
        made.append(assignment)
    return made


def _body(response: Any) -> bytes:
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    return b"".join(response.streaming_content)


def _both(client: Any, url: str, monkeypatch: pytest.MonkeyPatch, **query: str) -> tuple[bytes, bytes]:
    """The download by COPY (checked: the viewer's zone was set for it), then row by row."""
    with CaptureQueriesContext(connection) as queries:
        copied = _body(client.get(url, query))
    assert any("set_config('TimeZone'" in q["sql"] for q in queries.captured_queries)
    monkeypatch.setattr(csv_export, "uses_copy", lambda queryset: False)
    with CaptureQueriesContext(connection) as queries:
        fallback = _body(client.get(url, query))
    assert not any("set_config('TimeZone'" in q["sql"] for q in queries.captured_queries)
    monkeypatch.undo()
    return copied, fallback


@pytest.mark.postgres
@pytest.mark.usefixtures("postgres_only")
class TestSameBytesAsRowByRow:
    @pytest.mark.parametrize("zone", ZONES)
    def test_assignments(self, zone: str, awkward: Any, as_persona: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        client = as_persona("admin")
        client.cookies["tz"] = zone
        copied, fallback = _both(client, "/governance/assignments/download/", monkeypatch, status="all")
        assert copied == fallback
        rows = list(csv.reader(io.StringIO(copied.decode(), newline="")))
        assert len(rows) == 1 + m.Assignment.objects.count()
        assert copied.count(b"\r\n") == len(rows)

    @pytest.mark.parametrize("zone", ["Europe/Berlin", "America/St_Johns"])
    def test_requests(self, zone: str, awkward: Any, as_persona: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        client = as_persona("admin")
        client.cookies["tz"] = zone
        copied, fallback = _both(client, "/governance/requests/download/", monkeypatch)
        assert copied == fallback
        rows = list(csv.DictReader(io.StringIO(copied.decode(), newline="")))
        assert {row["Delivery errors"] for row in rows} >= {"0", "1"}

    def test_one_package_filtered(self, scene: Scene, awkward: Any, as_persona: Any, monkeypatch: Any) -> None:
        client = as_persona("pkg_manager")
        url = f"/governance/packages/{scene.package.pk}/assignments/download/"
        copied, fallback = _both(client, url, monkeypatch, status="partiallyDelivered", q="awk")
        assert copied == fallback
        people = [row["Person"] for row in csv.DictReader(io.StringIO(copied.decode(), newline=""))]
        assert people
        assert all(people)


@pytest.mark.postgres
@pytest.mark.usefixtures("postgres_only")
class TestCopy:
    def test_formulas_are_neutralised_and_quotes_kept(self, awkward: Any, as_persona: Any) -> None:
        body = _body(as_persona("admin").get("/governance/assignments/download/", {"status": "all"}))
        people = {row["Person"] for row in csv.DictReader(io.StringIO(body.decode(), newline=""))}
        assert {"'=HYPERLINK(1)", "'+1 555", "'-minus", "'@at", "'\ttabbed"} <= people
        assert {'Anne "the boss" O\'Neil', "Smith, John", "two\nlines", "Zoë Ångström 名前"} <= people
        assert b'"two\nlines"' in body  # a line break inside a cell stays a bare \n, as Python's csv writes it

    def test_a_catalog_owner_sees_only_their_catalogs_rows(
        self, scene: Scene, as_persona: Any, other_catalog: m.Catalog, make_package: Any
    ) -> None:
        elsewhere = make_package(name="Payroll", in_catalog=other_catalog)
        f.AssignmentFactory(package=elsewhere, policy=elsewhere.policies.get(), target=f.UserFactory(username="zed"))
        f.RequestFactory(package=elsewhere, policy=elsewhere.policies.get(), target=f.UserFactory(username="yan"))
        client = as_persona("catalog_owner")
        downloads = [("/governance/assignments/download/", {"status": "all"}), ("/governance/requests/download/", {})]
        for url, query in downloads:
            rows = list(csv.DictReader(io.StringIO(_body(client.get(url, query)).decode(), newline="")))
            assert rows
            assert {row["Access package"] for row in rows} == {"Production on-call"}
        client.force_login(m.User.objects.get(username="admin"))
        assert b"Payroll" in _body(client.get("/governance/assignments/download/", {"status": "all"}))
        assert b"Payroll" in _body(client.get("/governance/requests/download/"))

    def test_streamed_in_pieces(self, awkward: Any, as_persona: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        """Memory stays flat: rows go out in pieces of about CHUNK_BYTES as COPY sends them,
        never gathered whole (the bench measures the RSS at a million rows)."""
        monkeypatch.setattr(csv_export, "CHUNK_BYTES", 300)
        response = as_persona("admin").get("/governance/assignments/download/", {"status": "all"})
        pieces = list(response.streaming_content)
        assert len(pieces) > 4
        assert max(len(piece) for piece in pieces) < 300 + 600

    def test_the_session_zone_is_back_after_the_download(self, awkward: Any, as_persona: Any) -> None:
        client = as_persona("admin")
        client.cookies["tz"] = "Asia/Kolkata"
        _body(client.get("/governance/assignments/download/"))
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('TimeZone')")
            assert cursor.fetchone()[0] == "UTC"


class TestLineEnds:
    """COPY's \\n become \\r\\n, except inside a quoted cell (the csv writer keeps those)."""

    @pytest.mark.parametrize(
        ("copied", "expected"),
        [
            (b"a,b\nc,d\n", b"a,b\r\nc,d\r\n"),
            (b'"x\ny",b\n"q""\n""",z\n', b'"x\ny",b\r\n"q""\n""",z\r\n'),
            (b'"""",\n"a\nb"\n', b'"""",\r\n"a\nb"\r\n'),
        ],
    )
    def test_crlf(self, copied: bytes, expected: bytes) -> None:
        assert csv_export.crlf(copied) == expected
        assert list(csv.reader(io.StringIO(expected.decode(), newline=""))) == list(
            csv.reader(io.StringIO(copied.decode(), newline=""))
        )
