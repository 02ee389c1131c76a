#!/usr/bin/env python
"""DESIGN §8: "Bulk reprocess of 10,000 requests: the click returns in < 1 s; the work is queued."

Seeds n Delivery failed requests (bulk inserts), starts one real worker, and clicks
"Reprocess all matching" as an administrator through Django's test client: the click's
wall time and query count, then the time until every request is reprocessed and delivered
by the built-in connector.

  python bench/reprocess.py --n 10000      (a fresh database, like `make bench`)

bench/run.py calls :func:`bench_bulk_reprocess` after django.setup() with REDIS_URL set.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CLICK_URL = "/governance/requests/reprocess-all/"
FILTER = {"status": "attention"}


def seed_failed_requests(n: int) -> tuple[Any, Any, Any]:
    """An administrator, and n people whose direct assignment to one package failed to
    deliver (its one grant Failed, the request Delivery failed, completed just now). The
    group exists again: the outage is over, reprocessing will succeed."""
    from django.db import connection
    from django.utils import timezone

    from bench.run import chunks
    from governance import models as m
    from governance.connectors.builtin import builtin_connector

    now = timezone.now()
    tag = uuid.uuid4().hex[:6]
    admin = m.User.objects.create(username=f"bench-admin-{tag}", password="!")
    m.DirectoryRoleAssignment.objects.create(user=admin, role=m.GlobalRole.GLOBAL_ADMIN)
    catalog = m.Catalog.objects.create(display_name=f"Bench reprocess {tag}")
    group = m.DirectoryGroup.objects.create(display_name=f"Bench outage {tag}")
    resource = m.Resource.objects.create(
        catalog=catalog, connector=builtin_connector(), display_name=group.display_name, origin_id=str(group.pk)
    )
    role = m.ResourceRole.objects.create(resource=resource)
    package = m.AccessPackage.objects.create(catalog=catalog, display_name=f"Bench outage {tag}")
    m.PackageResourceRole.objects.create(package=package, resource_role=role)
    policy = m.AssignmentPolicy.objects.create(
        package=package, display_name="Direct", allowed_target_scope="notSpecified"
    )
    users = [m.User(username=f"r{tag}-{i}", email=f"r{tag}-{i}@bench.example", password="!") for i in range(n)]
    for part in chunks(users):
        m.User.objects.bulk_create(part)
    assignments = [
        m.Assignment(package=package, policy=policy, target=u, state=m.AssignmentState.DELIVERY_FAILED, start_at=now)
        for u in users
    ]
    for part in chunks(assignments):
        m.Assignment.objects.bulk_create(part)
    grants = [
        m.RoleGrant(
            assignment=a,
            resource_role=role,
            subject_id=a.target_id,
            state=m.GrantState.FAILED,
            attempts=1,
            last_error="Group not found (outage)",
            next_attempt_at=now,
        )
        for a in assignments
    ]
    for part in chunks(grants):
        m.RoleGrant.objects.bulk_create(part)
    requests = [
        m.AssignmentRequest(
            request_type=m.RequestType.ADMIN_ADD,
            state=m.RequestState.DELIVERY_FAILED,
            package=package,
            policy=policy,
            assignment=a,
            target_id=a.target_id,
            requestor=admin,
            completed_at=now,
        )
        for a in assignments
    ]
    for part in chunks(requests):
        m.AssignmentRequest.objects.bulk_create(part)
    # What autovacuum does soon after a bulk load; without statistics the planner takes the
    # fresh tables for tiny ones and picks plans that cost ~1 s a batch instead of ~40 ms.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for model in (m.User, m.Assignment, m.RoleGrant, m.AssignmentRequest):
                cursor.execute(f'ANALYZE "{model._meta.db_table}"')
    return admin, package, group


def bench_bulk_reprocess(n: int) -> dict[str, Any]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from bench.run import OneWorker, wait_until
    from governance import models as m

    start = time.perf_counter()
    admin, package, group = seed_failed_requests(n)
    seed_seconds = time.perf_counter() - start

    client = Client()
    client.force_login(admin)
    with OneWorker():
        # The confirmation step (GET): the count the administrator sees before clicking.
        start = time.perf_counter()
        confirm = client.get(CLICK_URL, FILTER)
        confirm_seconds = time.perf_counter() - start
        assert confirm.status_code == 200, confirm.status_code
        assert f"Reprocess all {n:,} matching" in confirm.content.decode(), "the confirmation does not show n"

        with CaptureQueriesContext(connection) as queries:
            start = time.perf_counter()
            response = client.post(f"{CLICK_URL}?status=attention")
            click_seconds = time.perf_counter() - start
        assert response.status_code == 302, response.status_code
        operation = m.BulkReprocess.objects.get(pk=response.url.rstrip("/").rsplit("/", 1)[1])
        assert operation.matched >= n, operation.matched

        # Both from the click: every request reprocessed (the operation done), every one delivered.
        mine = m.AssignmentRequest.objects.filter(package=package)
        wait_until(lambda: m.BulkReprocess.objects.filter(pk=operation.pk, state=m.BulkReprocessState.DONE).exists())
        reprocessed_seconds = time.perf_counter() - start
        wait_until(lambda: not mine.exclude(state=m.RequestState.DELIVERED).exists())
        done_seconds = time.perf_counter() - start
    members = m.GroupMembership.objects.filter(group=group).count()
    assert members == n, f"{members} of {n} delivered"
    operation.refresh_from_db()
    assert operation.queued == n, f"{operation.queued} of {n} reprocessed"
    assert operation.skipped == 0, operation.skipped_reasons
    return {
        "requests": n,
        "seed_seconds": round(seed_seconds, 2),
        "confirm_seconds": round(confirm_seconds, 3),
        "click_seconds": round(click_seconds, 3),
        "query_count_of_click": len(queries.captured_queries),
        "all_reprocessed_seconds": round(reprocessed_seconds, 2),
        "done_seconds": round(done_seconds, 2),
        "target_click_seconds": 1.0,
    }


def main() -> None:
    from bench.run import DEFAULT_DB, RESULTS, prepare_database, setup_django

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000, help="failed requests to reprocess (default 10,000)")
    parser.add_argument("--write", action="store_true", help="also record the figure in bench/results.json")
    args = parser.parse_args()

    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB)
    os.environ["DATABASE_URL"] = url
    prepare_database(url)
    setup_django(url)
    result = bench_bulk_reprocess(args.n)
    print(json.dumps(result, indent=2))
    if args.write:
        results: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        results["bulk_reprocess"] = result
        RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
