#!/usr/bin/env python
"""DESIGN §8: "My Access stays < 100 ms with 200,000 policies".

A data set of its own (database BENCH_MYACCESS_DATABASE_URL, default `portcullis_myaccess`,
rebuilt when its sizes change): 20,000 packages in 20 catalogs with 10 policies each,
200,000 policies in all, mostly for specific groups or specific people, a few for everyone
(all members, all users, all externals, connected organizations), some admin-only or
disabled; 20,000 people (one in ten external) in 2,000 groups, three groups each. Then the
My Access "Request access" page (Django's test client, in-process, warmed up) for a member
in four groups and for an external user: p50/p95 over N runs and the query count, first
page and a search, beside the bare SQL of the same page (psycopg, same database).

    BENCH_MYACCESS_DATABASE_URL=postgres://postgres@127.0.0.1:5432/portcullis_myaccess \\
        python bench/myaccess.py [--policies 200000] [--runs 30]

bench/run.py runs it as the group ``myaccess_200k`` (results.json key ``myaccess_200k``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/portcullis_myaccess"
TARGET_MS = 100.0
MEMBER = "myaccess-member"
GUEST = "myaccess-guest"
META = "bench_myaccess"

# Who can request, by weight (of 100): what a large tenant's policies look like.
SCOPE_MIX = [
    ("specificDirectoryUsers/groups", 58),
    ("specificDirectoryUsers/users", 25),
    ("allMemberUsers", 2),
    ("allDirectoryUsers", 1),
    ("allExternalUsers", 1),
    ("specificConnectedOrganizationUsers", 2),
    ("allConfiguredConnectedOrganizationUsers", 1),
    ("notSpecified", 10),
]


def sizes_for(policies: int) -> dict[str, int]:
    return {
        "policies": policies,
        "packages": max(10, policies // 10),
        "catalogs": 20,
        "people": max(100, policies // 10),
        "groups": max(20, policies // 100),
        "organizations": 10,
    }


def _stored(cursor: Any) -> dict[str, Any] | None:
    cursor.execute(f"CREATE TABLE IF NOT EXISTS {META} (id int PRIMARY KEY, info jsonb NOT NULL)")
    cursor.execute(f"SELECT info FROM {META} WHERE id = 1")
    row = cursor.fetchone()
    if row is None:
        return None
    return row[0] if isinstance(row[0], dict) else json.loads(row[0])


def generate(policies: int, *, force: bool = False) -> dict[str, Any]:
    """Load the data set (COPY), or keep the one there when it has these sizes."""
    from django.db import connection, transaction
    from django.utils import timezone

    import bench.generate
    from bench.generate import Writer, _all_tables, new_id
    from governance import models as m

    sizes = sizes_for(policies)
    with connection.cursor() as cursor:
        info = _stored(cursor)
    if info is not None and info.get("sizes") == sizes and not force:
        return {**info, "skipped": True}
    start = time.perf_counter()
    rng = random.Random(19)
    bench.generate._NOW = timezone.now()  # the time of every row's timestamps
    w = Writer()
    with transaction.atomic():
        with connection.cursor() as cursor:
            tables = ", ".join(connection.ops.quote_name(t) for t in _all_tables())
            cursor.execute(f"TRUNCATE {tables}, {META} CASCADE")
        organizations = [
            m.ConnectedOrganization.objects.create(display_name=f"Partner {i}", description="Bench partner")
            for i in range(sizes["organizations"])
        ]
        catalogs = [
            m.Catalog(
                id=new_id(rng),
                display_name=f"Catalog {i:02d}",
                is_externally_visible=i % 2 == 0,
                state=m.CatalogState.UNPUBLISHED if i == 19 else m.CatalogState.PUBLISHED,
            )
            for i in range(sizes["catalogs"])
        ]
        m.Catalog.objects.bulk_create(catalogs)
        packages = [new_id(rng) for _ in range(sizes["packages"])]
        w.rows(
            m.AccessPackage,
            ["id", "catalog", "display_name", "description", "is_hidden"],
            (
                (pid, catalogs[i % len(catalogs)].pk, f"Package {i:06d}", f"Bench package {i}", i % 10 == 3)
                for i, pid in enumerate(packages)
            ),
        )
        groups = [new_id(rng) for _ in range(sizes["groups"])]
        m.DirectoryGroup.objects.bulk_create(
            [m.DirectoryGroup(id=g, display_name=f"Group {i:05d}") for i, g in enumerate(groups)], batch_size=2000
        )
        people = [new_id(rng) for _ in range(sizes["people"])]

        def users() -> Any:
            for u, uid in enumerate(people):
                guest = u % 10 == 9
                org = organizations[u % len(organizations)].pk if guest else None
                domain = f"partner{u % len(organizations)}.example" if guest else "corp.example"
                yield (uid, "!", False, f"p{u:06d}", "", "", f"p{u:06d}@{domain}", False, True, bench.generate._NOW,
                       f"Person {u:06d}", f"p{u:06d}@{domain}", "guest" if guest else "member", org)  # fmt: skip

        columns = [
            "id", "password", "is_superuser", "username", "first_name", "last_name", "email", "is_staff",
            "is_active", "date_joined", "display_name", "user_principal_name", "user_type", "connected_organization",
        ]  # fmt: skip
        w.rows(m.User, columns, users())
        w.rows(
            m.GroupMembership,
            ["group", "user"],
            ((groups[(u * 7 + k * 331) % len(groups)], uid) for u, uid in enumerate(people) for k in range(3)),
        )
        # The two people the page is timed for: a member in four groups, a guest of Partner 0.
        member = m.User.objects.create(username=MEMBER, display_name="Bench Member", email="member@corp.example")
        m.User.objects.create(
            username=GUEST,
            display_name="Bench Guest",
            email="guest@partner0.example",
            user_type=m.UserType.GUEST,
            connected_organization=organizations[0],
        )
        member_groups = [groups[k * 97 % len(groups)] for k in range(4)]
        w.rows(m.GroupMembership, ["group", "user"], ((g, member.pk) for g in member_groups))

        weighted = [scope for scope, weight in SCOPE_MIX for _ in range(weight)]
        kinds: list[str] = []
        policy_ids = [new_id(rng) for _ in range(policies)]

        def policy_rows() -> Any:
            for i, pid in enumerate(policy_ids):
                kind = weighted[rng.randrange(len(weighted))]
                kinds.append(kind)
                yield (
                    pid,
                    packages[i % len(packages)],
                    f"Policy {i}",
                    "",
                    kind.split("/")[0],
                    i % 20 != 11,  # one in twenty disabled
                )

        columns = ["id", "package", "display_name", "description", "allowed_target_scope", "enabled"]
        w.rows(m.AssignmentPolicy, columns, policy_rows())
        named_users, named_groups, named_orgs = [], [], []
        for i, kind in enumerate(kinds):
            if kind.endswith("/groups"):
                named_groups += [(policy_ids[i], groups[rng.randrange(len(groups))]) for _ in range(2)]
            elif kind.endswith("/users"):
                named_users += [(policy_ids[i], people[rng.randrange(len(people))]) for _ in range(3)]
            elif kind == "specificConnectedOrganizationUsers":
                named_orgs.append((policy_ids[i], organizations[rng.randrange(len(organizations))].pk))
        # The member is named on a few policies of their own.
        for i in [i for i, kind in enumerate(kinds) if kind.endswith("/users")][:: max(1, policies // 40)]:
            named_users.append((policy_ids[i], member.pk))
        policy = m.AssignmentPolicy
        w.rows(policy.specific_users.through, ["assignmentpolicy", "user"], dict.fromkeys(named_users))
        w.rows(policy.specific_groups.through, ["assignmentpolicy", "directorygroup"], dict.fromkeys(named_groups))
        w.rows(policy.specific_organizations.through, ["assignmentpolicy", "connectedorganization"], named_orgs)
        after_load(w)
    with connection.cursor() as cursor:
        # Statistics, and the visibility map autovacuum would soon set (index-only scans).
        cursor.execute("VACUUM ANALYZE")
    info = {
        "sizes": sizes,
        "counts": dict(w.counts),
        "scopes": {kind: kinds.count(kind) for kind, _ in SCOPE_MIX},
        "load_seconds": round(time.perf_counter() - start, 1),
    }
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {META} (id, info) VALUES (1, %s)", [json.dumps(info)])
    return {**info, "skipped": False}


def after_load(writer: Any) -> None:
    """What the policy service keeps up to date besides the policies themselves, written
    for a bulk load (none today)."""


BASELINE = """
    SELECT p.id, p.display_name, p.description, c.display_name
    FROM governance_accesspackage p JOIN governance_catalog c ON c.id = p.catalog_id
    WHERE NOT p.is_hidden AND c.state = 'published' AND p.id IN (
        SELECT pol.package_id FROM governance_assignmentpolicy pol
        WHERE pol.enabled AND pol.allowed_target_scope IN ('allMemberUsers', 'allDirectoryUsers')
        UNION
        SELECT pol.package_id FROM governance_assignmentpolicy pol
        JOIN governance_assignmentpolicy_specific_users su ON su.assignmentpolicy_id = pol.id
        WHERE pol.enabled AND pol.allowed_target_scope = 'specificDirectoryUsers' AND su.user_id = %(user)s
        UNION
        SELECT pol.package_id FROM governance_assignmentpolicy pol
        JOIN governance_assignmentpolicy_specific_groups sg ON sg.assignmentpolicy_id = pol.id
        JOIN governance_groupmembership gm ON gm.group_id = sg.directorygroup_id
        WHERE pol.enabled AND pol.allowed_target_scope = 'specificDirectoryUsers' AND gm.user_id = %(user)s)
    ORDER BY p.display_name, p.id LIMIT 26"""


def bench_myaccess(runs: int) -> dict[str, Any]:
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from scale import _libpq_url, timed

    from governance import models as m
    from governance.permissions import discoverable_packages

    results: dict[str, Any] = {}
    member = m.User.objects.get(username=MEMBER)
    for name, person in (("member", member), ("guest", m.User.objects.get(username=GUEST))):
        client = Client()
        client.force_login(person)
        requestable = discoverable_packages(person).count()
        first = discoverable_packages(person).order_by("display_name", "pk").values_list("display_name", flat=True)[:1]
        shown = first[0] if first else "No packages"

        def page(query: dict[str, str], marker: str, client: Client = client) -> Any:
            def call() -> Any:
                response = client.get("/myaccess/", query)
                assert response.status_code == 200, response.status_code
                assert marker in response.content.decode(), marker
                return response

            return call

        full = page({}, shown)
        search = page({"q": shown}, shown)
        full()
        reset_queries()  # a full log (9,000 entries, DEBUG) would capture nothing
        with CaptureQueriesContext(connection) as queries:
            full()
        reset_queries()
        with CaptureQueriesContext(connection) as few:
            search()
        ours = timed(full, runs, 3)
        searched = timed(search, runs, 3)
        results[name] = {
            "requestable_packages": requestable,
            **ours,
            "search_p50_ms": searched["p50_ms"],
            "search_p95_ms": searched["p95_ms"],
            "queries": len(queries.captured_queries),
            "queries_search": len(few.captured_queries),
        }
    import psycopg

    with psycopg.connect(_libpq_url(os.environ["DATABASE_URL"])) as conn:
        cursor = conn.cursor()

        def bare() -> None:
            cursor.execute(BASELINE, {"user": member.pk})
            assert cursor.fetchall()

        results["baseline"] = timed(bare, runs, 3)
    results["ratio"] = round(results["member"]["p50_ms"] / max(results["baseline"]["p50_ms"], 0.01), 1)
    results["policies"] = m.AssignmentPolicy.objects.count()
    results["target_ms"] = TARGET_MS
    results["runs"] = runs
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policies", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--force", action="store_true", help="rebuild the data set")
    parser.add_argument("--out", help="write the results (JSON) here")
    args = parser.parse_args()
    url = os.environ.get("BENCH_MYACCESS_DATABASE_URL", DEFAULT_DB)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    from run import ensure_database

    ensure_database(url)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    print("… myaccess_200k: data set", flush=True)
    loaded = generate(args.policies, force=args.force)
    print(f"  {json.dumps(loaded)}", flush=True)
    result = {"myaccess_200k": {**bench_myaccess(args.runs), "data_set": loaded}}
    print(f"  myaccess_200k: {json.dumps(result['myaccess_200k'])}", flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
