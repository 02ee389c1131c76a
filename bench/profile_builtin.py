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
    if profile is not None:
        stats = pstats.Stats(profile)
        stats.sort_stats("tottime").print_stats(args.top)
        stats.sort_stats("cumulative").print_stats(args.top)


if __name__ == "__main__":
    main()
