"""Who may manage connectors (issue 13, DESIGN §11): global administrators only.

Everyone else gets 404 on every page that adds, edits, tests or deletes one (today any
signed-in user gets the "new" form); administrators of any kind see the list's names and
health, without links or buttons.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from governance import models as m
from governance.errors import NotFound
from governance.services import connectors as service
from tests import factories as f
from tests.clients import signed_in

pytestmark = pytest.mark.django_db

NOT_MANAGERS = [
    "governance_admin",
    "user_admin",
    "catalog_owner",
    "pkg_manager",
    "assignment_manager",
    "catalog_reader",
    "requestor",
]
SEE_THE_LIST = {"admin", "governance_admin", "user_admin", "catalog_owner", "pkg_manager", "assignment_manager"}
SEE_THE_LIST |= {"catalog_reader"}


@pytest.fixture
def webhook(db: None) -> m.Connector:
    return f.ConnectorFactory(
        kind="webhook",
        display_name="Badge system",
        config={"url": "https://hooks.example/badges", "timeout": 5},
        secrets={"secret": "badge-secret"},
    )


def management_calls(connector: m.Connector) -> list[tuple[str, str, dict[str, str]]]:
    detail = f"/governance/connectors/{connector.pk}/"
    form = {
        "kind": "webhook",
        "display_name": "Mine",
        "drift_mode": "report",
        "url": "https://x.example",
        "timeout": "5",
    }
    return [
        ("get", "/governance/connectors/new/", {}),
        ("get", "/governance/connectors/new/?kind=scim", {}),
        ("get", "/governance/connectors/new/?kind=ldap", {}),
        ("post", "/governance/connectors/new/?kind=webhook", {**form, "secret": "x"}),
        ("get", detail, {}),
        ("post", detail, form),
        ("post", f"{detail}test/", {}),
        ("post", f"{detail}delete/", {}),
    ]


@pytest.mark.parametrize("persona", NOT_MANAGERS)
def test_everyone_but_global_administrators_gets_404(persona, request, webhook):
    client = signed_in(request.getfixturevalue(persona))
    for method, url, data in management_calls(webhook):
        response = getattr(client, method)(url, data)
        assert response.status_code == 404, (persona, method, url)
    webhook.refresh_from_db()
    assert webhook.display_name == "Badge system"
    assert m.Connector.objects.filter(kind="webhook").count() == 1


def test_a_global_administrator_manages_them(admin, webhook):
    client = signed_in(admin)
    assert client.get("/governance/connectors/new/?kind=scim").status_code == 200
    assert client.get(f"/governance/connectors/{webhook.pk}/").status_code == 200
    assert client.post(f"/governance/connectors/{webhook.pk}/delete/").status_code == 302
    assert not m.Connector.objects.filter(pk=webhook.pk).exists()


@pytest.mark.parametrize("persona", ["governance_admin", "user_admin", "catalog_owner"])
def test_the_services_refuse_others_too(persona, request, webhook):
    actor = request.getfixturevalue(persona)
    with pytest.raises(NotFound):
        service.save_connector(actor, display_name="Mine", kind="webhook", config={"url": "https://x.example"})
    with pytest.raises(NotFound):
        service.test_connection(actor, webhook.pk)
    with pytest.raises(NotFound):
        service.delete_connector(actor, webhook.pk)


@pytest.mark.parametrize("persona", [*sorted(SEE_THE_LIST), "requestor", "outsider"])
def test_the_list_shows_names_and_health_to_administrators(persona, request, webhook, catalog):
    grant = f.RoleGrantFactory()
    f.DeliveryAttemptFactory(
        grant=grant, connector=webhook, outcome=m.Outcome.SUCCESS, started_at=timezone.now() - timedelta(hours=2)
    )
    f.DeliveryAttemptFactory(grant=grant, connector=webhook, outcome=m.Outcome.PERMANENT, started_at=timezone.now())
    response = signed_in(request.getfixturevalue(persona)).get("/governance/connectors/")
    if persona not in SEE_THE_LIST:
        assert response.status_code == 404
        return
    page = response.content.decode()
    assert response.status_code == 200
    assert "Badge system" in page
    assert "Failing" in page  # its most recent attempt
    manages = persona == "admin"
    assert ("Add connector" in page) is manages
    assert ("Test connection" in page) is manages
    assert (f"/governance/connectors/{webhook.pk}/" in page) is manages


def test_the_navigation_links_the_list_for_administrators_only(catalog_reader, requestor):
    assert b'href="/governance/connectors/"' in signed_in(catalog_reader).get("/governance/").content
    assert b'href="/governance/connectors/"' not in signed_in(requestor).get("/myaccess/").content


@pytest.mark.parametrize("rows", [1, 20])
def test_the_list_costs_the_same_for_1_and_20_connectors(rows, catalog_reader, django_assert_num_queries):
    grant = f.RoleGrantFactory()
    for n in range(rows):
        connector = f.ConnectorFactory(kind="webhook", display_name=f"Hook {n}")
        f.DeliveryAttemptFactory(grant=grant, connector=connector, outcome=m.Outcome.SUCCESS)
    client = signed_in(catalog_reader)
    # session, user, two role queries, the list (one query, health included)
    with django_assert_num_queries(5):
        assert client.get("/governance/connectors/").status_code == 200
