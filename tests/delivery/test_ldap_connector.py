"""The LDAP connector against a real slapd: idempotent, batched, honest about errors."""

from __future__ import annotations

from typing import Any

import ldap3
import pytest

from governance import models as m
from governance.connectors import PermanentError, TransientError, for_connector
from governance.connectors.ldap import ALREADY_MEMBER, NOT_IN_DIRECTORY, LdapConnector
from governance.services.delivery import subject_of, target_of
from tests import factories as f
from tests.ldap_server import ADMIN_PASSWORD, PEOPLE, Slapd

pytestmark = [pytest.mark.ldap, pytest.mark.django_db]


@pytest.fixture
def people(slapd: Slapd) -> list[m.User]:
    names = ["alice", "bob", "carol"]
    slapd.add_people(names)
    return [f.UserFactory(username=name) for name in names]


def connector_for(role: m.ResourceRole) -> LdapConnector:
    impl = for_connector(role.resource.connector)
    assert isinstance(impl, LdapConnector)
    return impl


def test_grant_is_idempotent_and_read_back(slapd, ldap_group, people):
    role = ldap_group("developers")
    ldap = connector_for(role)
    subjects = [subject_of(p) for p in people[:2]]
    assert ldap.grant_many(target_of(role), subjects) == {s.id: None for s in subjects}
    assert slapd.members(role.resource.origin_id) == {"alice", "bob"}
    again = ldap.grant_many(target_of(role), subjects)
    assert set(again.values()) == {ALREADY_MEMBER}
    assert ldap.members(target_of(role)) == {people[0].pk, people[1].pk}


def test_many_members_in_one_modify(slapd, ldap_group, monkeypatch):
    names = [f"user{i}" for i in range(60)]
    slapd.add_people(names)
    users = [f.UserFactory(username=name) for name in names]
    role = ldap_group("everyone")
    calls: list[Any] = []
    real_modify = ldap3.Connection.modify

    def counting_modify(self: ldap3.Connection, dn: str, changes: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(dn)
        return real_modify(self, dn, changes, *args, **kwargs)

    monkeypatch.setattr(ldap3.Connection, "modify", counting_modify)
    result = connector_for(role).grant_many(target_of(role), [subject_of(u) for u in users])
    assert all(outcome is None for outcome in result.values())
    assert calls == [role.resource.origin_id]
    assert slapd.members(role.resource.origin_id) == set(names)


def test_removing_the_last_member_keeps_a_valid_group(slapd, ldap_group, people):
    role = ldap_group("lonely", members=("alice",))
    ldap = connector_for(role)
    assert ldap.revoke_many(target_of(role), [subject_of(people[0])]) == {people[0].pk: None}
    assert slapd.members(role.resource.origin_id) == set()
    assert ldap.members(target_of(role)) == set()
    # The placeholder leaves again when a real member arrives.
    ldap.grant_many(target_of(role), [subject_of(people[1])])
    with slapd.admin() as conn:
        conn.search(role.resource.origin_id, "(objectClass=*)", ldap3.BASE, attributes=["member"])
        assert [str(v) for v in conn.entries[0].member.values] == [f"uid=bob,{PEOPLE}"]


def test_group_of_unique_names(slapd, ldap_group, people):
    role = ldap_group("unique", object_class="groupOfUniqueNames")
    ldap = connector_for(role)
    ldap.grant_many(target_of(role), [subject_of(people[2])])
    assert slapd.members(role.resource.origin_id) == {"carol"}
    ldap.revoke_many(target_of(role), [subject_of(people[2])])
    assert slapd.members(role.resource.origin_id) == set()


def test_revoking_someone_absent_succeeds(slapd, ldap_group, people):
    role = ldap_group("developers", members=("alice",))
    ghost = f.UserFactory(username="ghost")
    result = connector_for(role).revoke_many(target_of(role), [subject_of(people[1]), subject_of(ghost)])
    assert result == {people[1].pk: None, ghost.pk: NOT_IN_DIRECTORY}
    assert slapd.members(role.resource.origin_id) == {"alice"}


def test_errors_say_what_to_fix(slapd, ldap_group, ldap_connector, people, catalog):
    role = ldap_group("developers")
    ldap = connector_for(role)
    stranger = f.UserFactory(username="stranger")
    result = ldap.grant_many(target_of(role), [subject_of(people[0]), subject_of(stranger)])
    assert result[people[0].pk] is None
    error = result[stranger.pk]
    assert isinstance(error, PermanentError)
    assert "No LDAP entry with uid=stranger" in error.message

    missing = f.ResourceRoleFactory(
        resource=f.ResourceFactory(catalog=catalog, connector=ldap_connector, origin_id="cn=nope,ou=groups,dc=x")
    )
    outcome = ldap.grant_many(target_of(missing), [subject_of(people[0])])[people[0].pk]
    assert isinstance(outcome, PermanentError)
    assert outcome.message == "The group cn=nope,ou=groups,dc=x does not exist in the LDAP directory."


def test_bad_credentials_and_missing_password_are_permanent(slapd, ldap_group, people):
    role = ldap_group("developers")
    connector = role.resource.connector
    connector.store_secrets({"password": "wrong"})
    connector.save()
    with pytest.raises(PermanentError, match="invalid credentials"):
        LdapConnector(connector).grant(subject_of(people[0]), target_of(role))
    connector.store_secrets({})
    connector.save()
    with pytest.raises(PermanentError, match="No LDAP bind password is stored for Corporate LDAP"):
        LdapConnector(connector).test()


def test_server_down_is_transient_and_recovers(slapd, ldap_group, people):
    role = ldap_group("developers")
    ldap = connector_for(role)
    ldap.grant_many(target_of(role), [subject_of(people[0])])
    slapd.stop()
    outcome = ldap.grant_many(target_of(role), [subject_of(people[1])])[people[1].pk]
    assert isinstance(outcome, TransientError)
    assert outcome.message.startswith(f"The LDAP server {slapd.url} is unreachable")
    slapd.start()
    assert connector_for(role).grant_many(target_of(role), [subject_of(people[1])]) == {people[1].pk: None}
    assert slapd.members(role.resource.origin_id) == {"alice", "bob"}


def test_test_and_search(slapd, ldap_group, ldap_connector):
    ldap_group("developers")
    ldap_group("designers")
    ldap = for_connector(ldap_connector)
    assert "2 groups under ou=groups" in ldap.test()
    found = ldap.search("dev")
    assert [name for _, name in found] == ["developers"]


def test_password_is_stored_encrypted_only(ldap_connector):
    assert ADMIN_PASSWORD not in str(ldap_connector.config)
    assert ADMIN_PASSWORD not in ldap_connector.encrypted_secrets
    assert ldap_connector.stored_secrets() == {"password": ADMIN_PASSWORD}
