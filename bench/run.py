#!/usr/bin/env python
"""`make bench`: every figure of DESIGN §8, beside its target and (where there is one) a raw
baseline measured in the same run. Prints ONE table and writes bench/results.json.

  data set      200 catalogs, 20,000 packages, 100,000 people, 1,000,000 assignments,
                2,000,000 requests, loaded by bench/generate.py (kept between runs)
  pages         p50/p95 and query counts of the list pages, the request detail, My Access
                and the API, against a bare SQL query returning the same page
  deep_pages    the API's first page vs a deep one and the last (keyset $skiptoken), and the deep
                one by offset for comparison
  csv           download of every assignment through gunicorn: time and peak RSS
  explain       a person's page and a resource's page with 10,000 holders, first page (bench/explain.py)
  builtin       grants/s through the built-in connector   (target >= 5,000 with one worker)
  ldap          our LDAP connector vs a bare ldap3 loop    (target: within 1x)
  expiry        expiry of N due assignments, revoked       (target < 30 s for 100,000)
  reprocess     bulk reprocess of 10,000 requests: the click returns in < 1 s (bench/reprocess.py)
  latency       time to access under a steady load through gunicorn (bench/latency.py): 20 req/s
                for 300 s, auto-approved then one-stage approval (small: 5 req/s for 20 s)
  reviews       an access review over 100,000 assignments: start < 30 s, apply < 60 s (bench/reviews.py)
  myaccess_200k My Access "Request access" with 200,000 policies (bench/myaccess.py, its own
                data set in BENCH_MYACCESS_DATABASE_URL): p50/p95 and queries  (target < 100 ms)
  two_workers   one worker vs two against a webhook answering in 20 ms, and LDAP (bench/two_workers.py)

Databases: BENCH_SCALE_DATABASE_URL (default `portcullis_scale`, or `portcullis_scale_small`
with --scale small) holds the generated data; BENCH_DATABASE_URL (default a fresh
`portcullis_bench`) the delivery runs. Needs Redis (REDIS_URL) and slapd.

  bench/run.py                       everything, full size
  bench/run.py --scale small         a quick smoke run with 1/100 of the data
  bench/run.py --only pages,csv      some of it (the others keep their last results)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from pathlib import Path
from typing import Any

from explain import explain_rows
from harness import (
    DEFAULT_DB,
    RESULTS,
    ROOT,
    OneWorker,
    builtin_role,
    chunks,
    prepare_database,
    seed,
    seed_due_for_expiry,
    setup_django,
    wait_until,
)
from latency import bench_latency
from reprocess import bench_bulk_reprocess
from reviews import bench_reviews
from two_workers import bench_two_workers

SCALE_DB = {
    "full": "postgres://postgres@127.0.0.1:5432/portcullis_scale",
    "small": "postgres://postgres@127.0.0.1:5432/portcullis_scale_small",
}
SCALE_GROUPS = ("generate", "pages", "deep_pages", "csv", "explain")
DELIVERY_GROUPS = ("builtin", "ldap", "expiry", "reprocess", "latency", "reviews", "two_workers")
OWN_DATA_GROUPS = ("myaccess_200k",)  # a child with its own data set (bench/myaccess.py)
ALL_GROUPS = SCALE_GROUPS + DELIVERY_GROUPS + OWN_DATA_GROUPS
# bench/results.json's key for each part (issue 19 names them).
RESULT_KEYS = {
    "builtin": "builtin",
    "ldap": "ldap",
    "expiry": "expiry",
    "reprocess": "bulk_reprocess",
    "latency": "latency",
    "two_workers": "two_workers",
    "reviews": "reviews",
}


def bench_builtin(n: int) -> dict[str, Any]:
    from django.conf import settings

    from governance import models as m
    from governance import tasks

    target = builtin_role("builtin")
    role, group = target.role, target.group
    users = seed(n, role, assignment_state=m.AssignmentState.DELIVERING, grant_state=m.GrantState.PENDING).users
    with OneWorker():
        start = time.perf_counter()
        tasks.deliver.delay()
        wait_until(lambda: not m.RoleGrant.objects.filter(resource_role=role, state="pending").exists())
        elapsed = time.perf_counter() - start
    granted = m.GroupMembership.objects.filter(group=group).count()
    assert granted == n, f"{granted} of {n} granted"
    raw = bare_membership_inserts(users, settings.DELIVERY_BATCH_SIZE)
    return {
        "grants": n,
        "seconds": round(elapsed, 2),
        "grants_per_second": round(n / elapsed),
        "target": 5000,
        "batch_size": settings.DELIVERY_BATCH_SIZE,
        "raw_insert_seconds": round(raw, 2),
        "raw_inserts_per_second": round(n / raw),
        "ratio": round(elapsed / raw, 1),
    }


def bare_membership_inserts(users: list[Any], batch: int) -> float:
    """The baseline: the same memberships (into a group of their own) by bare INSERTs, one
    statement and one commit per batch of the engine's size: the least any delivery can do."""
    from django.db import connection, transaction

    from governance import models as m
    from governance.services.bulk_sql import array

    group = m.DirectoryGroup.objects.create(display_name=f"Bench raw {uuid.uuid4().hex[:6]}")
    table = m.GroupMembership._meta.db_table
    start = time.perf_counter()
    for part in chunks(users, batch):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f'INSERT INTO "{table}" (group_id, user_id, created_at) '
                "SELECT %s, id, now() FROM unnest(%s::uuid[]) AS u(id)",
                [group.pk, array(u.pk for u in part)],
            )
    elapsed = time.perf_counter() - start
    assert m.GroupMembership.objects.filter(group=group).count() == len(users)
    return elapsed


def bench_ldap(n: int) -> dict[str, Any]:
    import ldap3

    from governance import models as m
    from governance import tasks
    from tests.ldap_server import ADMIN_DN, ADMIN_PASSWORD, PEOPLE, connector_config, start_slapd

    directory = Path(tempfile.mkdtemp(prefix="portcullis-bench-slapd-"))
    slapd = start_slapd(directory)
    try:
        catalog = m.Catalog.objects.create(display_name=f"Bench LDAP {uuid.uuid4().hex[:6]}")
        connector = m.Connector.objects.create(
            display_name=f"Bench LDAP {uuid.uuid4().hex[:6]}",
            kind="ldap",
            config=connector_config(slapd),
        )
        connector.store_secrets({"password": ADMIN_PASSWORD})
        connector.save(update_fields=["encrypted_secrets"])
        ours_dn = slapd.add_group("ours")
        raw_dn = slapd.add_group("raw")
        resource = m.Resource.objects.create(
            catalog=catalog, connector=connector, display_name="ours", origin_id=ours_dn
        )
        role = m.ResourceRole.objects.create(resource=resource)
        users = seed(n, role, assignment_state=m.AssignmentState.DELIVERING, grant_state=m.GrantState.PENDING).users
        slapd.add_people(u.username for u in users)

        # slapd runs on this host: the worker may call loopback (refused by default).
        with OneWorker(OUTBOUND_ALLOW_LOOPBACK="1"):
            start = time.perf_counter()
            tasks.deliver.delay()
            wait_until(lambda: not m.RoleGrant.objects.filter(resource_role=role, state="pending").exists())
            ours = time.perf_counter() - start
        assert len(slapd.members(ours_dn)) == n

        # The same modifies, done the plain way: bind once, add each member.
        dns = [f"uid={u.username},{PEOPLE}" for u in users]
        conn = ldap3.Connection(ldap3.Server(slapd.url, get_info=ldap3.NONE), ADMIN_DN, ADMIN_PASSWORD, auto_bind=True)
        start = time.perf_counter()
        for dn in dns:
            conn.modify(raw_dn, {"member": [(ldap3.MODIFY_ADD, [dn])]})
        raw = time.perf_counter() - start
        conn.unbind()
        assert len(slapd.members(raw_dn)) == n
    finally:
        slapd.stop()
        shutil.rmtree(directory, ignore_errors=True)
    return {
        "grants": n,
        "ours_seconds": round(ours, 2),
        "ours_grants_per_second": round(n / ours),
        "raw_ldap3_seconds": round(raw, 2),
        "raw_modifies_per_second": round(n / raw),
        "ratio": round(ours / raw, 2),
        "target_ratio": 1.0,
    }


def bench_expiry(n: int) -> dict[str, Any]:
    from governance import models as m
    from governance import tasks

    target = builtin_role("expiry")
    role, group = target.role, target.group
    catalog = role.resource.catalog
    seed_due_for_expiry(n, target)
    with OneWorker():
        start = time.perf_counter()
        tasks.expire_assignments.delay()
        wait_until(
            lambda: (
                not m.Assignment.objects.filter(package__catalog=catalog, state__in=["delivered"]).exists()
                and not m.RoleGrant.objects.filter(resource_role=role, state__in=["granted", "revoking"]).exists()
            )
        )
        elapsed = time.perf_counter() - start
    left = m.GroupMembership.objects.filter(group=group).count()
    assert left == 0, f"{left} memberships left"
    # Raw baseline: the same number of assignment rows changed by one bare UPDATE.
    from django.db import connection

    with connection.cursor() as cursor:
        raw = time.perf_counter()
        cursor.execute(
            "UPDATE governance_assignment SET state = 'expired', ended_at = now(), modified_at = now()"
            " WHERE package_id IN (SELECT id FROM governance_accesspackage WHERE catalog_id = %s)",
            [catalog.pk],
        )
        raw_seconds = time.perf_counter() - raw
    return {
        "assignments": n,
        "seconds": round(elapsed, 1),
        "per_second": round(n / elapsed),
        "target_seconds": 30,
        "raw_update_seconds": round(raw_seconds, 2),
        "ratio": round(elapsed / raw_seconds, 1),
        # The same work on a small copy made through the services, then the concurrency
        # suite's invariant checker (bench/expiry_invariants.py, its own database).
        "invariants": run_child(["bench/expiry_invariants.py", "--n", "200"], dict(os.environ)),
    }


def ensure_database(url: str) -> None:
    """Create the database if it is missing (the scale database is kept between runs)."""
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0].replace("postgres://", "postgresql://") + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"')


def run_child(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run one part in its own process (each part has its own database) and read its JSON."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        out = Path(handle.name)
    try:
        subprocess.run([sys.executable, *args, "--out", str(out)], cwd=ROOT, env=env, check=True)
        text = out.read_text()
        return json.loads(text) if text else {}
    finally:
        out.unlink(missing_ok=True)


def delivery_main(args: argparse.Namespace) -> None:
    """The delivery figures, in this process, against a fresh database."""
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB)
    os.environ["DATABASE_URL"] = url
    prepare_database(url)
    setup_django(url)
    runs = {
        "builtin": lambda: bench_builtin(args.grants),
        "ldap": lambda: bench_ldap(args.ldap_grants),
        "expiry": lambda: bench_expiry(args.expire),
        "reprocess": lambda: bench_bulk_reprocess(args.reprocess),
        "latency": lambda: bench_latency(args.latency_rate, args.latency_seconds),
        "two_workers": lambda: bench_two_workers(args.two_workers_grants, args.two_workers_ldap_grants),
        "reviews": lambda: bench_reviews(args.reviews),
    }
    results: dict[str, Any] = {}
    for name in args.only.split(","):
        print(f"… {name}", flush=True)
        try:
            results[RESULT_KEYS[name]] = runs[name]()
        except Exception as error:  # noqa: BLE001 - one broken part must not lose the others' figures
            traceback.print_exc()
            results[RESULT_KEYS[name]] = {"error": f"{type(error).__name__}: {error}"}
        print(f"  {name}: {json.dumps(results[RESULT_KEYS[name]])}", flush=True)
    Path(args.out).write_text(json.dumps(results))


SMALL = {
    "grants": 1_000,
    "ldap_grants": 200,
    "expire": 1_000,
    "reprocess": 100,
    "latency_rate": 5,
    "latency_seconds": 20,
    "two_workers_grants": 1_000,
    "two_workers_ldap_grants": 1_000,
    "reviews": 1_000,
}
FULL = {
    "grants": 10_000,
    "ldap_grants": 2_000,
    "expire": 100_000,
    "reprocess": 10_000,
    "latency_rate": 20,
    "latency_seconds": 300,
    "two_workers_grants": 4_000,
    "two_workers_ldap_grants": 2_000,
    "reviews": 100_000,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(ALL_GROUPS), help=f"some of {','.join(ALL_GROUPS)}")
    parser.add_argument("--scale", default="full", choices=["full", "small"], help="small: 1/100 of the data")
    parser.add_argument("--force", action="store_true", help="regenerate the data set even if it is there")
    parser.add_argument("--runs", type=int, default=30, help="timed runs per page")
    parser.add_argument("--grants", type=int)
    parser.add_argument("--ldap-grants", type=int)
    parser.add_argument("--expire", type=int)
    parser.add_argument("--reprocess", type=int)
    parser.add_argument("--reviews", type=int, help="access review: assignments under review (100,000; small: 1,000)")
    parser.add_argument("--latency-rate", type=float, help="time to access: requests/s (20; small: 5)")
    parser.add_argument("--latency-seconds", type=float, help="time to access: for how long (300; small: 20)")
    parser.add_argument("--two-workers-grants", type=int, help="scale-out: webhook grants (4,000; small: 1,000)")
    parser.add_argument("--two-workers-ldap-grants", type=int, help="scale-out: LDAP grants (2,000; small: 1,000)")
    for name in ("catalogs", "packages", "users", "assignments", "requests", "visible"):
        parser.add_argument(f"--{name}", type=int, help="data set size")
    parser.add_argument("--delivery-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    small = args.scale == "small"
    defaults = SMALL if small else FULL
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.delivery_child:
        delivery_main(args)
        return

    only = [name for name in args.only.split(",") if name]
    unknown = sorted(set(only) - set(ALL_GROUPS))
    if unknown:
        parser.error(f"unknown part(s): {', '.join(unknown)}")
    results: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    for part, key in RESULT_KEYS.items():  # results.json of before issue 19 said delivery_<part>
        if f"delivery_{part}" in results:
            results.setdefault(key, results.pop(f"delivery_{part}"))
    scale = [name for name in only if name in SCALE_GROUPS]
    if scale:
        url = os.environ.get("BENCH_SCALE_DATABASE_URL", SCALE_DB[args.scale])
        ensure_database(url)
        child = ["bench/scale.py", "--only", ",".join(scale), "--scale", args.scale, "--runs", str(args.runs)]
        child += ["--force"] if args.force else []
        for name in ("catalogs", "packages", "users", "assignments", "requests", "visible"):
            if getattr(args, name) is not None:
                child += [f"--{name}", str(getattr(args, name))]
        results.update(run_child(child, {**os.environ, "DATABASE_URL": url}))
    delivery = [name for name in only if name in DELIVERY_GROUPS]
    if delivery:
        child = ["bench/run.py", "--delivery-child", "--only", ",".join(delivery)]
        for key in defaults:
            child += [f"--{key.replace('_', '-')}", str(getattr(args, key))]
        results.update(run_child(child, dict(os.environ)))
    if "myaccess_200k" in only:
        results.update(run_child(["bench/myaccess.py", "--runs", str(args.runs)], dict(os.environ)))
    results["run"] = {
        "scale": args.scale,
        "parts": only,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
    }
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True, default=str) + "\n")
    print()
    print(table(results))
    print(f"\n(written to {RESULTS.relative_to(ROOT)})")


def _met(ok: bool | None) -> str:
    return "—" if ok is None else ("yes" if ok else "**NO**")


def _mb(n: float) -> str:
    return f"{n / 1e6:,.0f} MB" if n < 1e9 else f"{n / 1e9:,.2f} GB"


PAGE_ORDER = ("assignments", "requests", "request_detail", "myaccess", "api_assignments")
# Every line of DESIGN §8, in its order: the results key that holds it, what it is, its target.
DESIGN_LINES: tuple[tuple[str, str, str], ...] = (
    ("pages", "list pages: requests, assignments, My Access, API", "p95 < 50 ms, constant query count"),
    ("deep_pages", "deep page (?page=10000, $skip=500000, the last page) vs the first", "same cost; p95 < 50 ms"),
    ("myaccess_200k", "My Access with 200,000 policies", "< 100 ms"),
    ("csv", "CSV download of 1,000,000 assignments", "< 150 MB RSS, flat; within 3x a bare COPY"),
    ("builtin", "built-in connector, one worker", ">= 5,000 grants/s"),
    ("ldap", "LDAP: our connector vs a bare ldap3 loop", "within 1x"),
    ("two_workers", "two workers vs one, remote-like target (20 ms per call)", ">= 1.7x"),
    ("expiry", "expiry of 100,000 due assignments, access revoked", "< 30 s"),
    ("latency", "time to access, 20 req/s for 5 min", "p50 < 1 s, p99 < 3 s, nothing pending"),
    ("bulk_reprocess", "bulk reprocess of 10,000 requests", "click < 1 s; all done < 60 s"),
    ("reviews", "access review over 100,000 assignments", "starts < 30 s; applies < 60 s"),
    ("explain", "a person's page, a resource's page with 10,000 holders (issue 22)", "p95 < 50 ms, constant queries"),
)
FAILED_LABELS = {key: label for key, label, _ in DESIGN_LINES}


def _deep_rows(d: dict[str, Any] | None) -> list[str]:
    if not d:
        return []
    rows = _deep_block(d, "API assignments", "deep page by keyset $skiptoken", "row", "old token")
    for name, figures in d.get("lists", {}).items():
        rows += _deep_block({**figures, "target_p95_ms": d["target_p95_ms"]}, f"{name} list", "Next", "row", "?page=")
    return rows


def _deep_block(d: dict[str, Any], what: str, how: str, at: str, old: str) -> list[str]:
    """A first page vs its deep and last pages by key, and the deep one by offset."""
    rows: list[str] = []
    first = d["first"]
    for name, label in (("deep_keyset", f"{at} {d['deep_at']:,}"), ("last_keyset", "the last page")):
        r = d[name]
        ok = r["p95_ms"] < d["target_p95_ms"] and r["ratio_to_first"] < 1.5
        rows.append(
            f"| {what}, {how} ({label} of {d['rows']:,}) | p50 {r['p50_ms']} ms, p95 {r['p95_ms']} ms "
            f"| same as the first page; p95 < {d['target_p95_ms']:.0f} ms "
            f"| first page p50 {first['p50_ms']} ms | {r['ratio_to_first']}x | {_met(ok)} |"
        )
    r = d["deep_offset"]
    rows.append(
        f"| {what}, the same deep page by offset ({old}, for comparison) | p50 {r['p50_ms']} ms "
        f"| — | first page p50 {first['p50_ms']} ms | {r['ratio_to_first']}x | — |"
    )
    return rows


def _myaccess_rows(r: dict[str, Any] | None) -> list[str]:
    if not r:
        return []
    rows = []
    for name, label in (("member", "a member in 4 groups"), ("guest", "an external user")):
        p = r[name]
        ok = p["p95_ms"] < r["target_ms"] if name == "member" else None
        rows.append(
            f"| My Access with {r['policies']:,} policies, {label} ({p['requestable_packages']:,} packages "
            f"requestable) | p50 {p['p50_ms']} ms, p95 {p['p95_ms']} ms (CPU p50 {p['cpu_p50_ms']} ms); "
            f"{p['queries']} queries ({p['queries_search']} searching); search p50 {p['search_p50_ms']} ms "
            f"| < {r['target_ms']:.0f} ms | bare SQL of the page p50 {r['baseline']['p50_ms']} ms "
            f"| {round(p['p50_ms'] / max(r['baseline']['p50_ms'], 0.01), 1)}x | {_met(ok)} |"
        )
    return rows


def _latency_rows(r: dict[str, Any] | None) -> list[str]:
    rows: list[str] = []
    if not r:
        return rows
    for run in (r.get("auto"), r.get("approval")):
        if not run:
            continue
        own, hist, pend = run["submitted_to_granted"], run["metrics_histogram"], run["pending_at_end"]
        ok = bool(own) and own["p50"] < 1 and own["p99"] < 3 and not any(pend.values())
        rows.append(
            f"| time to access, {run['policy']} ({run['rate_per_second']:g} req/s for {run['seconds']:g} s, "
            f"{run['granted']}/{run['requests']} granted) | p50 {own.get('p50')} s, p99 {own.get('p99')} s, "
            f"max {own.get('max')} s; /metrics p50 in {hist.get('p50')}, p99 in {hist.get('p99')} s; "
            f"pending at end {pend['requests_open']} | p50 < 1 s, p99 < 3 s, nothing pending | — | — "
            f"| {_met(ok)} |"
        )
    return rows


def _two_workers_rows(r: dict[str, Any] | None) -> list[str]:
    if not r:
        return []
    one, two = r["one_worker"], r["two_workers"]
    rows = [
        f"| two workers vs one: {r['target']} ({one['grants']:,} grants) | two workers {two['grants_per_second']:,} "
        f"grants/s ({two['seconds']} s) | >= {r['target_ratio']}x one | one worker {one['grants_per_second']:,} "
        f"grants/s ({one['seconds']} s) | {r['ratio']}x | {_met(r['ratio'] >= r['target_ratio'])} |"
    ]
    ldap = r.get("ldap")
    if ldap:
        one, two = ldap["one_worker"], ldap["two_workers"]
        rows.append(
            f"| two workers vs one: LDAP, slapd on the same CPUs ({one['grants']:,} grants) "
            f"| two workers {two['grants_per_second']:,} grants/s ({two['seconds']} s) | as measured "
            f"| one worker {one['grants_per_second']:,} grants/s ({one['seconds']} s) | {ldap['ratio']}x | — |"
        )
    return rows


def table(results: dict[str, Any]) -> str:
    rows = ["| figure | measured | target | baseline | ratio | met? |", "|---|---|---|---|---|---|"]
    failed = {k: v for k, v in results.items() if isinstance(v, dict) and "error" in v}
    results = {k: v for k, v in results.items() if k not in failed}
    g = results.get("generate")
    if g:
        s = g["sizes"]
        rows.append(
            f"| data set: {s['catalogs']:,} catalogs, {s['packages']:,} packages, {s['users']:,} people, "
            f"{s['assignments']:,} assignments, {s['requests']:,} requests | loaded in {g['load_seconds']} s, "
            f"database {_mb(g['database_bytes'])} | — | — | — | — |"
        )
    pages = results.get("pages", {})
    for page in sorted(
        pages.values(), key=lambda p: list(PAGE_ORDER).index(p["key"]) if p.get("key") in PAGE_ORDER else 9
    ):
        few = f", {page['queries_few_rows']} with few rows" if "queries_few_rows" in page else ""
        ok = page["p95_ms"] < page["target_ms"] and page["constant_queries"]
        rows.append(
            f"| {page['label']} | p50 {page['p50_ms']} ms, p95 {page['p95_ms']} ms (CPU p50 {page['cpu_p50_ms']} ms); "
            f"{page['queries']} queries{few} "
            f"| < {page['target_ms']:.0f} ms, constant queries | bare SQL p50 {page['baseline_p50_ms']} ms "
            f"| {page['ratio']}x | {_met(ok)} |"
        )
    rows += _deep_rows(results.get("deep_pages"))
    rows += _myaccess_rows(results.get("myaccess_200k"))
    c = results.get("csv")
    if c:
        flat = c["rss_at_end_mb"] - c["rss_after_tenth_mb"] < 10
        rows.append(
            f"| CSV download of {c['rows']:,} assignments ({c['server']}) | {c['seconds']} s, {_mb(c['bytes'])}, "
            f"peak RSS {c['peak_rss_mb']} MB (before {c['rss_before_mb']} MB; after 1/10 of the rows "
            f"{c['rss_after_tenth_mb']} MB, at the end {c['rss_at_end_mb']} MB) | < {c['target_rss_mb']:.0f} MB, "
            f"flat; <= 3x the bare COPY | bare COPY ... TO STDOUT {c.get('baseline_seconds', '—')} s "
            f"| {c.get('ratio', '—')}x (time) "
            f"| {_met(c['peak_rss_mb'] < c['target_rss_mb'] and flat and c.get('ratio', 99) <= 3)} |"
        )
    r = results.get("builtin")
    if r:
        baseline = (
            f"bare INSERT of the same memberships {r['raw_insert_seconds']} s ({r['raw_inserts_per_second']:,}/s)"
            if "raw_insert_seconds" in r
            else "—"
        )
        rows.append(
            f"| built-in connector, one worker | {r['grants_per_second']:,} grants/s ({r['grants']:,} in "
            f"{r['seconds']} s) | >= {r['target']:,} grants/s | {baseline} | {r.get('ratio', '—')}x "
            f"| {_met(r['grants_per_second'] >= r['target'])} |"
        )
    r = results.get("ldap")
    if r:
        rows.append(
            f"| LDAP: our connector, one worker ({r['grants']:,} members) | {r['ours_seconds']} s "
            f"| <= {r['target_ratio']:g}x the bare loop | bare ldap3 loop {r['raw_ldap3_seconds']} s | {r['ratio']}x "
            f"| {_met(r['ratio'] <= r['target_ratio'])} |"
        )
    rows += _two_workers_rows(results.get("two_workers"))
    r = results.get("expiry")
    if r:
        rows.append(
            f"| expiry of {r['assignments']:,} due assignments, access revoked | {r['seconds']} s "
            f"({r['per_second']:,}/s) | < {r['target_seconds']} s "
            f"| bare UPDATE of the same rows {r.get('raw_update_seconds', '—')} s | {r.get('ratio', '—')}x "
            f"| {_met(r['seconds'] < r['target_seconds'])} |"
        )
    r = results.get("expiry")
    if r and "invariants" in r:
        inv = r["invariants"]
        rows.append(
            f"| expiry, small copy through the services ({inv.get('assignments')} assignments, rule 7 overlap): "
            f"concurrency invariants | {inv.get('violation_count', '?')} violations | 0 | — | — "
            f"| {_met(inv.get('violation_count') == 0)} |"
        )
    r = results.get("reviews")
    if r:
        rows.append(
            f"| access review over {r['assignments']:,} assignments: start ({r['reviewer_emails']} reviewer emails) "
            f"| {r['start_seconds']} s | < {r['target_start_seconds']} s "
            f"| bare INSERT … SELECT {r['raw_insert_select_seconds']} s "
            f"| {round(r['start_seconds'] / max(r['raw_insert_select_seconds'], 0.01), 1)}x "
            f"| {_met(r['start_seconds'] < r['target_start_seconds'])} |"
        )
        rows.append(
            f"| access review over {r['assignments']:,} assignments: apply ({r['removed']:,} removed; again "
            f"{r['apply_again_seconds']} s) | {r['apply_seconds']} s | < {r['target_apply_seconds']} s | — | — "
            f"| {_met(r['apply_seconds'] < r['target_apply_seconds'])} |"
        )
    r = results.get("bulk_reprocess")
    if r:
        target = r.get("target_click_seconds", 1.0)
        rows.append(
            f"| bulk reprocess of 10,000 requests: click returns ({r['requests']:,} requests) "
            f"| click {r['click_seconds']} s; all done {r['done_seconds']} s "
            f"| click < {target} s; all done < 60 s | — | — "
            f"| {_met(r['click_seconds'] < target and r['done_seconds'] < 60)} |"
        )
    rows += _latency_rows(results.get("latency"))
    rows += explain_rows(results.get("explain"))
    for key, value in failed.items():
        rows.append(f"| {FAILED_LABELS.get(key, key)} | **failed**: {value['error'][:200]} | — | — | — | **NO** |")
    for key, label, target in DESIGN_LINES:
        if key not in results and key not in failed:
            rows.append(f"| {label} | not measured this run | {target} | — | — | — |")
    run = results.get("run")
    if run:
        rows.append(
            f"\nscale {run['scale']}, finished {run['finished_at']}, load average {run['load_average']} "
            f"on {run['cpus']} CPUs"
        )
    return "\n".join(rows)


if __name__ == "__main__":
    main()
