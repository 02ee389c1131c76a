#!/usr/bin/env python
"""The expiry figure's proof of exactness: a small copy of its work, made through the services
(so every row has its audit trail), expired and revoked by the same code, then the
concurrency suite's invariant checker over the whole (separate) database, and rule 7 checked
by hand: people who also hold a second package sharing the group stay in it.

Run by `bench/run.py --only expiry` after the timed expiry, in its own database
(BENCH_DATABASE_URL + `_invariants`): the timed run's bulk-seeded rows have no audit trail.

  python bench/expiry_invariants.py --n 200
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from datetime import timedelta
from typing import Any

from harness import DEFAULT_DB, prepare_database, setup_django


def small_copy(n: int) -> dict[str, Any]:
    from django.utils import timezone

    from governance import models as m
    from governance.services import assignments, delivery, outbox, requests
    from tests import factories as f
    from tests.concurrency.invariants import violations

    catalog = f.CatalogFactory(display_name="Expiry copy")
    expiring = f.AccessPackageFactory(catalog=catalog, display_name="Expiring")
    staying = f.AccessPackageFactory(catalog=catalog, display_name="Staying")
    shared = f.PackageResourceRoleFactory(package=expiring).resource_role
    f.PackageResourceRoleFactory(package=expiring)  # a role only the expiring package gives
    f.PackageResourceRoleFactory(package=staying, resource_role=shared)
    for package in (expiring, staying):
        f.PolicyFactory(package=package, requires_approval=False, allowed_target_scope=m.TargetScope.ALL_MEMBERS)
    people = [f.UserFactory(username=f"copy{i}") for i in range(n)]
    both = people[: n // 2]
    for person in people:
        requests.submit_request(person, expiring.pk)
    for person in both:
        requests.submit_request(person, staying.pk)
    delivery.deliver_until_idle(max_seconds=600)
    # A few still delivering when their end comes: the expiry overtakes them.
    late = [f.UserFactory(username=f"late{i}") for i in range(max(1, n // 20))]
    for person in late:
        requests.submit_request(person, expiring.pk)
    m.Assignment.objects.filter(package=expiring).update(end_at=timezone.now() - timedelta(minutes=1))

    expired = assignments.expire_due_assignments()
    delivery.deliver_until_idle(max_seconds=600)
    outbox.send_due(max_seconds=600)

    group = shared.resource.origin_id
    members = set(m.GroupMembership.objects.filter(group_id=group).values_list("user_id", flat=True))
    problems = violations()
    if members != {p.pk for p in both}:
        problems.append(f"rule 7: {len(members)} people left in the shared group, expected {len(both)}")
    emails = m.OutboundEmail.objects.filter(kind="assignment_expired", sent_at__isnull=False)
    if emails.count() != expired:
        problems.append(f"{emails.count()} expiry emails sent, expected {expired}")
    return {"assignments": expired, "violations": problems[:20], "violation_count": len(problems)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--out", help="write the result as JSON here")
    args = parser.parse_args()
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB) + "_invariants"
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("EMAIL_URL", "dummymail://")
    prepare_database(url)
    setup_django(url)
    logging.getLogger("governance").setLevel(logging.WARNING)  # not a line per revocation
    result = small_copy(args.n)
    text = json.dumps(result, indent=2)
    if args.out:
        with open(args.out, "w") as handle:
            handle.write(text)
    print(text)


if __name__ == "__main__":
    main()
