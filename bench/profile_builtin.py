#!/usr/bin/env python
"""Where the built-in connector's delivery time goes: seed N pending grants (as `bench/run.py
--only builtin`, optionally with the requests that made them), then run the worker's
delivery until idle in this process, logging as a production worker does (JSON lines, to
stderr: redirect it), and print the CPU time per grant; with --profile, under cProfile, the
top functions.

  python bench/profile_builtin.py --n 10000 [--requests] [--profile] 2>/dev/null
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import time

from harness import DEFAULT_DB, builtin_role, prepare_database, seed, setup_django


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--requests", action="store_true", help="each grant came with a delivering request")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--statements", action="store_true", help="wall time of each kind of statement")
    parser.add_argument("--log-format", default="json", choices=("json", "text"))
    args = parser.parse_args()
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB)
    os.environ["DATABASE_URL"] = url
    os.environ["LOG_FORMAT"] = args.log_format
    prepare_database(url)
    setup_django(url)

    from governance import models as m
    from governance.services import delivery

    target = builtin_role("builtin")
    seed(
        args.n,
        target.role,
        assignment_state=m.AssignmentState.DELIVERING,
        grant_state=m.GrantState.PENDING,
        request_state=m.RequestState.DELIVERING if args.requests else None,
    )
    spent = _time_statements() if args.statements else None
    profile = cProfile.Profile() if args.profile else None
    cpu, wall = time.process_time(), time.perf_counter()
    if profile is not None:
        profile.enable()
    handled = delivery.deliver_until_idle(max_seconds=3600).handled
    if profile is not None:
        profile.disable()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    assert handled == args.n, handled
    assert m.GroupMembership.objects.filter(group=target.group).count() == args.n
    print(
        f"{handled} grants: {wall:.2f} s wall, {cpu:.2f} s CPU in this process, "
        f"{cpu / handled * 1e6:.0f} us CPU per grant{' (profiled)' if profile else ''}"
    )
    if spent is not None:
        for what, (calls, seconds) in sorted(spent.items(), key=lambda item: -item[1][1]):
            print(f"{seconds * 1000:8.0f} ms {calls:5d}x  {what}")
    if profile is not None:
        stats = pstats.Stats(profile)
        stats.sort_stats("tottime").print_stats(args.top)
        stats.sort_stats("cumulative").print_stats(args.top)


def _time_statements() -> dict[str, list[float]]:
    """Wall time spent in each kind of statement (its first words; COPY by table; COMMIT)."""
    from collections import defaultdict

    from django.db import connection

    from governance.services import bulk_sql

    spent: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])

    def add(what: str, start: float) -> None:
        spent[what][0] += 1
        spent[what][1] += time.perf_counter() - start

    def wrapper(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            add(" ".join(sql.split())[:90], start)

    connection.ensure_connection()
    connection.execute_wrappers.append(wrapper)
    insert_rows = bulk_sql.insert_rows

    def timed_insert(model, *a, **k):  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        try:
            return insert_rows(model, *a, **k)
        finally:
            add(f"COPY {model.__name__}", start)

    for module in (bulk_sql, __import__("governance.services.delivery", fromlist=["x"])):
        module.insert_rows = timed_insert  # type: ignore[attr-defined]
    commit = connection.commit

    def timed_commit() -> None:
        start = time.perf_counter()
        try:
            commit()
        finally:
            add("COMMIT", start)

    connection.commit = timed_commit  # type: ignore[method-assign]
    return spent


if __name__ == "__main__":
    main()
