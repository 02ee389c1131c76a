"""Repeated wrong passwords lock that username from that address for a while (django-axes)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from axes.models import AccessAttempt
from django.core.management import call_command
from django.utils import timezone

from governance.services.api_clients import create_api_client
from tests import factories as f

pytestmark = pytest.mark.django_db

LOCKED = "This account is locked for 15 minutes after 5 failed sign-ins."


@pytest.fixture
def alice(db):
    user = f.UserFactory(username="alice")
    user.set_password("right-password")
    user.save()
    return user


def sign_in(client, username, password, address="10.0.0.1"):
    return client.post("/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=address)


def fail(client, times, username="alice", address="10.0.0.1"):
    for _ in range(times):
        response = sign_in(client, username, "wrong", address)
    return response


def test_four_failures_still_allow_the_right_password(client, alice):
    response = fail(client, 4)
    assert response.status_code == 200
    assert "Your username and password didn't match" in response.content.decode()
    response = sign_in(client, "alice", "right-password")
    assert response.status_code == 302
    assert response["Location"] == "/"
    # A success starts the count again.
    assert not AccessAttempt.objects.filter(username="alice").exists()


def test_five_failures_lock_and_the_right_password_is_refused(client, alice):
    response = fail(client, 5)
    assert response.status_code == 429
    page = response.content.decode()
    assert LOCKED in page
    assert 'name="username"' in page  # the login form again, not an error page
    response = sign_in(client, "alice", "right-password")
    assert response.status_code == 429
    assert LOCKED in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_lock_lifts_after_the_cool_off(client, alice):
    with time_machine.travel(timezone.now(), tick=False) as clock:
        fail(client, 5)
        clock.shift(timedelta(minutes=14))
        assert sign_in(client, "alice", "right-password").status_code == 429
        # A try during the lock restarts the cool-off, so wait the full time after it.
        clock.shift(timedelta(minutes=15, seconds=1))
        response = sign_in(client, "alice", "right-password")
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(alice.pk)


def test_other_users_and_other_addresses_are_not_affected(client, alice):
    bob = f.UserFactory(username="bob")
    bob.set_password("bobs-password")
    bob.save()
    fail(client, 5)
    assert sign_in(client, "bob", "bobs-password").status_code == 302
    client.logout()
    # The same username from another address is a different pair.
    assert sign_in(client, "alice", "right-password", address="10.0.0.2").status_code == 302


def test_admin_unlocks_with_axes_reset(client, alice):
    fail(client, 5)
    assert sign_in(client, "alice", "right-password").status_code == 429
    call_command("axes_reset_username", "alice")
    assert sign_in(client, "alice", "right-password").status_code == 302


def test_api_tokens_are_not_locked(client, alice):
    """A personal token of a locked-out person, from the locked-out address, still works."""
    issued = create_api_client(None, "alice-script", username="alice")
    fail(client, 5)
    assert sign_in(client, "alice", "right-password").status_code == 429
    response = client.get("/v1.0/me", HTTP_AUTHORIZATION=f"Bearer {issued.token}", REMOTE_ADDR="10.0.0.1")
    assert response.status_code == 200
    assert response.json()["id"] == str(alice.pk)
