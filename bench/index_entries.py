#!/usr/bin/env python
"""Index entries PostgreSQL writes per grant delivered and per assignment expired (issue 19:
most of a delivery batch's time is spent writing index entries, not rows).

Counted exactly from the write-ahead log (pg_walinspect): every B-tree leaf insertion of
this database between two LSNs, attributed to its index by relfilenode. Runs in this
process against its own database (BENCH_DATABASE_URL + ``_entries``), without a worker,
and timed (in this process: no queue, no worker start; compare runs of two versions
interleaved on the same machine, not with bench/run.py's figures):

  built-in delivery  N pending grants through delivery.deliver_until_idle
  expiry             N due assignments through expire_due_assignments, then their revokes
                     delivered (the emails are counted as written, not sent)

  bench/index_entries.py --n 2000
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import time
from collections import Counter
from typing import Any

from django.db.utils import OperationalError
from harness import DEFAULT_DB, builtin_role, prepare_database, seed, seed_due_for_expiry, setup_django

# Leaf-level insertions; a split record carries the item whose insertion split the page.
LEAF_INSERTS = ("INSERT_LEAF", "INSERT_POST", "SPLIT_L", "SPLIT_R")
BLOCK = re.compile(r"rel (\d+)/(\d+)/(\d+)")


def lsn(cursor: Any) -> str:
    """Where the log is now, once flushed (the delivery commits asynchronously, and
    pg_walinspect reads only what is on disk)."""
    cursor.execute("SELECT pg_current_wal_insert_lsn()")
    now = str(cursor.fetchone()[0])
    cursor.execute("SELECT pg_current_wal_flush_lsn() >= %s::pg_lsn", [now])
    while not cursor.fetchone()[0]:
        time.sleep(0.05)
        cursor.execute("SELECT pg_current_wal_flush_lsn() >= %s::pg_lsn", [now])
    return now


def entries_between(cursor: Any, start: str, end: str) -> Counter[tuple[str, str]]:
    """(table, index) -> leaf insertions of this database's B-trees between the LSNs."""
    cursor.execute("SELECT oid FROM pg_database WHERE datname = current_database()")
    database = str(cursor.fetchone()[0])
    cursor.execute(
        "SELECT c.relfilenode, t.relname, c.relname FROM pg_class c"
        " JOIN pg_index i ON i.indexrelid = c.oid JOIN pg_class t ON t.oid = i.indrelid"
        " WHERE c.relfilenode <> 0"
    )
    names = {str(node): (table, index) for node, table, index in cursor.fetchall()}
    cursor.execute(
        "SELECT block_ref FROM pg_get_wal_records_info(%s, %s)"
        " WHERE resource_manager = 'Btree' AND record_type = ANY(%s)",
        [start, end, list(LEAF_INSERTS)],
    )
    counts: Counter[tuple[str, str]] = Counter()
    for (block_ref,) in cursor.fetchall():
        found = BLOCK.search(block_ref or "")
        if found and found.group(2) == database and found.group(3) in names:
            counts[names[found.group(3)]] += 1
    return counts


def report(title: str, cursor: Any, start: str, end: str, n: int, seconds: float) -> None:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\n{title}: {n:,} in {seconds:.2f} s (load {load})", flush=True)
    try:
        counts = entries_between(cursor, start, end)
    except OperationalError as error:  # a busy server may recycle the segments first
        print(f"  index entries not counted: {error}")
        return
    total = sum(counts.values())
    print(f"  {total:,} index entries = {total / n:.1f} each")
    by_table: Counter[str] = Counter()
    for (table, _), count in counts.items():
        by_table[table] += count
    for table, count in by_table.most_common():
        print(f"  {table:<36} {count / n:5.1f}")
        for (t, index), c in sorted(counts.items(), key=lambda kv: -kv[1]):
            if t == table:
                print(f"      {index:<52} {c / n:5.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--only", default="delivery,expiry", help="delivery, expiry or both")
    args = parser.parse_args()
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB) + "_entries"
    os.environ["DATABASE_URL"] = url
    prepare_database(url)
    setup_django(url)
    logging.disable(logging.INFO)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_walinspect")

    if "delivery" in args.only:
        measure_delivery(args.n)
    if "expiry" in args.only:
        measure_expiry(args.n)


def measure_delivery(n: int) -> None:
    from django.db import connection

    from governance import models as m
    from governance.services import delivery

    target = builtin_role("entries")
    seed(n, target.role, assignment_state=m.AssignmentState.DELIVERING, grant_state=m.GrantState.PENDING)
    with connection.cursor() as cursor:
        start, clock = lsn(cursor), time.perf_counter()
        delivery.deliver_until_idle(max_seconds=3600, share=lambda: None)
        seconds = time.perf_counter() - clock
        end = lsn(cursor)
        assert m.GroupMembership.objects.filter(group=target.group).count() == n
        report("built-in delivery, per grant", cursor, start, end, n, seconds)


def measure_expiry(n: int) -> None:
    from django.db import connection

    from governance import models as m
    from governance.services import delivery
    from governance.services.assignments import expire_due_assignments

    target = builtin_role("entries-expiry")
    seed_due_for_expiry(n, target)
    with connection.cursor() as cursor:
        start, clock = lsn(cursor), time.perf_counter()
        expire_due_assignments()
        delivery.deliver_until_idle(max_seconds=3600, share=lambda: None)
        seconds = time.perf_counter() - clock
        end = lsn(cursor)
        assert not m.GroupMembership.objects.filter(group=target.group).exists()
        report("expiry, per assignment (revoke delivered)", cursor, start, end, n, seconds)


if __name__ == "__main__":
    main()
