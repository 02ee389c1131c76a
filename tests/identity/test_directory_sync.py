"""The LDAP directory sync against a real slapd: several hundred people, managers, groups;
disabled and deleted people lose their access through the delivery engine; incremental
sync picks up a change; bad configuration says what to fix and writes nothing."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError, SystemCheckError
from django.utils import timezone

from governance import models as m
from governance.errors import DomainError
from governance.services import directory_sync
from governance.services.directory_sync import DirectorySyncError, SyncAlreadyRunning
from governance.services.requests import submit_request
from tests import factories as f
from tests.approval_setup import approval_stage
from tests.conftest import members_of, snapshot
from tests.identity.conftest import Organization, add_member, add_person, modify, set_disabled, sync_settings
from tests.ldap_server import GROUPS, PEOPLE, Slapd, free_port

pytestmark = [pytest.mark.django_db, pytest.mark.ldap]


def ldap_user(username: str) -> m.User:
    return m.User.objects.get(username=username)


def test_full_sync_imports_people_managers_and_groups(directory: Organization) -> None:
    report = directory_sync.sync_directory()

    assert report.mode == m.SyncMode.FULL
    assert (report.people_read, report.created, report.groups_read) == (301, 301, 5)
    assert m.User.objects.count() == 301
    person = ldap_user("person042")
    assert (person.display_name, person.first_name, person.last_name) == ("Person 042", "Person", "042")
    assert person.email == person.user_principal_name == "person042@portcullis.example"
    assert person.is_active
    assert person.user_type == m.UserType.MEMBER
    assert not person.has_usable_password()
    # Every manager, by DN, resolved to the right person.
    by_username = dict(m.User.objects.values_list("username", "manager__username"))
    assert {u: by_username[u] for u in directory.managers} == directory.managers
    assert by_username["ceo"] is None
    # Groups with exactly the directory's members; the empty group has none (not the placeholder).
    for name, members in directory.groups.items():
        group = m.DirectoryGroup.objects.get(source=m.GroupSource.LDAP, external_id=f"cn={name},{GROUPS}")
        assert group.display_name == name
        assert set(group.members.values_list("username", flat=True)) == set(members)
    assert m.ExternalIdentity.objects.filter(provider=m.IdentityProvider.LDAP, issuer="test-directory").count() == 301

    state = m.DirectorySyncState.objects.get(source="test-directory")
    assert state.last_outcome == m.SyncOutcome.SUCCEEDED
    assert state.running_since is None
    assert state.high_water.endswith("Z")
    assert state.last_full_at is not None
    assert state.last_counts["created"] == 301
    assert m.AuditEvent.objects.filter(action="user.created", object_id=str(person.pk)).exists()

    # Nothing changed in the directory: a second run changes nothing.
    again = directory_sync.sync_directory(full=True)
    assert (again.created, again.updated, again.memberships_added, again.memberships_removed) == (0, 0, 0, 0)
    assert m.User.objects.count() == 301


def test_policies_follow_synced_groups(directory: Organization, make_package: Any) -> None:
    directory_sync.sync_directory()
    engineering = m.DirectoryGroup.objects.get(external_id=f"cn=engineering,{GROUPS}")
    approvers = m.DirectoryGroup.objects.get(external_id=f"cn=approvers,{GROUPS}")
    package = make_package(allowed_target_scope=m.TargetScope.SPECIFIC_USERS)
    stage = approval_stage(package)
    stage.policy.specific_groups.add(engineering)
    f.StageApproverFactory(stage=stage, kind=m.ApproverKind.GROUP, user=None, group=approvers)

    request = submit_request(ldap_user("person007"), package.pk)
    assert request.state == m.RequestState.PENDING_APPROVAL
    assert [u.username for u in request.stage_approvers(stage)] == ["ceo", "person000"]
    with pytest.raises(DomainError):
        submit_request(ldap_user("person150"), package.pk)  # finance, not engineering


def test_disabled_user_loses_access_on_next_sync(
    directory: Organization, slapd: Slapd, make_package: Any, deliver: Any, client: Any
) -> None:
    directory_sync.sync_directory()
    engineering = m.DirectoryGroup.objects.get(external_id=f"cn=engineering,{GROUPS}")
    package = make_package(roles=2, allowed_target_scope=m.TargetScope.SPECIFIC_USERS)
    package.policies.get().specific_groups.add(engineering)
    leaver, stayer = ldap_user("person011"), ldap_user("person012")
    for person in (leaver, stayer):
        submit_request(person, package.pk)
    deliver()
    roles = list(m.ResourceRole.objects.filter(package_links__package=package))
    assert all({"person011", "person012"} <= members_of(role) for role in roles)
    leaver.set_password("pw")
    leaver.save()

    set_disabled(slapd, "person011", True)
    report = directory_sync.sync_directory()

    assert report.mode == m.SyncMode.INCREMENTAL
    assert (report.disabled, report.assignments_removed) == (1, 1)
    leaver.refresh_from_db()
    assert not leaver.is_active
    assignment = m.Assignment.objects.get(target=leaver, package=package)
    assert assignment.state == m.AssignmentState.REMOVED
    removal = m.AssignmentRequest.objects.get(assignment=assignment, request_type=m.RequestType.SYSTEM_REMOVE)
    assert removal.justification == "Disabled in the directory."
    assert removal.state == m.RequestState.DELIVERING

    deliver()  # the engine revokes what the assignment granted
    removal.refresh_from_db()
    assert removal.state == m.RequestState.DELIVERED
    assert all("person011" not in members_of(role) and "person012" in members_of(role) for role in roles)
    assert set(m.RoleGrant.objects.filter(subject=leaver).values_list("state", flat=True)) == {m.GrantState.REVOKED}
    assert m.Assignment.objects.get(target=stayer).state == m.AssignmentState.DELIVERED
    assert not client.login(username="person011", password="pw")

    # Enabled again in the directory: the account may sign in, but the access stays gone.
    set_disabled(slapd, "person011", False)
    report = directory_sync.sync_directory()
    leaver.refresh_from_db()
    assert report.enabled == 1
    assert leaver.is_active
    assert not m.Assignment.objects.filter(target=leaver, state__in=m.AssignmentState.ACTIVE).exists()


def test_deleted_user_noticed_by_full_sync(directory: Organization, slapd: Slapd, make_package: Any) -> None:
    directory_sync.sync_directory()
    package = make_package(allowed_target_scope=m.TargetScope.ALL_MEMBERS)
    gone = ldap_user("person200")
    pending = f.RequestFactory(package=package, target=gone, state=m.RequestState.PENDING_APPROVAL)
    with slapd.admin() as conn:
        conn.delete(f"uid=person200,{PEOPLE}")

    assert directory_sync.sync_directory().missing == 0  # incremental cannot see deletions
    report = directory_sync.sync_directory(full=True)

    assert (report.missing, report.requests_canceled) == (1, 1)
    gone.refresh_from_db()
    assert not gone.is_active
    pending.refresh_from_db()
    assert pending.state == m.RequestState.CANCELED
    assert pending.cancel_reason == "Deleted from the directory."
    assert m.AuditEvent.objects.filter(action="user.deleted_from_directory", object_id=str(gone.pk)).exists()
    assert "person200" not in set(
        m.DirectoryGroup.objects.get(external_id=f"cn=engineering,{GROUPS}").members.values_list("username", flat=True)
    )


def test_incremental_sync_reads_only_what_changed(directory: Organization, slapd: Slapd) -> None:
    # A last change one second after the rest, so the high-water mark's second holds only it.
    time.sleep(1.1)
    modify(slapd, f"uid=ceo,{PEOPLE}", title=["Chief"])
    directory_sync.sync_directory()
    time.sleep(1.1)

    modify(slapd, f"uid=person100,{PEOPLE}", displayName=["Renamed Person"], mail=["renamed@portcullis.example"])
    add_member(slapd, "finance", "person100")
    with slapd.admin() as conn:
        add_person(conn, "newcomer", manager="person100")
    report = directory_sync.sync_directory()

    assert report.mode == m.SyncMode.INCREMENTAL
    assert report.people_read == 3  # ceo (the high-water second), person100, newcomer
    assert report.groups_read == 1
    assert (report.created, report.memberships_added) == (1, 1)
    person = ldap_user("person100")
    assert (person.display_name, person.email) == ("Renamed Person", "renamed@portcullis.example")
    assert ldap_user("newcomer").manager == person
    assert person.directory_groups.filter(display_name="finance").exists()

    # Every LDAP_SYNC_FULL_SYNC_HOURS a full sync runs anyway (it alone sees deletions).
    state = m.DirectorySyncState.objects.get(source="test-directory")
    state.last_full_at = timezone.now() - timezone.timedelta(hours=25)
    state.save()
    assert directory_sync.sync_directory().mode == m.SyncMode.FULL


def test_existing_account_is_linked_by_username(directory: Organization) -> None:
    existing = f.UserFactory(username="person005", display_name="Old name")
    directory_sync.sync_directory()
    existing.refresh_from_db()
    assert existing.display_name == "Person 005"
    assert existing.external_identities.get(provider=m.IdentityProvider.LDAP).dn == f"uid=person005,{PEOPLE}".lower()
    assert m.User.objects.filter(username="person005").count() == 1


def test_a_wrong_base_does_not_deactivate_everyone(directory: Organization, slapd: Slapd, settings: Any) -> None:
    directory_sync.sync_directory()
    with slapd.admin() as conn:
        conn.add(f"ou=empty,{PEOPLE}", ["organizationalUnit"], {"ou": "empty"})
    settings.LDAP_SYNC = sync_settings(slapd, user_base=f"ou=empty,{PEOPLE}")
    before = snapshot()

    with pytest.raises(DirectorySyncError, match=r"would be deactivated.*nothing was changed"):
        directory_sync.sync_directory(full=True)

    assert snapshot() == before
    assert m.User.objects.filter(is_active=True).count() == 301
    state = m.DirectorySyncState.objects.get(source="test-directory")
    assert state.last_outcome == m.SyncOutcome.FAILED
    assert "LDAP_SYNC_USER_BASE" in state.last_error
    assert state.running_since is None


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"bind_password": "wrong"}, "invalid credentials"),
        ({"user_base": f"ou=nowhere,{PEOPLE}"}, "does not exist"),
        ({"url": "ldap://127.0.0.1:{port}"}, "unreachable"),
    ],
    ids=["bad-password", "missing-base", "server-down"],
)
def test_directory_errors_are_clear_and_write_nothing(
    slapd: Slapd, settings: Any, overrides: dict[str, str], message: str
) -> None:
    overrides = {k: v.format(port=free_port()) for k, v in overrides.items()}
    settings.LDAP_SYNC = sync_settings(slapd, **overrides)
    with slapd.admin() as conn:
        add_person(conn, "someone")
    before = snapshot()
    users = m.User.objects.count()

    with pytest.raises(DirectorySyncError, match=message):
        directory_sync.sync_directory()

    assert snapshot() == before
    assert m.User.objects.count() == users
    state = m.DirectorySyncState.objects.get(source="test-directory")
    assert state.last_outcome == m.SyncOutcome.FAILED
    assert message in state.last_error
    with pytest.raises(CommandError, match=message):
        call_command("sync_directory")


def test_two_syncs_never_run_at_once(directory: Organization) -> None:
    m.DirectorySyncState.objects.create(source="test-directory", running_since=timezone.now())
    with pytest.raises(SyncAlreadyRunning):
        directory_sync.sync_directory()
    assert m.User.objects.count() == 0


def test_command_and_beat_task(directory: Organization, capsys: Any) -> None:
    from governance import tasks

    call_command("sync_directory", "--full")
    assert "full sync: 301 people read, 301 created" in capsys.readouterr().out
    assert tasks.sync_directory.apply().get()["mode"] == m.SyncMode.INCREMENTAL


def test_misconfiguration_fails_manage_py_check(settings: Any) -> None:
    settings.LDAP_SYNC = {"url": "http://directory.example", "user_filter": "(objectClass=person"}
    with pytest.raises(SystemCheckError) as raised:
        call_command("check")
    text = str(raised.value)
    assert "LDAP_SYNC_URL must start with ldap://" in text
    assert "LDAP_SYNC_USER_BASE is not set" in text
    assert "LDAP_SYNC_USER_FILTER is not a valid LDAP filter" in text
    with pytest.raises(CommandError, match="LDAP_SYNC_URL must start"):
        call_command("sync_directory")


def test_not_configured_does_nothing(settings: Any) -> None:
    from governance import tasks

    settings.LDAP_SYNC = {"url": ""}
    call_command("check")  # no complaint
    assert tasks.sync_directory.apply().get() == {"configured": False}
    with pytest.raises(CommandError, match="not configured"):
        call_command("sync_directory")


def test_two_entries_with_one_username(slapd: Slapd, settings: Any) -> None:
    settings.LDAP_SYNC = sync_settings(slapd)
    with slapd.admin() as conn:
        add_person(conn, "twin")
        conn.add(f"ou=more,{PEOPLE}", ["organizationalUnit"], {"ou": "more"})
        assert conn.add(f"uid=twin,ou=more,{PEOPLE}", ["inetOrgPerson"], {"cn": "Twin", "sn": "Twin", "uid": "twin"}), (
            conn.result
        )
    report = directory_sync.sync_directory()
    assert report.created == 1
    assert report.skipped == [f"uid=twin,ou=more,{PEOPLE}: another entry already has the username twin."]
    assert m.User.objects.filter(username="twin").count() == 1
