"""What every delivery benchmark stands on: a fresh database, Django, one real worker, and
N people holding one package's role in whatever state the figure starts from.

bench/run.py (built-in, LDAP, expiry) and bench/reprocess.py (bulk reprocess) both seed
through :func:`seed`; neither imports the other's internals.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results.json"
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/portcullis_bench"


def prepare_database(url: str) -> None:
    """Drop and create the database at ``url``, then migrate it."""
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


def chunks(items: list[Any], size: int = 5000) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


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


@dataclass
class BuiltinRole:
    """A catalog with one built-in group as its resource, and the group's member role."""

    role: Any
    group: Any


def builtin_role(label: str) -> BuiltinRole:
    from governance import models as m
    from governance.connectors.builtin import builtin_connector

    tag = uuid.uuid4().hex[:6]
    catalog = m.Catalog.objects.create(display_name=f"Bench {label} {tag}")
    group = m.DirectoryGroup.objects.create(display_name=f"Bench {label} {tag}")
    resource = m.Resource.objects.create(
        catalog=catalog, connector=builtin_connector(), display_name=group.display_name, origin_id=str(group.pk)
    )
    return BuiltinRole(role=m.ResourceRole.objects.create(resource=resource), group=group)


@dataclass
class Seeded:
    package: Any
    users: list[Any]


def seed(
    n: int,
    role: Any,
    *,
    assignment_state: str,
    grant_state: str,
    request_state: str | None = None,
    requestor: Any = None,
    grant_error: str = "",
    end_at: Any = None,
) -> Seeded:
    """n people, each directly assigned one new package whose one role is ``role``: the
    assignment in ``assignment_state``, its grant in ``grant_state`` (once tried and failed
    with ``grant_error`` when given) and, with ``request_state``, the adminAdd request that
    made it, completed now. Bulk inserts, then ANALYZE, as autovacuum would soon do."""
    from django.db import connection
    from django.utils import timezone

    from governance import models as m

    now = timezone.now()
    tag = uuid.uuid4().hex[:6]
    package = m.AccessPackage.objects.create(catalog=role.resource.catalog, display_name=f"Bench {tag}")
    m.PackageResourceRole.objects.create(package=package, resource_role=role)
    policy = m.AssignmentPolicy.objects.create(
        package=package, display_name="Direct", allowed_target_scope=m.TargetScope.NO_ONE
    )
    users = [m.User(username=f"b{tag}-{i}", email=f"b{tag}-{i}@bench.example", password="!") for i in range(n)]
    for part in chunks(users):
        m.User.objects.bulk_create(part)
    assignments = [
        m.Assignment(package=package, policy=policy, target=u, state=assignment_state, start_at=now, end_at=end_at)
        for u in users
    ]
    for part in chunks(assignments):
        m.Assignment.objects.bulk_create(part)
    grants = [
        m.RoleGrant(
            assignment=a,
            resource_role=role,
            subject_id=a.target_id,
            state=grant_state,
            attempts=1 if grant_error else 0,
            last_error=grant_error,
            next_attempt_at=now,
        )
        for a in assignments
    ]
    for part in chunks(grants):
        m.RoleGrant.objects.bulk_create(part)
    if request_state is not None:
        requests = [
            m.AssignmentRequest(
                request_type=m.RequestType.ADMIN_ADD,
                state=request_state,
                package=package,
                policy=policy,
                assignment=a,
                target_id=a.target_id,
                requestor=requestor,
                completed_at=now,
            )
            for a in assignments
        ]
        for part in chunks(requests):
            m.AssignmentRequest.objects.bulk_create(part)
    # Without statistics the planner takes the fresh tables for tiny ones and picks plans
    # that cost ~1 s a batch instead of ~40 ms.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for model in (m.User, m.Assignment, m.RoleGrant, m.AssignmentRequest):
                cursor.execute(f'ANALYZE "{model._meta.db_table}"')
    return Seeded(package=package, users=users)


def seed_due_for_expiry(n: int, target: BuiltinRole) -> list[Any]:
    """n people whose delivered assignment (of the built-in ``target``: members of its
    group) ended a minute ago: what the expiry job finds due. Returns the people."""
    from django.utils import timezone

    from governance import models as m

    users = seed(
        n,
        target.role,
        assignment_state=m.AssignmentState.DELIVERED,
        grant_state=m.GrantState.GRANTED,
        request_state=m.RequestState.DELIVERED,
        end_at=timezone.now() - timedelta(minutes=1),
    ).users
    for part in chunks(users):
        m.GroupMembership.objects.bulk_create([m.GroupMembership(group=target.group, user=u) for u in part])
    return users
