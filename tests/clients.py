"""A Django test client signed in as someone: the one helper every view test starts from."""

from __future__ import annotations

from django.test import Client

from governance import models as m


def signed_in(user: m.User, client: Client | None = None) -> Client:
    """``client`` (a new one by default) with ``user`` signed in."""
    client = client or Client()
    client.force_login(user)
    return client
