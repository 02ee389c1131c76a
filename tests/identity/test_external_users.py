"""External users' lifecycle with frozen time: the last assignment ends → sign-in blocked;
30 days later → account removed; a new assignment in between keeps the account."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine

from governance import models as m
from governance.errors import NotFound, ValidationFailed
from governance.services import external_users
from governance.services.assignments import create_direct_assignments, expire_due_assignments
from tests import factories as f
from tests.conftest import members_of

pytestmark = pytest.mark.django_db

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> Iterator[Any]:
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture
def direct(make_package: Any) -> Any:
    """Assign a package directly to someone, ending after ``days``."""

    def assign(admin: m.User, user: m.User, days: int, name: str) -> m.Assignment:
        package = make_package(name=name, allowed_target_scope=m.TargetScope.NO_ONE)
        policy = package.policies.get()
        (request,) = create_direct_assignments(
            admin,
            package.pk,
            policy_id=policy.pk,
            target_ids=[user.pk],
            end=datetime.now(UTC) + timedelta(days=days),
        )
        return m.Assignment.objects.get(pk=request.assignment_id)

    return assign


def lifecycle() -> external_users.LifecycleReport:
    return external_users.run_external_user_lifecycle()


def test_last_assignment_ends_then_blocked_then_removed(
    clock: Any, admin: m.User, partner: m.User, direct: Any, deliver: Any, client: Any
) -> None:
    first = direct(admin, partner, 5, "Partner portal")
    direct(admin, partner, 10, "Partner wiki")
    deliver()
    role = m.ResourceRole.objects.get(package_links__package=first.package)
    assert "partner" in members_of(role)

    clock.shift(timedelta(days=6))
    expire_due_assignments()
    deliver()
    assert lifecycle().blocked == 0  # one assignment still active
    assert m.User.objects.get(pk=partner.pk).is_active

    clock.shift(timedelta(days=5))  # day 11: the last one has ended
    expire_due_assignments()
    deliver()
    last_end = datetime.now(UTC)
    report = lifecycle()

    assert report.blocked == 1
    partner.refresh_from_db()
    assert not partner.is_active
    assert not client.login(username="partner", password="pw")
    blocked = m.AuditEvent.objects.get(action="user.sign_in_blocked", object_id=str(partner.pk))
    assert blocked.data["reason"] == "The external user's last assignment ended."
    offboarding = m.ExternalUserOffboarding.objects.get(user=partner)
    assert offboarding.remove_at == last_end + timedelta(days=30)
    assert lifecycle().blocked == 0  # idempotent

    clock.shift(timedelta(days=29, hours=23))
    assert lifecycle().removed == 0
    assert m.User.objects.filter(pk=partner.pk).exists()

    clock.shift(timedelta(hours=1))
    assert lifecycle().removed == 1
    assert not m.User.objects.filter(pk=partner.pk).exists()
    removed = m.AuditEvent.objects.get(action="user.removed", object_id=str(partner.pk))
    assert removed.data["username"] == "partner"
    assert removed.data["organization"] == "Contoso"
    assert "30 days ago" in removed.data["reason"]
    # The trail of what they had outlives them.
    assert m.AuditEvent.objects.filter(action="assignment.expired", object_repr__contains="Partner").count() == 2


def test_new_assignment_in_between_keeps_the_account(
    clock: Any, admin: m.User, partner: m.User, contoso: m.ConnectedOrganization, direct: Any, deliver: Any
) -> None:
    # Contoso's users keep signing in between assignments; only the removal applies.
    external_users.update_settings(admin, contoso.pk, block_sign_in=False, remove_account=True, remove_after_days=30)
    direct(admin, partner, 1, "Partner portal")
    clock.shift(timedelta(days=2))
    expire_due_assignments()
    deliver()
    report = lifecycle()
    assert (report.marked, report.blocked) == (1, 0)
    assert m.User.objects.get(pk=partner.pk).is_active

    clock.shift(timedelta(days=20))
    direct(admin, partner, 60, "Partner wiki")
    assert lifecycle().kept == 1
    assert not m.ExternalUserOffboarding.objects.filter(user=partner).exists()
    assert m.AuditEvent.objects.filter(action="user.removal_canceled", object_id=str(partner.pk)).exists()

    clock.shift(timedelta(days=15))  # 35 days after the first ended
    assert lifecycle().removed == 0
    assert m.User.objects.get(pk=partner.pk).is_active


def test_blocked_user_given_access_again_is_unblocked(
    clock: Any, admin: m.User, partner: m.User, direct: Any, deliver: Any, client: Any
) -> None:
    direct(admin, partner, 1, "Partner portal")
    clock.shift(timedelta(days=2))
    expire_due_assignments()
    deliver()
    lifecycle()
    partner.refresh_from_db()
    assert not partner.is_active

    # An administrator lets them in again and assigns new access meanwhile.
    partner.is_active = True
    partner.save()
    direct(admin, partner, 90, "Partner wiki")
    lifecycle()
    clock.shift(timedelta(days=40))
    report = lifecycle()

    assert report.removed == 0
    assert m.User.objects.get(pk=partner.pk).is_active
    assert client.login(username="partner", password="pw")


def test_settings_per_organization(clock: Any, admin: m.User, direct: Any, deliver: Any) -> None:
    keep = f.ConnectedOrganizationFactory(display_name="Keepers")
    quick = f.ConnectedOrganizationFactory(display_name="Quick")
    f.ExternalUserLifecycleFactory(organization=keep, remove_account=False)
    f.ExternalUserLifecycleFactory(organization=quick, remove_after_days=7)
    kept = f.ExternalUserFactory(username="kept", connected_organization=keep)
    quickly = f.ExternalUserFactory(username="quickly", connected_organization=quick)
    orphan = f.ExternalUserFactory(username="orphan", connected_organization=None)
    for user in (kept, quickly, orphan):
        direct(admin, user, 1, f"For {user.username}")
    clock.shift(timedelta(days=1, hours=1))
    expire_due_assignments()
    deliver()
    assert lifecycle().blocked == 3

    clock.shift(timedelta(days=7))
    assert lifecycle().removed == 1
    assert set(m.User.objects.filter(user_type=m.UserType.GUEST).values_list("username", flat=True)) == {
        "kept",
        "orphan",
    }
    clock.shift(timedelta(days=30))
    assert lifecycle().removed == 1  # the organization-less one, on the default 30 days
    assert m.User.objects.filter(username="kept").exists()


def test_removal_waits_for_revocation(
    clock: Any, admin: m.User, partner: m.User, direct: Any, deliver: Any, make_package: Any
) -> None:
    direct(admin, partner, 1, "Partner portal")
    deliver()
    clock.shift(timedelta(days=2))
    expire_due_assignments()  # grants go to "revoking"; no worker has run yet
    lifecycle()
    clock.shift(timedelta(days=31))
    report = lifecycle()
    assert (report.removed, report.postponed) == (0, 1)
    assert m.User.objects.filter(pk=partner.pk).exists()

    deliver()
    assert lifecycle().removed == 1


def test_internal_people_are_never_touched(clock: Any, admin: m.User, requestor: m.User, direct: Any) -> None:
    direct(admin, requestor, 1, "Developer tools")
    clock.shift(timedelta(days=40))
    expire_due_assignments()
    report = lifecycle()
    assert (report.marked, report.removed) == (0, 0)
    assert m.User.objects.get(pk=requestor.pk).is_active


def test_lifecycle_settings_refuse_bad_input(
    admin: m.User, requestor: m.User, contoso: m.ConnectedOrganization
) -> None:
    with pytest.raises(ValidationFailed) as bad:
        external_users.update_settings(admin, contoso.pk, block_sign_in=True, remove_account=True, remove_after_days=0)
    assert bad.value.field == "remove_after_days"
    with pytest.raises(NotFound):
        external_users.update_settings(
            requestor, contoso.pk, block_sign_in=False, remove_account=False, remove_after_days=30
        )
    assert not m.ExternalUserLifecycle.objects.exists()
    external_users.update_settings(admin, contoso.pk, block_sign_in=False, remove_account=True, remove_after_days=14)
    assert external_users.settings_for(contoso.pk) == external_users.LifecycleSettings(False, True, 14)
    assert m.AuditEvent.objects.filter(action="organization.lifecycle_changed", object_id=str(contoso.pk)).exists()


def test_beat_task(partner: m.User) -> None:
    from governance import tasks

    assert tasks.external_user_lifecycle.apply().get() == {"blocked": 0, "removed": 0, "kept": 0}
