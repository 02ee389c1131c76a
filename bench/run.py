#!/usr/bin/env python
"""`make bench`: the delivery figures of DESIGN §8, measured with one real worker process.

Prints a table and writes bench/results.json. Needs PostgreSQL (BENCH_DATABASE_URL, default
a fresh database `portcullis_bench` on 127.0.0.1:5432), Redis (REDIS_URL) and slapd.

  grants/s through the built-in connector   (target >= 1,000 with one worker)
  LDAP: our connector vs a bare ldap3 loop   (target: within 2x)
  expiry of N due assignments, revoked       (target < 120 s for 100,000)
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
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results.json"
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/portcullis_bench"


def prepare_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    import psycopg

    with psycopg.connect(admin.replace("postgres://", "postgresql://"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, check=True, env=os.environ.copy())


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    os.environ.setdefault("DEBUG", "1")
    import django

    django.setup()


def chunks(items: list[Any], size: int = 5000) -> Any:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def seed(n: int, role: Any, *, state: str, end_at: Any = None, with_requests: bool = False) -> list[Any]:
    """n people, each with an active assignment to one package whose one role is ``role``."""
    from django.utils import timezone

    from governance import models as m

    now = timezone.now()
    tag = uuid.uuid4().hex[:6]
    catalog = role.resource.catalog
    package = m.AccessPackage.objects.create(catalog=catalog, display_name=f"Bench {tag}")
    m.PackageResourceRole.objects.create(package=package, resource_role=role)
    policy = m.AssignmentPolicy.objects.create(
        package=package, display_name="Bench", allowed_target_scope="allMemberUsers"
    )
    users = [m.User(username=f"b{tag}-{i}", email=f"b{tag}-{i}@bench.example", password="!") for i in range(n)]
    for part in chunks(users):
        m.User.objects.bulk_create(part)
    assignments = [
        m.Assignment(package=package, policy=policy, target=u, state=state, start_at=now, end_at=end_at) for u in users
    ]
    for part in chunks(assignments):
        m.Assignment.objects.bulk_create(part)
    grant_state = m.GrantState.GRANTED if state == m.AssignmentState.DELIVERED else m.GrantState.PENDING
    grants = [
        m.RoleGrant(assignment=a, resource_role=role, subject_id=a.target_id, state=grant_state, next_attempt_at=now)
        for a in assignments
    ]
    for part in chunks(grants):
        m.RoleGrant.objects.bulk_create(part)
    if with_requests:
        requests = [
            m.AssignmentRequest(
                request_type="adminAdd",
                state="delivered",
                package=package,
                policy=policy,
                assignment=a,
                target_id=a.target_id,
                completed_at=now,
            )
            for a in assignments
        ]
        for part in chunks(requests):
            m.AssignmentRequest.objects.bulk_create(part)
    return users


class OneWorker:
    """One `celery -A portal worker --pool solo` process on Redis, with its own queue."""

    def __init__(self, **env: str) -> None:
        from tests.workers import Worker, redis_url, switch_broker

        self.queue = f"portcullis-bench-{uuid.uuid4().hex[:8]}"
        switch_broker(redis_url(), self.queue)
        self.handle = Worker(
            queue=self.queue,
            broker=redis_url(),
            env={**os.environ, "CELERY_BROKER_URL": redis_url(), "CELERY_TASK_DEFAULT_QUEUE": self.queue, **env},
            log_dir=Path(tempfile.mkdtemp(prefix="portcullis-bench-")),
        )

    def __enter__(self) -> OneWorker:
        self.handle.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.handle.stop()


def wait_until(condition: Any, timeout: float = 1800) -> float:
    start = time.perf_counter()
    while not condition():
        if time.perf_counter() - start > timeout:
            raise TimeoutError("benchmark step did not finish")
        time.sleep(0.05)
    return time.perf_counter() - start


def bench_builtin(n: int) -> dict[str, Any]:
    from governance import models as m
    from governance import tasks
    from governance.connectors.builtin import builtin_connector

    catalog = m.Catalog.objects.create(display_name=f"Bench builtin {uuid.uuid4().hex[:6]}")
    group = m.DirectoryGroup.objects.create(display_name="Bench group")
    resource = m.Resource.objects.create(
        catalog=catalog, connector=builtin_connector(), display_name="Bench group", origin_id=str(group.pk)
    )
    role = m.ResourceRole.objects.create(resource=resource)
    seed(n, role, state=m.AssignmentState.DELIVERING)
    with OneWorker():
        start = time.perf_counter()
        tasks.deliver.delay()
        wait_until(lambda: not m.RoleGrant.objects.filter(resource_role=role, state="pending").exists())
        elapsed = time.perf_counter() - start
    granted = m.GroupMembership.objects.filter(group=group).count()
    assert granted == n, f"{granted} of {n} granted"
    return {"grants": n, "seconds": round(elapsed, 2), "grants_per_second": round(n / elapsed), "target": 1000}


def bench_ldap(n: int) -> dict[str, Any]:
    import ldap3

    from governance import models as m
    from governance import tasks
    from tests.ldap_server import ADMIN_DN, ADMIN_PASSWORD, GROUPS, PASSWORD_ENV, PEOPLE, start_slapd

    directory = Path(tempfile.mkdtemp(prefix="portcullis-bench-slapd-"))
    slapd = start_slapd(directory)
    os.environ[PASSWORD_ENV] = ADMIN_PASSWORD
    try:
        catalog = m.Catalog.objects.create(display_name=f"Bench LDAP {uuid.uuid4().hex[:6]}")
        connector = m.Connector.objects.create(
            display_name=f"Bench LDAP {uuid.uuid4().hex[:6]}",
            kind="ldap",
            config={
                "url": slapd.url,
                "bind_dn": ADMIN_DN,
                "password_env": PASSWORD_ENV,
                "user_base": PEOPLE,
                "group_base": GROUPS,
                "user_attribute": "uid",
                "user_match": "username",
            },
        )
        ours_dn = slapd.add_group("ours")
        raw_dn = slapd.add_group("raw")
        resource = m.Resource.objects.create(
            catalog=catalog, connector=connector, display_name="ours", origin_id=ours_dn
        )
        role = m.ResourceRole.objects.create(resource=resource)
        users = seed(n, role, state=m.AssignmentState.DELIVERING)
        slapd.add_people(u.username for u in users)

        with OneWorker():
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
        "target_ratio": 2.0,
    }


def bench_expiry(n: int) -> dict[str, Any]:
    from datetime import timedelta

    from django.utils import timezone

    from governance import models as m
    from governance import tasks
    from governance.connectors.builtin import builtin_connector

    catalog = m.Catalog.objects.create(display_name=f"Bench expiry {uuid.uuid4().hex[:6]}")
    group = m.DirectoryGroup.objects.create(display_name="Expiring group")
    resource = m.Resource.objects.create(
        catalog=catalog, connector=builtin_connector(), display_name="Expiring group", origin_id=str(group.pk)
    )
    role = m.ResourceRole.objects.create(resource=resource)
    users = seed(
        n, role, state=m.AssignmentState.DELIVERED, end_at=timezone.now() - timedelta(minutes=1), with_requests=True
    )
    for part in chunks(users):
        m.GroupMembership.objects.bulk_create([m.GroupMembership(group=group, user=u) for u in part])
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
    return {"assignments": n, "seconds": round(elapsed, 1), "per_second": round(n / elapsed), "target_seconds": 120}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="builtin,ldap,expiry")
    parser.add_argument("--grants", type=int, default=10_000)
    parser.add_argument("--ldap-grants", type=int, default=2_000)
    parser.add_argument("--expire", type=int, default=100_000)
    args = parser.parse_args()

    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB)
    os.environ["DATABASE_URL"] = url
    prepare_database(url)
    setup_django(url)

    results: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    runs = {
        "builtin": lambda: bench_builtin(args.grants),
        "ldap": lambda: bench_ldap(args.ldap_grants),
        "expiry": lambda: bench_expiry(args.expire),
    }
    for name in args.only.split(","):
        print(f"… {name}", flush=True)
        results[f"delivery_{name}"] = runs[name]()
        print(json.dumps(results[f"delivery_{name}"]), flush=True)
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")

    print(table(results))


def table(results: dict[str, Any]) -> str:
    rows = ["| figure | measured | target |", "|---|---|---|"]
    if "delivery_builtin" in results:
        r = results["delivery_builtin"]
        rows.append(
            f"| built-in connector, one worker | {r['grants_per_second']} grants/s "
            f"({r['grants']} in {r['seconds']} s) | >= 1,000 grants/s |"
        )
    if "delivery_ldap" in results:
        r = results["delivery_ldap"]
        rows.append(
            f"| LDAP: our connector vs a bare ldap3 loop | {r['ours_seconds']} s vs {r['raw_ldap3_seconds']} s "
            f"= {r['ratio']}x ({r['grants']} members) | <= 2x |"
        )
    if "delivery_expiry" in results:
        r = results["delivery_expiry"]
        rows.append(f"| expiry of {r['assignments']} due assignments, access revoked | {r['seconds']} s | < 120 s |")
    return "\n".join(rows)


if __name__ == "__main__":
    main()
