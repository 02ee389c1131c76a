#!/usr/bin/env python
"""Where an expiry's time goes: seed N due assignments (as `bench/run.py --only expiry`), then
run, in this process and under cProfile, the beat job (expire_due_assignments) and the worker's
delivery until idle, and print the top functions of each.

  python bench/profile_expiry.py --n 20000 [--review]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import time

from harness import DEFAULT_DB, builtin_role, prepare_database, seed_due_for_expiry, setup_django


def profiled(label: str, call, top: int) -> None:  # type: ignore[no-untyped-def]
    profile = cProfile.Profile()
    start = time.perf_counter()
    profile.enable()
    result = call()
    profile.disable()
    print(f"\n=== {label}: {time.perf_counter() - start:.1f} s (result {result})")
    pstats.Stats(profile).sort_stats("cumulative").print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--top", type=int, default=45)
    args = parser.parse_args()
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB)
    os.environ["DATABASE_URL"] = url
    prepare_database(url)
    setup_django(url)

    from governance.services import assignments, delivery, outbox

    seed_due_for_expiry(args.n, builtin_role("expiry"))
    profiled("expire_due_assignments", assignments.expire_due_assignments, args.top)
    profiled("deliver_until_idle", lambda: delivery.deliver_until_idle(max_seconds=3600).handled, args.top)
    profiled("send_due", lambda: outbox.send_due(max_seconds=3600), args.top)


if __name__ == "__main__":
    main()
