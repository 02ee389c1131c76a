"""services/explain.py: the what-if of a removal and "why does X hold R" (issue 22), checked
against what the engine then really does with the built-in directory."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from governance import models as m
from governance.services import assignments, explain, packages, requests
from tests import factories as f
from tests.conftest import members_of

pytestmark = pytest.mark.django_db


def package_with(make_package, name: str, *roles: m.ResourceRole, days: int = 30) -> m.AccessPackage:  # type: ignore[no-untyped-def]
    package = make_package(roles=0, expiration_days=days)
    package.display_name = name
    package.save(update_fields=["display_name"])
    for role in roles:
        f.PackageResourceRoleFactory(package=package, resource_role=role)
    return package


@pytest.fixture
def groups(catalog: m.Catalog) -> dict[str, m.ResourceRole]:
    return {
        name: f.ResourceRoleFactory(resource__catalog=catalog, resource__display_name=name)
        for name in ("Developers", "Support queue", "Builders")
    }


def holders(groups: dict[str, m.ResourceRole]) -> set[tuple[str, str]]:
    return {(person, name) for name, role in groups.items() for person in members_of(role)}


def test_sentence_names_what_is_lost_and_what_is_kept(make_package, groups, outsider, admin, deliver):
    outsider.display_name = "Otto Outsider"
    outsider.save(update_fields=["display_name"])
    dev = package_with(
        make_package, "Developer tools", groups["Developers"], groups["Support queue"], groups["Builders"]
    )
    oncall = package_with(make_package, "Production on-call", groups["Builders"])
    removed = requests.submit_request(outsider, dev.pk)
    requests.submit_request(outsider, oncall.pk)
    deliver()

    what_if = explain.removing_assignments([removed.assignment_id], viewer=admin)
    assert what_if.sentences == [
        "Otto Outsider loses Developers and Support queue; keeps Builders through Production on-call."
    ]

    before = holders(groups)
    assignments.remove_assignment(admin, removed.assignment_id)
    deliver()
    lost = before - holders(groups)
    assert {(m.User.objects.get(username=u).pk, groups[g].pk) for u, g in lost} == what_if.loses
    assert {(outsider.pk, groups["Builders"].pk)} == what_if.keeps
    assert holders(groups) == {("outsider", "Builders")}


def test_removing_both_overlapping_assignments_together_loses_both(make_package, groups, outsider, admin, deliver):
    first = package_with(make_package, "First", groups["Builders"])
    second = package_with(make_package, "Second", groups["Builders"])
    ids = [requests.submit_request(outsider, p.pk).assignment_id for p in (first, second)]
    deliver()
    what_if = explain.removing_assignments(ids, viewer=admin)
    assert what_if.loses == {(outsider.pk, groups["Builders"].pk)}
    assert not what_if.keeps
    for pk in ids:
        assignments.remove_assignment(admin, pk)
    deliver()
    assert members_of(groups["Builders"]) == set()


def test_role_removed_from_a_package(make_package, groups, outsider, requestor, pkg_manager, admin, deliver):
    first = package_with(make_package, "First", groups["Developers"])
    second = package_with(make_package, "Second", groups["Developers"])
    requests.submit_request(outsider, first.pk)
    requests.submit_request(requestor, first.pk)
    requests.submit_request(requestor, second.pk)
    deliver()

    what_if = explain.removing_role_from_package(first.pk, groups["Developers"].pk, viewer=pkg_manager)
    role = groups["Developers"].pk
    assert what_if.loses == {(outsider.pk, role)}
    assert what_if.keeps == {(requestor.pk, role)}
    operation = packages.remove_resource_role(pkg_manager, first.pk, role)
    assert operation is not None
    packages.propagate_role_operation(operation.pk)
    deliver()
    assert members_of(groups["Developers"]) == {"requestor"}


def test_expiring_assignment(make_package, groups, requestor, admin, deliver):
    short = package_with(make_package, "Short", groups["Developers"], groups["Builders"], days=5)
    package_with(make_package, "Long", groups["Builders"], days=60)
    expiring = requests.submit_request(requestor, short.pk)
    requests.submit_request(requestor, m.AccessPackage.objects.get(display_name="Long").pk)
    deliver()
    what_if = explain.removing_assignments([expiring.assignment_id], viewer=admin)
    assert what_if.sentences == [f"{requestor} loses Developers; keeps Builders through Long."]
    with time_machine.travel(timezone.now() + timedelta(days=5, minutes=1), tick=False):
        assert assignments.expire_due_assignments() == 1
        deliver()
    assert holders(groups) == {("requestor", "Builders")}
    # Once ended, removing it would take nothing more.
    assert explain.removing_assignments([expiring.assignment_id], viewer=admin).people == []


def test_why_holds_lists_every_justifying_assignment(make_package, groups, requestor, admin, deliver):
    a = package_with(make_package, "Alpha", groups["Builders"])
    b = package_with(make_package, "Beta", groups["Builders"], groups["Developers"])
    requests.submit_request(requestor, a.pk)
    requests.submit_request(requestor, b.pk)
    deliver()
    held = {h.label: h.through for h in explain.why_holds(requestor, viewer=admin)}
    assert held == {"Builders": "Alpha and Beta", "Developers": "Beta"}
    only = explain.why_holds(requestor, [groups["Developers"].pk], viewer=requestor)
    assert [h.label for h in only] == ["Developers"]


def test_packages_outside_the_viewers_catalogs_are_not_named(make_package, groups, requestor, admin, deliver):
    mine = package_with(make_package, "Visible", groups["Builders"])
    other_catalog = f.CatalogFactory(display_name="Elsewhere")
    secret = f.AccessPackageFactory(catalog=other_catalog, display_name="Secret project")
    policy = f.PolicyFactory(package=secret)
    f.PackageResourceRoleFactory(package=secret, resource_role=groups["Builders"])
    kept = requests.submit_request(requestor, mine.pk)
    assignment = f.AssignmentFactory(package=secret, policy=policy, target=requestor, state=m.AssignmentState.DELIVERED)
    f.RoleGrantFactory(assignment=assignment, resource_role=groups["Builders"], subject=requestor, state="granted")
    deliver()
    manager = f.UserFactory(username="scoped")
    f.CatalogRoleFactory(catalog=mine.catalog, user=manager, role=m.CatalogRole.OWNER)
    what_if = explain.removing_assignments([kept.assignment_id], viewer=manager)
    assert what_if.sentences == [f"{requestor} keeps Builders through {explain.HIDDEN_PACKAGE}."]
    assert explain.removing_assignments([kept.assignment_id], viewer=admin).sentences == [
        f"{requestor} keeps Builders through Secret project."
    ]
