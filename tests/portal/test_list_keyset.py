"""DESIGN §8, issue 19: the admin portal's lists page by key. Next and Previous carry the key of
the page's last (first) row, so page 10,000 of a million assignments is an index range like
the first; the pager still says which rows it shows. Orders keyset paging cannot follow (a
column that may be empty) page by number as before."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from governance import models as m
from governance.views.listing import PER_PAGE
from tests import factories as f

pytestmark = pytest.mark.django_db

NEXT = re.compile(r'<a href="\?([^"]*)"[^>]*>Next</a>')
PREVIOUS = re.compile(r'<a href="\?([^"]*)"[^>]*>Previous</a>')
ASSIGNMENT = re.compile(r'href="/governance/assignments/([0-9a-f-]{36})/"')
REQUEST = re.compile(r'href="/governance/requests/([0-9a-f-]{36})/"')
ROWS = 2 * PER_PAGE + 7
DASH = "\N{EN DASH}"  # between the first and last row numbers of the pager


@pytest.fixture
def assignments(catalog: m.Catalog) -> list[m.Assignment]:
    """ROWS delivered assignments of one package; a few share a created_at, so the primary
    key has to break the tie; one has no end (sorting by End cannot follow a key)."""
    policy = f.PolicyFactory(package__catalog=catalog)
    people = m.User.objects.bulk_create(
        [m.User(username=f"keyset{n:03d}", display_name=f"Person {n % 40:03d}", password="!") for n in range(ROWS)]
    )
    now = timezone.now()
    made = m.Assignment.objects.bulk_create(
        [
            m.Assignment(
                package=policy.package,
                policy=policy,
                target=person,
                state=m.AssignmentState.DELIVERED,
                start_at=now,
                end_at=None if n == 3 else now + timedelta(days=n),
                created_at=now - timedelta(minutes=n // 3),
            )
            for n, person in enumerate(people)
        ]
    )
    return made


def _get(client: Any, url: str) -> tuple[str, list[str]]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, url
    return response.content.decode(), [q["sql"] for q in queries]


def _walk(client: Any, path: str, query: str, rows: re.Pattern[str]) -> tuple[list[str], list[str], list[list[str]]]:
    """Follow Next from the page ``query`` asks for: the rows seen, each page's body, and each
    page's SQL."""
    seen: list[str] = []
    bodies: list[str] = []
    sqls: list[list[str]] = []
    for _ in range(10):
        body, sql = _get(client, f"{path}?{query}")
        seen += rows.findall(body)
        bodies.append(body)
        sqls.append(sql)
        more = NEXT.search(body)
        if more is None:
            return seen, bodies, sqls
        query = html.unescape(more.group(1))
    raise AssertionError("more pages than there are rows")


def _expected(queryset: Any, *order: str) -> list[str]:
    return [str(pk) for pk in queryset.order_by(*order).values_list("pk", flat=True)]


def test_next_walks_every_assignment_once_by_key_with_the_same_queries(client, admin, assignments):
    client.force_login(admin)
    seen, bodies, sqls = _walk(client, "/governance/assignments/", "status=delivered", ASSIGNMENT)
    assert seen == _expected(m.Assignment.objects.all(), "-created_at", "-pk")
    assert len(bodies) == 3
    assert f"Rows 1{DASH}50" in bodies[0]
    assert f"Rows 51{DASH}100" in bodies[1]
    assert f"Rows 101{DASH}{ROWS}" in bodies[2]
    assert len({len(sql) for sql in sqls}) == 1  # the same number of queries on every page
    for sql in sqls[1:]:  # pages after the first: a range from the key, no offset
        (page,) = [q for q in sql if q.startswith('SELECT "governance_assignment"."id"') and "LIMIT" in q]
        assert "OFFSET" not in page


def test_previous_goes_back_by_key_to_the_same_rows(client, admin, assignments):
    client.force_login(admin)
    _, bodies, _ = _walk(client, "/governance/assignments/", "status=delivered", ASSIGNMENT)
    back = PREVIOUS.search(bodies[2])
    assert back is not None
    assert "before=" in back.group(1)
    body, _ = _get(client, f"/governance/assignments/?{html.unescape(back.group(1))}")
    assert ASSIGNMENT.findall(body) == ASSIGNMENT.findall(bodies[1])
    assert f"Rows 51{DASH}100" in body
    first = PREVIOUS.search(body)
    assert first is not None
    assert "before=" not in first.group(1)  # the first page is the plain first page
    body, _ = _get(client, f"/governance/assignments/?{html.unescape(first.group(1))}")
    assert ASSIGNMENT.findall(body) == ASSIGNMENT.findall(bodies[0])
    assert PREVIOUS.search(body) is None


def test_sorted_by_a_related_column_the_key_follows_the_name(client, admin, assignments):
    """Person sorts by the person's name (many share one: the primary key breaks the ties)."""
    client.force_login(admin)
    seen, bodies, _ = _walk(client, "/governance/assignments/", "status=delivered&sort=-person", ASSIGNMENT)
    assert seen == _expected(m.Assignment.objects.all(), "-target__display_name", "-pk")
    assert "after=" in NEXT.search(bodies[0]).group(1)  # type: ignore[union-attr]


def test_sorted_by_a_column_that_may_be_empty_it_pages_by_number(client, admin, assignments):
    client.force_login(admin)
    seen, bodies, _ = _walk(client, "/governance/assignments/", "status=delivered&sort=end", ASSIGNMENT)
    assert sorted(seen) == sorted(str(a.pk) for a in assignments)
    assert len(seen) == ROWS
    link = NEXT.search(bodies[0])
    assert link is not None
    assert "after=" not in link.group(1)
    assert "page=2" in link.group(1)


def test_changing_the_sort_starts_again_from_the_first_page(client, admin, assignments):
    client.force_login(admin)
    _, bodies, _ = _walk(client, "/governance/assignments/", "status=delivered", ASSIGNMENT)
    header = re.search(r'<a href="\?([^"]*)"[^>]*>Person<span', bodies[1])
    assert header is not None
    query = html.unescape(header.group(1))
    assert "after=" not in query
    assert "page=" not in query


@pytest.mark.parametrize("token", ["garbage", "azpbIm5vIl0", "%%%", "azpbIjIwMjYtMDEtMDEiLCJ4Il0"])
def test_a_token_that_does_not_fit_is_the_numbered_page(client, admin, assignments, token):
    client.force_login(admin)
    first, _ = _get(client, "/governance/assignments/?status=delivered")
    for param in ("after", "before"):
        body, _ = _get(client, f"/governance/assignments/?status=delivered&{param}={token}")
        assert ASSIGNMENT.findall(body) == ASSIGNMENT.findall(first)


def test_the_requests_list_pages_by_key_too(client, admin, catalog):
    policy = f.PolicyFactory(package__catalog=catalog)
    people = m.User.objects.bulk_create(
        [m.User(username=f"asker{n:03d}", display_name=f"Asker {n:03d}", password="!") for n in range(PER_PAGE + 5)]
    )
    m.AssignmentRequest.objects.bulk_create(
        [
            m.AssignmentRequest(
                package=policy.package,
                policy=policy,
                target=person,
                requestor=person,
                request_type=m.RequestType.USER_ADD,
                state=m.RequestState.DELIVERED,
            )
            for person in people
        ]
    )
    client.force_login(admin)
    seen, bodies, _ = _walk(client, "/governance/requests/", "status=delivered&sort=person", REQUEST)
    assert seen == _expected(m.AssignmentRequest.objects.all(), "target__display_name", "pk")
    assert len(bodies) == 2
    assert "after=" in NEXT.search(bodies[0]).group(1)  # type: ignore[union-attr]
