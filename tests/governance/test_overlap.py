"""Rule 7: access to a resource role is revoked only when nothing else still justifies it."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from governance import models as m
from governance.services import assignments, packages, requests
from tests import factories as f
from tests.conftest import members_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def shared(catalog: m.Catalog) -> m.ResourceRole:
    return f.ResourceRoleFactory(resource__catalog=catalog)


def package_with(make_package, role: m.ResourceRole, days: int) -> m.AccessPackage:  # type: ignore[no-untyped-def]
    package = make_package(roles=0, expiration_days=days)
    f.PackageResourceRoleFactory(package=package, resource_role=role)
    return package


def test_expiring_one_of_two_packages_keeps_the_shared_group(make_package, shared, requestor, deliver):
    short = package_with(make_package, shared, days=5)
    long = package_with(make_package, shared, days=60)
    requests.submit_request(requestor, short.pk)
    requests.submit_request(requestor, long.pk)
    deliver()
    assert members_of(shared) == {"requestor"}

    with time_machine.travel(timezone.now() + timedelta(days=5, minutes=1), tick=False):
        assert assignments.expire_due_assignments() == 1
        deliver()
    assert members_of(shared) == {"requestor"}
    expired = m.Assignment.objects.get(package=short)
    assert expired.state == m.AssignmentState.EXPIRED
    grant = expired.grants.get()
    assert grant.state == m.GrantState.REVOKED
    attempt = grant.attempts_log.get(operation=m.Operation.REVOKE)
    assert attempt.message == f"Not removed from the target: still granted through {long}."

    with time_machine.travel(timezone.now() + timedelta(days=60, minutes=1), tick=False):
        assert assignments.expire_due_assignments() == 1
        deliver()
    assert members_of(shared) == set()


def test_removing_a_role_from_one_package_keeps_access_from_the_other(
    make_package, shared, requestor, pkg_manager, deliver
):
    first = package_with(make_package, shared, days=30)
    second = package_with(make_package, shared, days=30)
    requests.submit_request(requestor, first.pk)
    requests.submit_request(requestor, second.pk)
    deliver()
    operation = packages.remove_resource_role(pkg_manager, first.pk, shared.pk)
    assert operation is not None
    packages.propagate_role_operation(operation.pk)
    deliver()
    assert members_of(shared) == {"requestor"}
    assert m.RoleGrant.objects.get(assignment__package=second).state == m.GrantState.GRANTED


def test_the_same_role_for_two_people_is_independent(make_package, shared, requestor, outsider, admin, deliver):
    package = package_with(make_package, shared, days=30)
    mine = requests.submit_request(requestor, package.pk)
    requests.submit_request(outsider, package.pk)
    deliver()
    assignments.remove_assignment(admin, mine.assignment_id)
    deliver()
    assert members_of(shared) == {"outsider"}
