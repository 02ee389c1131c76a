#!/usr/bin/env python
"""DESIGN §8 / issue 17: "an instance over 100,000 assignments starts in < 30 s and applies in
< 60 s".

Seeds n delivered assignments of one policy (bench/harness.py's bulk inserts) whose people
report to 100 managers, turns on a manager review due now, and times, in this process:

  start   reviews.start_due_instances(): one instance row, n decision rows (bulk), emails to
          the managers through the outbox
  apply   half the people denied by their managers (one bulk UPDATE standing in for the
          clicks), the instance ended, reviews.apply_instance(): n/2 systemRemove requests,
          assignments removed, grants queued for revocation (the worker's revocation itself
          is the expiry figure's, not this one)
  again   apply_instance() a second time: a no-op

Beside each, a raw baseline in the same run: a bare INSERT … SELECT of n decision-like rows.

  python bench/reviews.py --n 100000            (a fresh database, like `make bench`)
  python bench/reviews.py --n 10000 --write     (smaller; also record in bench/results.json)
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import timedelta
from typing import Any

from harness import DEFAULT_DB, RESULTS, builtin_role, chunks, prepare_database, seed, setup_django

MANAGERS = 100


def bench_reviews(n: int) -> dict[str, Any]:
    from django.db import connection
    from django.utils import timezone

    from governance import models as m
    from governance.services import reviews

    target = builtin_role("reviews")
    seeded = seed(
        n,
        target.role,
        assignment_state=m.AssignmentState.DELIVERED,
        grant_state=m.GrantState.GRANTED,
        request_state=m.RequestState.DELIVERED,
    )
    managers = [m.User(username=f"mgr-{i}", email=f"mgr-{i}@bench.example", password="!") for i in range(MANAGERS)]
    m.User.objects.bulk_create(managers)
    for index, part in enumerate(chunks(seeded.users, max(1, n // MANAGERS))):
        m.User.objects.filter(pk__in=[u.pk for u in part]).update(
            manager=managers[index % MANAGERS], last_login=timezone.now()
        )
    policy = m.AssignmentPolicy.objects.get(package=seeded.package)
    reviews.save_settings(
        policy,
        reviews.ReviewSpec(
            enabled=True,
            start_at=timezone.now() - timedelta(minutes=1),
            reviewers=[("manager", None, False)],
            justification_required=False,
        ),
        None,
    )

    start = time.perf_counter()
    assert reviews.start_due_instances() == 1
    start_seconds = time.perf_counter() - start
    instance = m.AccessReviewInstance.objects.get(policy=policy)
    assert instance.decisions.count() == n
    emails = m.OutboundEmail.objects.filter(kind="review_started").count()

    # Raw baseline: the same number of rows written by one INSERT … SELECT.
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE bench_raw_decisions (id uuid, assignment_id uuid, target_id uuid)")
        raw = time.perf_counter()
        cursor.execute(
            "INSERT INTO bench_raw_decisions SELECT gen_random_uuid(), id, target_id FROM governance_assignment"
            " WHERE policy_id = %s AND state = 'delivered'",
            [policy.pk],
        )
        raw_seconds = time.perf_counter() - raw
        cursor.execute("DROP TABLE bench_raw_decisions")

    denied = list(instance.decisions.order_by("pk").values_list("pk", flat=True)[: n // 2])
    for part in chunks(denied):
        m.AccessReviewDecision.objects.filter(pk__in=part).update(
            decision=m.ReviewDecision.DENY, reviewed_at=timezone.now(), reviewed_by_label="bench"
        )
    reviews.end_instance(None, instance.pk)
    start = time.perf_counter()
    report = reviews.apply_instance(None, instance.pk)
    apply_seconds = time.perf_counter() - start
    assert report.removed == n // 2, report
    start = time.perf_counter()
    again = reviews.apply_instance(None, instance.pk)
    again_seconds = time.perf_counter() - start
    assert again.already_applied
    removed = m.Assignment.objects.filter(policy=policy, state=m.AssignmentState.REMOVED).count()
    assert removed == n // 2, removed
    return {
        "assignments": n,
        "start_seconds": round(start_seconds, 2),
        "reviewer_emails": emails,
        "raw_insert_select_seconds": round(raw_seconds, 2),
        "apply_seconds": round(apply_seconds, 2),
        "removed": report.removed,
        "apply_again_seconds": round(again_seconds, 3),
        "target_start_seconds": 30,
        "target_apply_seconds": 60,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000, help="assignments under review (default 100,000)")
    parser.add_argument("--write", action="store_true", help="also record the figure in bench/results.json")
    args = parser.parse_args()

    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB.replace("portcullis_bench", "portcullis_bench_reviews"))
    os.environ["DATABASE_URL"] = url
    prepare_database(url)
    setup_django(url)
    result = bench_reviews(args.n)
    print(json.dumps(result, indent=2))
    if args.write:
        results: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        results["access_reviews"] = result
        RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
