"""Issue 22's pages at scale: `make bench`'s group `explain` (results.json key `explain`).

  bench/run.py --only explain              against the scale data set (generated first)
  bench/run.py --scale small --only generate,explain

On the generated data set (1,000,000 assignments at full size), times the first page of

  - a person's page: the generated person with the most active assignments;
  - a resource's page: the generated resource with the most holders;
  - a resource's page with HOLDERS holders, and the page of a busy person with
    BUSY_ASSIGNMENTS assignments that all give that one resource (the worst case for "Justified
    by"). Both are loaded inside a transaction that is rolled back, so the data set stays as
    generated and the next run finds it unchanged;

as the generated global administrator: p50/p95 over the runs (Django's test client, in
process, warmed up), and the number of queries, with the target p95 < 50 ms and a query count
that does not grow with the rows (checked against the same page of a tiny resource and person).
"""

from __future__ import annotations

import html
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

HOLDERS = 10_000
BUSY_ASSIGNMENTS = 200
TARGET_MS = 50.0


class _RollBack(Exception):
    pass


@contextmanager
def _rolled_back() -> Iterator[None]:
    """Everything inside is undone afterwards. Django closes the connection at each request's
    start and end when it sits in a transaction; the test client's requests must not, so the
    signal handlers are off meanwhile (as Django's TestCase does)."""
    from django.core import signals
    from django.db import close_old_connections, transaction

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        with transaction.atomic():
            yield
            raise _RollBack
    except _RollBack:
        pass
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def _load_holders(n: int, busy: int) -> tuple[Any, Any]:
    """A resource held by ``n`` people (one assignment each) and a person with ``busy``
    assignments of different packages that all give it. Bulk inserts, then ANALYZE."""
    from django.db import connection
    from django.utils import timezone

    from governance import models as m
    from governance.connectors.builtin import builtin_connector

    tag = uuid.uuid4().hex[:6]
    now = timezone.now()
    catalog = m.Catalog.objects.create(display_name=f"Bench explain {tag}")
    group = m.DirectoryGroup.objects.create(display_name=f"Bench explain {tag}")
    resource = m.Resource.objects.create(
        catalog=catalog, connector=builtin_connector(), display_name=group.display_name, origin_id=str(group.pk)
    )
    role = m.ResourceRole.objects.create(resource=resource)
    packages = [m.AccessPackage(catalog=catalog, display_name=f"Bench explain {tag} {i:03d}") for i in range(busy + 1)]
    m.AccessPackage.objects.bulk_create(packages)
    m.PackageResourceRole.objects.bulk_create([m.PackageResourceRole(package=p, resource_role=role) for p in packages])
    policies = [
        m.AssignmentPolicy(package=p, display_name="Direct", allowed_target_scope=m.TargetScope.NO_ONE)
        for p in packages
    ]
    m.AssignmentPolicy.objects.bulk_create(policies)
    people = m.User.objects.bulk_create(
        [m.User(username=f"bx{tag}-{i}", display_name=f"Holder {i:05d}", password="!") for i in range(n)],
        batch_size=5000,
    )
    busy_person = m.User.objects.create(username=f"bx{tag}-busy", display_name="Busy Person", password="!")
    pairs = [(person, packages[0], policies[0]) for person in people]
    pairs += [(busy_person, packages[i], policies[i]) for i in range(1, busy + 1)]
    assignments = m.Assignment.objects.bulk_create(
        [
            m.Assignment(package=p, policy=pol, target=u, state=m.AssignmentState.DELIVERED, start_at=now)
            for u, p, pol in pairs
        ],
        batch_size=5000,
    )
    m.RoleGrant.objects.bulk_create(
        [
            m.RoleGrant(assignment=a, resource_role=role, subject_id=a.target_id, state=m.GrantState.GRANTED)
            for a in assignments
        ],
        batch_size=5000,
    )
    with connection.cursor() as cursor:
        for model in (m.User, m.Assignment, m.RoleGrant):
            cursor.execute(f'ANALYZE "{model._meta.db_table}"')
    return resource, busy_person


def _tiny() -> tuple[Any, Any]:
    """A resource and a person with one assignment each: the query count to compare with."""
    return _load_holders(1, 1)


def bench_explain(
    runs: int = 30, warmup: int = 3, holders: int = HOLDERS, busy: int = BUSY_ASSIGNMENTS
) -> dict[str, Any]:
    from django.db import connection
    from django.db.models import Count
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from bench.generate import ADMIN
    from bench.scale import timed
    from governance import models as m
    from governance.api import keyset
    from governance.views.listing import PER_PAGE
    from governance.views.people import holders_order

    admin = m.User.objects.get(username=ADMIN)
    client = Client()
    client.force_login(admin)
    active = m.AssignmentState.ACTIVE
    person_id = (
        m.Assignment.objects.filter(state__in=active)
        .values("target_id")
        .annotate(n=Count("pk"))
        .order_by("-n", "target_id")
        .values_list("target_id", flat=True)
        .first()
    )
    resource_id = (
        m.RoleGrant.objects.justifying_any()
        .values("resource_role__resource_id")
        .annotate(n=Count("pk"))
        .order_by("-n", "resource_role__resource_id")
        .values_list("resource_role__resource_id", flat=True)
        .first()
    )
    assert person_id is not None, "generate the data set first"
    assert resource_id is not None, "generate the data set first"

    def measure(
        label: str, url: str, few_rows_url: str | None = None, headers: dict[str, str] | None = None, **facts: Any
    ) -> dict[str, Any]:
        def call() -> None:
            response = client.get(url, headers=headers)
            assert response.status_code == 200, (url, response.status_code)

        figures = timed(call, runs, warmup)
        with CaptureQueriesContext(connection) as queries:
            call()
        out = {"label": label, "url": url, **facts, **figures, "queries": len(queries), "target_ms": TARGET_MS}
        if few_rows_url is not None:
            with CaptureQueriesContext(connection) as few:
                assert client.get(few_rows_url).status_code == 200
            out["queries_few_rows"] = len(few)
            out["constant_queries"] = len(few) == len(queries)
        return out

    results: dict[str, Any] = {}
    started = time.perf_counter()
    # A page DESIGN §8 already measures, timed in the same minute: how loaded the machine is.
    # Its table as the pager's htmx link loads it: the whole page also renders the filter's
    # selects of every package and policy (seconds at full size), which is not paging.
    results["assignments_list"] = measure(
        "for comparison: the assignments list's table, first page (htmx)",
        "/governance/assignments/",
        headers={"HX-Request": "true"},
    )
    with _rolled_back():
        tiny_resource, tiny_person = _tiny()
        holders_of = m.RoleGrant.objects.justifying_any
        results["person"] = measure(
            "person page, first page (generated person with the most assignments)",
            f"/governance/people/{person_id}/",
            f"/governance/people/{tiny_person.pk}/",
            assignments=m.Assignment.objects.filter(target_id=person_id, state__in=active).count(),
        )
        results["resource"] = measure(
            "resource page, first page (generated resource with the most holders)",
            f"/governance/resources/{resource_id}/",
            f"/governance/resources/{tiny_resource.pk}/",
            holders=holders_of(resource_role__resource_id=resource_id).count(),
        )
        resource, busy_person = _load_holders(holders, busy)
        results["resource_10000"] = measure(
            f"resource page with {holders:,} holders, first page",
            f"/governance/resources/{resource.pk}/",
            f"/governance/resources/{tiny_resource.pk}/",
            holders=holders_of(resource_role__resource=resource).count(),
        )
        results["busy_person"] = measure(
            f"person page, {busy} assignments giving one resource, first page",
            f"/governance/people/{busy_person.pk}/",
            f"/governance/people/{tiny_person.pk}/",
            assignments=busy,
        )
        # A deep page of the resource: keyset, so it should cost what the first does.
        first = client.get(f"/governance/resources/{resource.pk}/").content.decode()
        after = re.search(r'href="\?(after=[^"#]+)', first)
        if after:
            results["resource_10000_next"] = measure(
                f"resource page with {holders:,} holders, second page (keyset)",
                f"/governance/resources/{resource.pk}/?{html.unescape(after.group(1))}",
            )
        # The last page, as the Next link before it leads there.
        order = list(holders_order(list(resource.roles.values_list("pk", flat=True))))
        held = holders_of(resource_role__resource=resource).order_by(*order)
        before_last = held[max(holders - PER_PAGE, 1) - 1]
        results["resource_10000_last"] = measure(
            f"resource page with {holders:,} holders, last page (keyset)",
            f"/governance/resources/{resource.pk}/?after={keyset.encode(before_last, order)}",
        )
    results["seconds"] = round(time.perf_counter() - started, 1)
    return results


def explain_rows(r: dict[str, Any] | None) -> list[str]:
    """bench/run.py's table lines for this group."""
    rows: list[str] = []
    if not r:
        return rows
    keys = ("person", "busy_person", "resource", "resource_10000", "resource_10000_next", "resource_10000_last")
    for key in (*keys, "assignments_list"):
        page = r.get(key)
        if not page:
            continue
        constant = page.get("constant_queries")
        ok = page["p95_ms"] < page["target_ms"] and constant is not False
        few = f", {page['queries_few_rows']} with one row" if "queries_few_rows" in page else ""
        rows.append(
            f"| {page['label']} | p50 {page['p50_ms']} ms, p95 {page['p95_ms']} ms (CPU p50 {page['cpu_p50_ms']} ms); "
            f"{page['queries']} queries{few} | p95 < {page['target_ms']:.0f} ms, constant queries | — | — "
            f"| {'yes' if ok else '**NO**'} |"
        )
    return rows
