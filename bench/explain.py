#!/usr/bin/env python
"""Issue 22's pages at scale (not part of `make bench`; run by hand):

  .venv/bin/python bench/explain.py postgres://postgres@127.0.0.1:5432/<a scratch database> [--keep]

Drops and re-creates the database, then loads a resource held by HOLDERS people (one
assignment each) and one person with PERSON_ASSIGNMENTS assignments (each also granting the
same resource), and times the first page of the resource page and of the person page as a
global administrator: p50/p95 over RUNS requests, and the number of queries.
"""

from __future__ import annotations

import statistics
import sys
import time

from harness import builtin_role, prepare_database, seed, setup_django

HOLDERS = 10_000
PERSON_ASSIGNMENTS = 200
RUNS = 60


def main(url: str) -> None:
    setup_django(url)
    if "--keep" not in sys.argv:
        prepare_database(url)
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from governance import models as m

    if "--keep" in sys.argv:
        target = m.ResourceRole.objects.get(resource__display_name__startswith="Bench explain")
        person = m.User.objects.get(username="busy")
        admin = m.User.objects.get(username="bench-admin")
    else:
        target = builtin_role("explain").role
        seed(HOLDERS, target, assignment_state="delivered", grant_state="granted")
        person = m.User.objects.create(username="busy", display_name="Busy Person", password="!")
        for _ in range(PERSON_ASSIGNMENTS):
            seeded = seed(1, target, assignment_state="delivered", grant_state="granted")
            m.Assignment.objects.filter(target=seeded.users[0]).update(target=person)
            m.RoleGrant.objects.filter(subject=seeded.users[0]).update(subject=person)
        admin = m.User.objects.create(username="bench-admin", password="!")
        m.DirectoryRoleAssignment.objects.create(user=admin, role=m.GlobalRole.GLOBAL_ADMIN)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    client = Client()
    client.force_login(admin)
    pages = {
        f"resource page ({HOLDERS + PERSON_ASSIGNMENTS:,} holders)": f"/governance/resources/{target.resource_id}/",
        f"person page ({PERSON_ASSIGNMENTS} assignments)": f"/governance/people/{person.pk}/",
        "for comparison: the assignments list": "/governance/assignments/",
    }
    for label, url_ in pages.items():
        client.get(url_)
        timings = []
        for _ in range(RUNS):
            start = time.perf_counter()
            assert client.get(url_).status_code == 200
            timings.append((time.perf_counter() - start) * 1000)
        with CaptureQueriesContext(connection) as queries:
            client.get(url_)
        p95 = statistics.quantiles(timings, n=20)[18]
        print(f"{label}: p50 {statistics.median(timings):.1f} ms, p95 {p95:.1f} ms, {len(queries)} queries")


if __name__ == "__main__":
    main(sys.argv[1])
