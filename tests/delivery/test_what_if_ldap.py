"""Issue 22: the what-if a confirmation shows equals what the engine then really takes away,
in a real slapd through a real worker — overlapping packages, a role removed from a package,
an expired assignment."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from governance import models as m
from governance.services import assignments, explain, packages, requests
from tests import factories as f
from tests.delivery.conftest import ldap_package
from tests.ldap_server import Slapd
from tests.workers import Worker, wait_for

pytestmark = [pytest.mark.ldap, pytest.mark.worker]


@pytest.fixture
def people(slapd: Slapd, db: None) -> dict[str, m.User]:
    slapd.add_people(["rita", "sam"])
    return {name: f.UserFactory(username=name) for name in ("rita", "sam")}


@pytest.fixture
def groups(ldap_group: Any) -> dict[str, m.ResourceRole]:
    return {name: ldap_group(name) for name in ("developers", "support", "builders")}


def in_ldap(slapd: Slapd, groups: dict[str, m.ResourceRole]) -> set[tuple[str, str]]:
    return {(uid, name) for name, role in groups.items() for uid in slapd.members(role.resource.origin_id)}


def settle(worker: Worker) -> None:
    def idle() -> bool:
        return not m.RoleGrant.objects.filter(state__in=m.GrantState.WORK).exists() and not (
            m.RoleOperation.objects.exclude(state=m.RoleOperationState.COMPLETED).exists()
        )

    wait_for(idle, message=f"the worker to finish\n{worker.log()[-3000:]}")


def as_names(pairs: set[tuple[Any, Any]], groups: dict[str, m.ResourceRole]) -> set[tuple[str, str]]:
    names = {role.pk: name for name, role in groups.items()}
    users = dict(m.User.objects.values_list("pk", "username"))
    return {(users[person], names[role]) for person, role in pairs}


def test_overlapping_packages(make_package, groups, people, admin, slapd, worker):
    dev = ldap_package(make_package, groups["developers"], groups["support"], groups["builders"])
    oncall = ldap_package(make_package, groups["builders"])
    removed = requests.submit_request(people["rita"], dev.pk)
    requests.submit_request(people["rita"], oncall.pk)
    settle(worker)
    before = in_ldap(slapd, groups)
    assert before == {("rita", "developers"), ("rita", "support"), ("rita", "builders")}

    what_if = explain.removing_assignments([removed.assignment_id], viewer=admin)
    assignments.remove_assignment(admin, removed.assignment_id)
    settle(worker)
    after = in_ldap(slapd, groups)
    assert before - after == as_names(what_if.loses, groups) == {("rita", "developers"), ("rita", "support")}
    assert as_names(what_if.keeps, groups) <= after


def test_role_removed_from_a_package(make_package, groups, people, pkg_manager, slapd, worker):
    first = ldap_package(make_package, groups["developers"])
    second = ldap_package(make_package, groups["developers"])
    requests.submit_request(people["rita"], first.pk)
    requests.submit_request(people["sam"], first.pk)
    requests.submit_request(people["sam"], second.pk)
    settle(worker)
    before = in_ldap(slapd, groups)

    what_if = explain.removing_role_from_package(first.pk, groups["developers"].pk, viewer=pkg_manager)
    packages.remove_resource_role(pkg_manager, first.pk, groups["developers"].pk)
    settle(worker)
    after = in_ldap(slapd, groups)
    assert before - after == as_names(what_if.loses, groups) == {("rita", "developers")}
    assert as_names(what_if.keeps, groups) == {("sam", "developers")}
    assert ("sam", "developers") in after


def test_expired_assignment(make_package, groups, people, admin, slapd, worker):
    short = ldap_package(make_package, groups["developers"], groups["builders"])
    long = ldap_package(make_package, groups["builders"])
    expiring = requests.submit_request(people["rita"], short.pk)
    requests.submit_request(people["rita"], long.pk)
    settle(worker)
    before = in_ldap(slapd, groups)

    what_if = explain.removing_assignments([expiring.assignment_id], viewer=admin)
    m.Assignment.objects.filter(pk=expiring.assignment_id).update(end_at=timezone.now() - timedelta(minutes=1))
    assert assignments.expire_due_assignments() == 1
    settle(worker)
    after = in_ldap(slapd, groups)
    assert before - after == as_names(what_if.loses, groups) == {("rita", "developers")}
    assert after == {("rita", "builders")}


def test_removing_overlapping_assignments_together(make_package, groups, people, admin, slapd, worker):
    """A bulk Remove of two overlapping assignments takes what both gave (neither justifies
    the other's role once both go); a third assignment, not removed, keeps its role."""
    dev = ldap_package(make_package, groups["developers"], groups["builders"])
    oncall = ldap_package(make_package, groups["builders"])
    support = ldap_package(make_package, groups["support"], groups["builders"])
    removed = []
    for package in (dev, oncall):
        for name in ("rita", "sam"):
            removed.append(requests.submit_request(people[name], package.pk).assignment_id)
    requests.submit_request(people["rita"], support.pk)
    settle(worker)
    before = in_ldap(slapd, groups)
    assert before == {
        ("rita", "developers"),
        ("rita", "builders"),
        ("rita", "support"),
        ("sam", "developers"),
        ("sam", "builders"),
    }

    what_if = explain.removing_assignments(removed, viewer=admin)
    result = assignments.remove_assignments(admin, removed)
    assert len(result.done) == len(removed)
    settle(worker)
    after = in_ldap(slapd, groups)
    lost = {("rita", "developers"), ("sam", "developers"), ("sam", "builders")}
    assert before - after == as_names(what_if.loses, groups) == lost
    assert as_names(what_if.keeps, groups) == {("rita", "builders")}
    assert after == {("rita", "builders"), ("rita", "support")}
