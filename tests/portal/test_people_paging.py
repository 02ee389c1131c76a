"""Issue 22: the person page's resource roles and the resource page's holders page by key
(keyset), not by offset: every row once across the pages, the same number of queries on
every page, and a page of one role read with a bounded number of justifications."""

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
from governance.views.people import JUSTIFICATIONS, PERSON_PER_PAGE
from tests import factories as f

pytestmark = pytest.mark.django_db

NEXT = re.compile(r'<a href="\?([^"#]*)(?:#[a-z]+)?">Next</a>')


def _get(client: Any, url: str) -> tuple[str, int]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, url
    return response.content.decode(), len(queries)


def _walk(client: Any, url: str, found: re.Pattern[str]) -> tuple[list[str], list[int]]:
    """Follow the Next links from the first page: every row found, and each page's query count."""
    rows: list[str] = []
    counts: list[int] = []
    query = ""
    for _ in range(10):
        body, count = _get(client, f"{url}?{query}" if query else url)
        rows += found.findall(body)
        counts.append(count)
        more = NEXT.search(body)
        if more is None:
            return rows, counts
        query = html.unescape(more.group(1))
    raise AssertionError("more pages than there are rows")


def test_a_resource_with_more_holders_than_a_page(client, admin, catalog):
    role = f.ResourceRoleFactory(resource__catalog=catalog)
    package = f.AccessPackageFactory(catalog=catalog)
    policy = f.PolicyFactory(package=package)
    people = f.UserFactory.create_batch(PER_PAGE + 7)  # the resource page pages by 50
    for person in people:
        f.RoleGrantFactory(assignment=f.AssignmentFactory(policy=policy, target=person), resource_role=role)
    ended = f.AssignmentFactory(policy=policy, state=m.AssignmentState.REMOVED)
    f.RoleGrantFactory(assignment=ended, resource_role=role, state=m.GrantState.REVOKED)
    client.force_login(admin)
    links = re.compile(r'href="/governance/people/([0-9a-f-]{36})/"')
    seen, counts = _walk(client, f"/governance/resources/{role.resource_id}/", links)
    assert sorted(seen) == sorted(str(p.pk) for p in people)  # each once, the revoked one not at all
    assert len(counts) == 2
    assert counts[0] == counts[1]


def test_a_person_with_more_roles_than_a_page(client, admin, catalog):
    person = f.UserFactory(display_name="Many Roles")
    package = f.AccessPackageFactory(catalog=catalog)
    assignment = f.AssignmentFactory(policy=f.PolicyFactory(package=package), target=person)
    roles = [
        f.ResourceRoleFactory(resource__catalog=catalog, resource__display_name=f"Group {n:03d}")
        for n in range(PERSON_PER_PAGE + 3)
    ]
    for role in roles:
        f.RoleGrantFactory(assignment=assignment, resource_role=role)
    client.force_login(admin)
    links = re.compile(r'href="/governance/resources/([0-9a-f-]{36})/"')
    seen, counts = _walk(client, f"/governance/people/{person.pk}/", links)
    assert seen == [str(r.resource_id) for r in roles]  # in name order, each once
    assert len(counts) == 2
    assert counts[0] == counts[1]


def test_a_role_given_by_many_assignments_reads_only_the_first(client, admin, catalog, django_assert_max_num_queries):
    person = f.UserFactory(display_name="Busy")
    role = f.ResourceRoleFactory(resource__catalog=catalog, resource__display_name="Builders")
    for n in range(JUSTIFICATIONS + 5):
        package = f.AccessPackageFactory(catalog=catalog, display_name=f"Package {n:02d}")
        assignment = f.AssignmentFactory(policy=f.PolicyFactory(package=package), target=person)
        f.RoleGrantFactory(assignment=assignment, resource_role=role)
    client.force_login(admin)
    body, _ = _get(client, f"/governance/people/{person.pk}/")
    held = body[body.index('id="held"') : body.index('id="requests-title"')]
    assert held.count("Package ") == JUSTIFICATIONS
    assert "Package 00" in held
    assert f"Package {JUSTIFICATIONS - 1:02d}" in held
    assert "and 5 more" in held


def test_a_token_that_does_not_fit_is_the_first_page(client, admin, catalog):
    role = f.ResourceRoleFactory(resource__catalog=catalog)
    f.RoleGrantFactory(resource_role=role, assignment__package__catalog=catalog)
    client.force_login(admin)
    first, _ = _get(client, f"/governance/resources/{role.resource_id}/")
    for token in ("garbage", "azpbIm5vIl0", "", "%%%"):
        again, _ = _get(client, f"/governance/resources/{role.resource_id}/?after={token}")
        assert again.count("/governance/people/") == first.count("/governance/people/") == 1


def test_the_holders_index_covers_what_justifies():
    """The partial index grant_role_holders serves RoleGrant.objects.justifying_any only while
    its condition is exactly the wanted states."""
    index = next(i for i in m.RoleGrant._meta.indexes if i.name == "grant_role_holders")
    assert index.condition is not None
    assert dict(index.condition.children)["state__in"] == sorted(m.GrantState.WANTED)


def _plan(sql: str) -> str:
    """PostgreSQL's plan of ``sql`` when it may use an index (a test's few rows would
    otherwise be read by a scan of the table, which says nothing about a million)."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("RESET enable_seqscan")
    return plan


def test_a_deep_page_of_holders_is_one_range_of_the_holders_index(client, admin, catalog):
    """The key of the page before is an Index Cond of grant_role_holders, not a Filter over
    every holder before it: the last page of 10,000 holders reads what the first does."""
    if connection.vendor != "postgresql":
        pytest.skip("reads PostgreSQL's plan")
    role = f.ResourceRoleFactory(resource__catalog=catalog)
    policy = f.PolicyFactory(package=f.AccessPackageFactory(catalog=catalog))
    for person in f.UserFactory.create_batch(PER_PAGE + 1):
        f.RoleGrantFactory(assignment=f.AssignmentFactory(policy=policy, target=person), resource_role=role)
    client.force_login(admin)
    url = f"/governance/resources/{role.resource_id}/"
    more = NEXT.search(_get(client, url)[0])
    assert more is not None
    with CaptureQueriesContext(connection) as queries:
        client.get(f"{url}?{html.unescape(more.group(1))}")
    (page,) = [q["sql"] for q in queries if q["sql"].startswith('SELECT "governance_rolegrant"."id"')]
    plan = _plan(page)
    scan = plan[plan.index("grant_role_holders") :]
    condition = scan[scan.index("Index Cond:") :].splitlines()[0]
    # The role's equality, then the key's row value from the person on: where the scan starts.
    assert "resource_role_id = " in condition, plan
    assert "ROW(subject_id, id) > ROW(" in condition, plan


def test_a_resource_with_two_roles_pages_through_both(client, admin, catalog):
    """With more than one role the key leads with the role: every holder of each role once."""
    first = f.ResourceRoleFactory(resource__catalog=catalog, display_name="Readers")
    second = f.ResourceRoleFactory(resource=first.resource, display_name="Writers", origin_id="writers")
    policy = f.PolicyFactory(package=f.AccessPackageFactory(catalog=catalog))
    people = f.UserFactory.create_batch(PER_PAGE // 2 + 5)
    for person in people:
        assignment = f.AssignmentFactory(policy=policy, target=person)
        f.RoleGrantFactory(assignment=assignment, resource_role=first)
        f.RoleGrantFactory(assignment=assignment, resource_role=second)
    client.force_login(admin)
    links = re.compile(r'href="/governance/people/([0-9a-f-]{36})/"')
    seen, counts = _walk(client, f"/governance/resources/{first.resource_id}/", links)
    assert sorted(seen) == sorted(str(p.pk) for p in people for _ in (first, second))
    assert len(counts) == 2
    assert counts[0] == counts[1]


def test_a_person_with_more_assignments_than_a_page(client, admin, catalog):
    """The assignments page by ids first (listing._rows): the same rows in the same order as
    the plain query, each once, Previous back to the same first page, the same queries."""
    person = f.UserFactory(display_name="Many Assignments")
    start = timezone.now() - timedelta(days=1)
    assignments = []
    for n in range(PERSON_PER_PAGE + 5):
        assignment = f.AssignmentFactory(policy=f.PolicyFactory(package__catalog=catalog), target=person)
        m.Assignment.objects.filter(pk=assignment.pk).update(created_at=start + timedelta(minutes=n // 2))
        assignments.append(assignment)
    newest_first = list(
        m.Assignment.objects.filter(target=person).order_by("-created_at", "-pk").values_list("pk", flat=True)
    )
    client.force_login(admin)
    shown = re.compile(r'href="/governance/assignments/([0-9a-f-]{36})/"')
    pager = re.compile(r'<a href="\?([^"]*)" hx-get="[^"]*"[^>]*>(Next|Previous)</a>')
    url = f"/governance/people/{person.pk}/"

    def page(query: str = "") -> tuple[list[str], dict[str, str], int]:
        body, count = _get(client, f"{url}?{query}" if query else url)
        part = body[body.index('id="assignments"') :]
        return shown.findall(part), {label: html.unescape(q) for q, label in pager.findall(part)}, count

    first, links, first_count = page()
    second, back_links, second_count = page(links["Next"])
    assert first + second == [str(pk) for pk in newest_first]
    assert "Next" not in back_links
    again, _, _ = page(back_links["Previous"])
    assert again == first
    assert first_count == second_count
