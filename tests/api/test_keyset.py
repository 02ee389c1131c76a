"""`$skiptoken` pages by keyset (DESIGN §8): a deep page is an index range, not an offset."""

from __future__ import annotations

import base64
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from governance import models as m
from tests import factories as f
from tests.api.conftest import Api

pytestmark = pytest.mark.django_db


def _token(answer_body: dict) -> str:
    return parse_qs(urlsplit(answer_body["@odata.nextLink"]).query)["$skiptoken"][0]


def _pages(api: Api, top: int) -> list[list[str]]:
    pages = []
    answer = api.get("assignments", **{"$top": str(top)})
    while True:
        assert answer.status == 200, answer.body
        pages.append([row["id"] for row in answer.body["value"]])
        if "@odata.nextLink" not in answer.body:
            return pages
        link = urlsplit(answer.body["@odata.nextLink"])
        answer = api.call("GET", f"{link.path}?{link.query}")


@pytest.fixture
def assignments(catalog: m.Catalog) -> list[m.Assignment]:
    policy = f.PolicyFactory(package__catalog=catalog)
    made = [f.AssignmentFactory(policy=policy) for _ in range(7)]
    # Two share one created_at: the primary key orders them.
    same = timezone.now() - timedelta(days=1)
    m.Assignment.objects.filter(pk__in=[made[2].pk, made[3].pk]).update(created_at=same)
    return made


def test_pages_follow_the_sort_key_and_cover_every_row_once(admin_api: Api, assignments: list[m.Assignment]) -> None:
    expected = [str(pk) for pk in m.Assignment.objects.order_by("-created_at", "pk").values_list("pk", flat=True)]
    pages = _pages(admin_api, 2)
    assert [len(p) for p in pages] == [2, 2, 2, 1]
    assert [row for page in pages for row in page] == expected
    first = admin_api.get("assignments", **{"$top": "2"})
    raw = base64.urlsafe_b64decode(_token(first.body) + "==").decode()
    assert raw.startswith("k:")


def test_a_row_removed_between_pages_shifts_nothing(admin_api: Api, assignments: list[m.Assignment]) -> None:
    first = admin_api.get("assignments", **{"$top": "3"})
    seen = [row["id"] for row in first.body["value"]]
    m.Assignment.objects.filter(pk=seen[0]).delete()  # an offset would now skip a row
    link = urlsplit(first.body["@odata.nextLink"])
    rest = admin_api.call("GET", f"{link.path}?{link.query}&$top=10").body["value"]
    ordered = [str(pk) for pk in m.Assignment.objects.order_by("-created_at", "pk").values_list("pk", flat=True)]
    assert [row["id"] for row in rest] == ordered[2:]


def test_a_deep_page_is_one_range_query(admin_api: Api, assignments: list[m.Assignment]) -> None:
    first = admin_api.get("assignments", **{"$top": "5"})
    link = urlsplit(first.body["@odata.nextLink"])
    with CaptureQueriesContext(connection) as captured:
        admin_api.call("GET", f"{link.path}?{link.query}")
    page = [q["sql"] for q in captured if "governance_assignment" in q["sql"] and "LIMIT" in q["sql"]]
    assert page
    assert all("OFFSET" not in sql for sql in page)


@pytest.mark.parametrize(
    "payload",
    ['k:["not a date","x"]', "k:[1]", "k:{}", "k:not json", 'k:["2026-01-01T00:00:00+00:00","not-a-uuid"]'],
)
def test_a_forged_keyset_token_is_a_400(admin_api: Api, assignments: list[m.Assignment], payload: str) -> None:
    token = base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")
    answer = admin_api.get("assignments", **{"$skiptoken": token})
    assert answer.status == 400
    assert answer.error["message"] == "The $skiptoken is not valid; follow @odata.nextLink as given."


def test_offset_tokens_still_work(admin_api: Api, assignments: list[m.Assignment]) -> None:
    from governance.api.odata import encode_skiptoken

    answer = admin_api.get("assignments", **{"$skiptoken": encode_skiptoken(5)})
    assert answer.status == 200
    assert len(answer.body["value"]) == 2


def test_a_deep_page_reads_the_created_index_from_the_key_on(admin_api: Api, assignments: list[m.Assignment]) -> None:
    """`-created_at, id` runs two ways, so no row value orders it; the key's created_at bounds
    the index range (Index Cond), and only rows with that very created_at are filtered."""
    if connection.vendor != "postgresql":
        pytest.skip("reads PostgreSQL's plan")
    first = admin_api.get("assignments", **{"$top": "2"})
    link = urlsplit(first.body["@odata.nextLink"])
    with CaptureQueriesContext(connection) as captured:
        admin_api.call("GET", f"{link.path}?{link.query}")
    (page,) = [q["sql"] for q in captured if q["sql"].startswith('SELECT "governance_assignment"."id"')]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {page}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    conditions = [line for line in plan.splitlines() if "Index Cond:" in line and "created_at <=" in line]
    assert conditions, plan
