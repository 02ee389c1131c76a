"""The admin portal's API clients page: global administrators list and revoke tokens."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from governance import models as m
from governance.services.api_clients import create_api_client
from tests import factories as f
from tests.api.conftest import EM

pytestmark = pytest.mark.django_db


def _signed_in(user: m.User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_admin_sees_clients_and_revokes_one(admin: m.User, catalog: m.Catalog, requestor: m.User) -> None:
    app = create_api_client(None, "nightly-sync", role="catalog_reader", catalog_name="Engineering")
    create_api_client(None, "laptop", username="requestor")
    page = _signed_in(admin).get("/governance/api-clients/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "nightly-sync" in html
    assert "Catalog reader of Engineering" in html
    assert f"Acts as {requestor}" in html
    assert app.token not in html, "the token is shown only once, by the command"
    assert app.client.token_prefix in html
    assert 'href="/governance/api-clients/" aria-current="page">API clients' in html

    revoked = _signed_in(admin).post(f"/governance/api-clients/{app.client.pk}/revoke/", follow=True)
    assert "Revoked the token of nightly-sync" in revoked.content.decode()
    app.client.refresh_from_db()
    assert app.client.revoked_at is not None
    assert Client().get(f"{EM}/catalogs", HTTP_AUTHORIZATION=f"Bearer {app.token}").status_code == 401
    event = m.AuditEvent.objects.get(action="api_client.revoked")
    assert event.actor == admin


def test_filters_in_the_query_string_and_htmx_partial(admin: m.User) -> None:
    create_api_client(None, "alpha", role="global_admin")
    beta = create_api_client(None, "beta", role="global_admin")
    from governance.services.api_clients import revoke_api_client

    revoke_api_client(None, beta.client.pk)
    client = _signed_in(admin)
    active = client.get("/governance/api-clients/?status=active").content.decode()
    assert "alpha" in active
    assert "beta" not in active
    partial = client.get("/governance/api-clients/?q=bet", HTTP_HX_REQUEST="true").content.decode()
    assert "beta" in partial
    assert "<html" not in partial


# Only global administrators: a token can act with any role (permissions.MANAGE_API_CLIENTS).
@pytest.mark.parametrize("persona", ["governance_admin", "user_admin", "catalog_owner", "requestor"])
def test_others_get_404_and_cannot_revoke(persona: str, request: Any) -> None:
    user = request.getfixturevalue(persona)
    issued = create_api_client(None, "robot", role="global_admin")
    client = _signed_in(user)
    assert client.get("/governance/api-clients/").status_code == 404
    assert client.post(f"/governance/api-clients/{issued.client.pk}/revoke/").status_code == 404
    issued.client.refresh_from_db()
    assert issued.client.revoked_at is None


def test_revoke_is_post_only(admin: m.User) -> None:
    issued = create_api_client(None, "robot", role="global_admin")
    assert _signed_in(admin).get(f"/governance/api-clients/{issued.client.pk}/revoke/").status_code == 405


@pytest.mark.parametrize("rows", [1, 50])
def test_list_query_count_is_constant(admin: m.User, rows: int, django_assert_max_num_queries: Any) -> None:
    catalog = f.CatalogFactory()
    for n in range(rows):
        if n % 2:
            create_api_client(None, f"app-{n}", role="package_manager", catalog_name=catalog.display_name)
        else:
            create_api_client(None, f"me-{n}", username=f.UserFactory().username)
    client = _signed_in(admin)
    with django_assert_max_num_queries(6):
        assert client.get("/governance/api-clients/").status_code == 200
