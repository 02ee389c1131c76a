"""The SCIM and webhook connectors against a real scim2-server and a signature-checking receiver."""

from __future__ import annotations

import pytest

from governance import models as m
from governance.connectors import PermanentError, TransientError, for_connector
from governance.connectors.scim import ALREADY_MEMBER
from governance.connectors.webhook import sign, verify
from governance.services import requests
from governance.services.delivery import subject_of, target_of
from tests import factories as f
from tests.delivery.conftest import ldap_package
from tests.targets import SCIM_TOKEN, Listener, Receiver, ScimServer

pytestmark = pytest.mark.django_db


@pytest.fixture
def scim_role(scim_server: ScimServer, scim_connector: m.Connector, catalog: m.Catalog) -> m.ResourceRole:
    group_id = scim_server.add_group("wiki-editors")
    resource = f.ResourceFactory(catalog=catalog, connector=scim_connector, origin_id=group_id, display_name="Wiki")
    return f.ResourceRoleFactory(resource=resource)


@pytest.fixture
def webhook_role(webhook_connector: m.Connector, catalog: m.Catalog) -> m.ResourceRole:
    resource = f.ResourceFactory(
        catalog=catalog, connector=webhook_connector, origin_id="badge-door-3", display_name="Door 3"
    )
    return f.ResourceRoleFactory(resource=resource, origin_id="open", display_name="Open")


class TestScim:
    def test_grant_batch_is_one_patch_and_idempotent(self, scim_server, scim_role):
        people = [f.UserFactory(username=name) for name in ("ana", "ben", "cy")]
        for person in people:
            scim_server.add_user(person.username)
        scim = for_connector(scim_role.resource.connector)
        subjects = [subject_of(p) for p in people]
        assert scim.grant_many(target_of(scim_role), subjects) == {p.pk: None for p in people}
        assert scim_server.member_names(scim_role.resource.origin_id) == {"ana", "ben", "cy"}
        assert set(scim.grant_many(target_of(scim_role), subjects).values()) == {ALREADY_MEMBER}
        assert scim.members(target_of(scim_role)) == {p.pk for p in people}
        scim.revoke_many(target_of(scim_role), subjects[:2])
        assert scim_server.member_names(scim_role.resource.origin_id) == {"cy"}

    def test_unknown_person_and_unknown_group(self, scim_server, scim_role, scim_connector, catalog):
        known = f.UserFactory(username="ana")
        scim_server.add_user("ana")
        stranger = f.UserFactory(username="stranger")
        scim = for_connector(scim_connector)
        result = scim.grant_many(target_of(scim_role), [subject_of(known), subject_of(stranger)])
        assert result[known.pk] is None
        assert isinstance(result[stranger.pk], PermanentError)
        assert "No SCIM user with userName stranger" in result[stranger.pk].message
        ghost = f.ResourceRoleFactory(
            resource=f.ResourceFactory(catalog=catalog, connector=scim_connector, origin_id="no-such-group")
        )
        outcome = scim.grant_many(target_of(ghost), [subject_of(known)])[known.pk]
        assert isinstance(outcome, PermanentError)
        assert "does not exist" in outcome.message

    def test_wrong_token_is_permanent_and_server_down_transient(self, scim_server, scim_role):
        person = f.UserFactory(username="ana")
        scim_server.add_user("ana")
        connector = scim_role.resource.connector
        connector.store_secrets({"token": "wrong"})
        connector.save()
        outcome = for_connector(connector).grant_many(target_of(scim_role), [subject_of(person)])
        assert isinstance(outcome[person.pk], PermanentError)
        assert "refused the token (HTTP 401 Unauthorized" in outcome[person.pk].message
        connector.store_secrets({"token": SCIM_TOKEN})
        connector.save()
        scim_server.stop()
        outcome = for_connector(scim_role.resource.connector).grant_many(target_of(scim_role), [subject_of(person)])
        assert isinstance(outcome[person.pk], TransientError)

    def test_delivered_through_the_engine(self, scim_server, scim_role, make_package, deliver, scim_connector):
        person = f.UserFactory(username="ana")
        scim_server.add_user("ana")
        request = requests.submit_request(person, ldap_package(make_package, scim_role).pk)
        deliver()
        request.refresh_from_db()
        assert request.state == m.RequestState.DELIVERED
        assert scim_server.member_names(scim_role.resource.origin_id) == {"ana"}
        assert "Connected to" in for_connector(scim_connector).test()
        assert [name for _, name in for_connector(scim_connector).search("wiki")] == ["wiki-editors"]


class TestWebhook:
    def test_signed_events_with_a_stable_idempotency_key(
        self, webhook_receiver: Receiver, webhook_role, make_package, requestor, admin, deliver
    ):
        package = ldap_package(make_package, webhook_role)
        request = requests.submit_request(requestor, package.pk)
        deliver()
        request.refresh_from_db()
        assert request.state == m.RequestState.DELIVERED
        [event] = webhook_receiver.events
        grant = m.RoleGrant.objects.get()
        assert event["event"] == "grant"
        assert event["subject"]["username"] == "requestor"
        assert (event["resource"], event["role"]) == ("badge-door-3", "open")
        assert event["idempotencyKey"] == event["headerKey"] == f"{grant.pk}:{grant.generation}:grant"
        assert webhook_receiver.rejected_signatures == 0

        from governance.services import assignments

        assignments.remove_assignment(admin, request.assignment_id)
        deliver()
        assert [e["event"] for e in webhook_receiver.events] == ["grant", "revoke"]

    def test_5xx_is_retried_with_the_same_key(
        self, webhook_receiver: Receiver, webhook_role, make_package, requestor, settings
    ):
        from django.utils import timezone

        from governance.services import delivery

        settings.DELIVERY_RETRY_BASE_SECONDS = 0
        webhook_receiver.fail_next = 2
        requests.submit_request(requestor, ldap_package(make_package, webhook_role).pk)
        for _ in range(3):
            delivery.deliver_batch(now=timezone.now())
        grant = m.RoleGrant.objects.get()
        assert grant.state == m.GrantState.GRANTED
        outcomes = list(grant.attempts_log.order_by("started_at", "id").values_list("outcome", "message"))
        assert [o for o, _ in outcomes] == [m.Outcome.TRANSIENT, m.Outcome.TRANSIENT, m.Outcome.SUCCESS]
        # The status only: what the receiver wrote back ("receiver says no") is never kept.
        assert outcomes[0][1] == "The webhook answered HTTP 503 Service Unavailable."
        assert webhook_receiver.keys() == [f"{grant.pk}:{grant.generation}:grant"]

    def test_4xx_is_permanent_with_its_status(
        self, webhook_receiver: Receiver, webhook_role, make_package, requestor, deliver
    ):
        webhook_receiver.fail_next, webhook_receiver.fail_status = 1, 422
        request = requests.submit_request(requestor, ldap_package(make_package, webhook_role).pk)
        deliver()
        request.refresh_from_db()
        assert request.state == m.RequestState.DELIVERY_FAILED
        assert (
            request.delivery_attempts.get().message == "The webhook refused the change (HTTP 422 Unprocessable Entity)."
        )

    def test_signature_verification(self):
        body = b'{"event":"grant"}'
        header = sign("s3cret", 1_700_000_000, body)
        assert verify("s3cret", header, body, now=1_700_000_010)
        assert not verify("other", header, body, now=1_700_000_010)
        assert not verify("s3cret", header, body + b" ", now=1_700_000_010)
        assert not verify("s3cret", header, body, now=1_700_009_999)  # too old: a replay

    def test_drift_check_skips_what_cannot_be_read(
        self, webhook_receiver, webhook_role, make_package, requestor, deliver
    ):
        from governance.services import delivery

        requests.submit_request(requestor, ldap_package(make_package, webhook_role).pk)
        deliver()
        assert delivery.check_drift().roles_checked == 0


def test_scim_retry_after_is_honoured(listener: Listener, catalog, make_package, requestor, settings):
    """A 429 with Retry-After: 120 waits two minutes, not the 10-second first backoff.

    scim2-server never throttles, so a listener of our own answers 429 to everything.
    """
    from datetime import timedelta

    from django.utils import timezone

    from governance.services import delivery

    settings.DELIVERY_RETRY_BASE_SECONDS = 10
    listener.status, listener.headers = 429, {"Retry-After": "120"}
    scim_connector = f.ConnectorFactory(
        kind="scim", config={"base_url": listener.url, "timeout": 3}, secrets={"token": SCIM_TOKEN}
    )
    role = f.ResourceRoleFactory(resource=f.ResourceFactory(catalog=catalog, connector=scim_connector, origin_id="g"))
    requests.submit_request(requestor, ldap_package(make_package, role).pk)
    now = timezone.now()
    delivery.deliver_batch(now=now)
    grant = m.RoleGrant.objects.get()
    assert grant.state == m.GrantState.PENDING
    assert grant.next_attempt_at == now + timedelta(seconds=120)
    assert "it asks to retry after 120 s" in grant.last_error
