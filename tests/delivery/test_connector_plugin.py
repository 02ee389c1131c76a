"""A connector shipped as a pip package: the example plugin (examples/portcullis-connector-example)
installed by pip, offered by the portal with its own fields, configured with a secret, and
delivering through a real worker; and what happens when a plugin is missing or broken."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest

from governance import models as m
from governance.checks import check_connector_plugins
from governance.connectors import BaseConnector, Field, PermanentError, registry
from governance.connectors.ldap import LdapConnector
from governance.errors import ValidationFailed
from governance.services import connectors as connector_service
from governance.services import delivery, requests
from tests import factories as f
from tests.clients import signed_in
from tests.conftest import snapshot
from tests.delivery.conftest import ldap_package
from tests.plugins import InstalledPlugin
from tests.targets import ROSTER_API_KEY, RosterServer
from tests.workers import WorkerFactory, wait_for

pytestmark = pytest.mark.django_db


def roster_form(target: str, **changes: str) -> dict[str, str]:
    data = {
        "kind": "roster",
        "display_name": "Team roster",
        "enabled": "on",
        "drift_mode": "report",
        "url": target,
        "api_key": ROSTER_API_KEY,
        "user_match": "username",
        "timeout": "5",
    }
    data.update(changes)
    return data


def roster_connector(admin: m.User, roster: RosterServer) -> m.Connector:
    return connector_service.save_connector(
        admin,
        display_name="Team roster",
        kind="roster",
        config={"url": roster.url, "user_match": "username", "timeout": 5},
        secrets={"api_key": ROSTER_API_KEY},
    )


def team_role(catalog: m.Catalog, connector: m.Connector, roster: RosterServer, team: str) -> m.ResourceRole:
    roster.add_team(team, team.title())
    resource = f.ResourceFactory(catalog=catalog, connector=connector, origin_id=team, display_name=team.title())
    return f.ResourceRoleFactory(resource=resource)


# --- Installed: offered with its fields, configured with a secret, delivering ----------------


def test_the_plugin_is_offered_with_its_own_fields_while_it_is_installed(admin, example_plugin: InstalledPlugin):
    client = signed_in(admin)
    choices = client.get("/governance/connectors/new/").content.decode()
    assert 'value="roster"' in choices
    assert "Team roster (example plugin)" in choices

    form = client.get("/governance/connectors/new/?kind=roster").content.decode()
    for label in ("Roster URL", "API key", "Matches Portcullis field", "Timeout (seconds)"):
        assert label in form
    assert 'type="password" name="api_key"' in form
    assert "The key the roster service issued for Portcullis." in form

    example_plugin.uninstall()
    assert 'value="roster"' not in client.get("/governance/connectors/new/").content.decode()
    # Asking for the kind by name shows the choices again, without it.
    page = client.get("/governance/connectors/new/?kind=roster").content.decode()
    assert "Kind of target system" in page
    assert "Roster URL" not in page


def test_its_fields_check_what_is_typed(admin, example_plugin: InstalledPlugin):
    client = signed_in(admin)
    before = snapshot()
    for field, value, message in (
        ("url", "ftp://roster.example", "Roster URL must be a http or https URL with a host."),
        ("url", "http://169.254.169.254/api", "address not allowed"),
        ("api_key", "", "API key is required."),
        ("user_match", "shoe size", "Select a valid choice"),
        ("timeout", "0", "Timeout (seconds) must be between 1 and 30."),
    ):
        response = client.post(
            "/governance/connectors/new/?kind=roster", roster_form("http://roster.example", **{field: value})
        )
        assert response.status_code == 200
        assert message in response.content.decode(), field
    assert snapshot() == before


@pytest.mark.worker
def test_configured_with_a_secret_it_delivers_through_a_real_worker(
    admin,
    catalog: m.Catalog,
    requestor: m.User,
    make_package,
    example_plugin: InstalledPlugin,
    roster_server: RosterServer,
    make_worker: WorkerFactory,
):
    client = signed_in(admin)
    assert client.post("/governance/connectors/new/?kind=roster", roster_form(roster_server.url)).status_code == 302
    connector = m.Connector.objects.get(display_name="Team roster")
    assert connector.kind == "roster"
    assert connector.stored_secrets() == {"api_key": ROSTER_API_KEY}
    assert ROSTER_API_KEY not in str(connector.config)
    page = client.get(f"/governance/connectors/{connector.pk}/").content.decode()
    assert ROSTER_API_KEY not in page
    assert "Replace api key" in page

    roster_server.add_team("design", "Design", members=("someone-else",))
    tested = client.post(f"/governance/connectors/{connector.pk}/test/", follow=True).content.decode()
    assert f"Test connection: Connected to the roster at {roster_server.url}; 1 teams." in tested
    picker = client.get(f"/governance/catalogs/{catalog.pk}/resources/add/", {"connector": connector.pk, "q": "des"})
    assert "Design" in picker.content.decode()

    resource = f.ResourceFactory(catalog=catalog, connector=connector, origin_id="design", display_name="Design")
    package = ldap_package(make_package, f.ResourceRoleFactory(resource=resource))
    worker = make_worker(**example_plugin.worker_env())
    request = requests.submit_request(requestor, package.pk)

    def delivered() -> bool:
        request.refresh_from_db()
        return request.state == m.RequestState.DELIVERED

    wait_for(delivered, message=f"the request to be delivered; worker log:\n{worker.log()}")
    assert roster_server.members("design") == {"someone-else", "requestor"}
    assert roster_server.refused_keys == 0
    attempt = m.DeliveryAttempt.objects.get(request=request)
    assert (attempt.outcome, attempt.message) == (m.Outcome.SUCCESS, "Granted.")

    # members() reads the roster for the drift check.
    roster_server.teams["design"].discard("requestor")
    report = delivery.check_drift([connector.pk])
    assert (report.roles_checked, report.drifted, report.errors) == (1, 1, [])


def test_a_batch_is_one_read_and_one_change(
    admin, catalog: m.Catalog, example_plugin: InstalledPlugin, roster_server: RosterServer, make_package, deliver
):
    connector = roster_connector(admin, roster_server)
    role = team_role(catalog, connector, roster_server, "ops")
    roster_server.teams["ops"].add("ann")
    package = ldap_package(make_package, role)
    people = [f.UserFactory(username=name) for name in ("ann", "bob", "cat")]
    for person in people:
        requests.submit_request(person, package.pk)
    deliver()
    assert roster_server.members("ops") == {"ann", "bob", "cat"}
    notes = dict(m.DeliveryAttempt.objects.values_list("grant__subject__username", "message"))
    assert notes == {"ann": "Already on the team.", "bob": "Granted.", "cat": "Granted."}


# --- Missing: "plugin not installed", never a 500 -----------------------------------------


def test_a_connector_whose_plugin_is_gone_says_so_and_its_deliveries_fail_permanently(
    admin,
    catalog: m.Catalog,
    requestor: m.User,
    make_package,
    example_plugin: InstalledPlugin,
    roster_server: RosterServer,
    deliver,
):
    connector = roster_connector(admin, roster_server)
    package = ldap_package(make_package, team_role(catalog, connector, roster_server, "design"))
    example_plugin.uninstall()

    client = signed_in(admin)
    listing = client.get("/governance/connectors/")
    assert listing.status_code == 200
    assert "roster (plugin not installed)" in listing.content.decode()
    page = client.get(f"/governance/connectors/{connector.pk}/")
    assert page.status_code == 200
    assert "Connector plugin not installed: no installed package provides the kind &#x27;roster&#x27;" in (
        page.content.decode()
    )
    tested = client.post(f"/governance/connectors/{connector.pk}/test/", follow=True)
    assert "Test connection: Connector plugin not installed" in tested.content.decode()

    request = requests.submit_request(requestor, package.pk)
    deliver()
    request.refresh_from_db()
    assert request.state == m.RequestState.DELIVERY_FAILED
    attempt = m.DeliveryAttempt.objects.get(request=request)
    assert attempt.outcome == m.Outcome.PERMANENT
    assert attempt.message.startswith("Connector plugin not installed: no installed package provides the kind 'roster'")
    assert roster_server.members("design") == set()
    assert delivery.check_drift().errors == [f"Team roster: {attempt.message}"]

    # It can still be disabled (its settings and secret are kept for when the plugin returns).
    config = dict(connector.config)
    saved = client.post(
        f"/governance/connectors/{connector.pk}/",
        {"kind": "roster", "display_name": "Team roster", "drift_mode": "report"},
    )
    assert saved.status_code == 302
    connector.refresh_from_db()
    assert (connector.enabled, connector.config, connector.stored_secrets()) == (
        False,
        config,
        {"api_key": ROSTER_API_KEY},
    )
    # ...but no new one added.
    with pytest.raises(ValidationFailed, match="Choose a kind of connector"):
        roster_connector(admin, roster_server)


# --- Broken: left out, and said so ---------------------------------------------------------


class LdapLookalike(BaseConnector):
    kind = "ldap"
    label = "Not the real LDAP"


class Renamed(BaseConnector):
    kind = "renamed"


class ClashingFields(BaseConnector):
    kind = "clashing"
    fields = (Field("url", "URL", "url"), Field("enabled", "Enabled", "bool"))


def plugin(name: str, value: str) -> EntryPoint:
    return EntryPoint(name, value, registry.ENTRY_POINT_GROUP)


def test_a_plugin_that_cannot_be_used_is_left_out_and_reported(admin, monkeypatch: pytest.MonkeyPatch):
    here = __name__
    built = registry.build(
        [
            plugin("broken", "portcullis_no_such_plugin:Connector"),
            plugin("ldap", f"{here}:LdapLookalike"),
            plugin("other", f"{here}:Renamed"),
            plugin("clashing", f"{here}:ClashingFields"),
            plugin("helper", f"{here}:signed_in"),
        ]
    )
    assert built.classes["ldap"] is LdapConnector  # a plugin never replaces a kind already there
    assert set(built.classes) == {"builtin", "ldap", "scim", "webhook"}
    assert built.problems == {
        "broken": "ModuleNotFoundError: No module named 'portcullis_no_such_plugin'",
        "ldap": f"{here}:LdapLookalike (entry point 'ldap') has kind 'ldap', which "
        "governance.connectors.ldap already provides.",
        "other": f"{here}:Renamed (entry point 'other') has kind 'renamed': the entry point must be named by its kind.",
        "clashing": f"{here}:ClashingFields (entry point 'clashing'): field names repeated or reserved: enabled.",
        "helper": f"{here}:signed_in (entry point 'helper') is not a subclass of governance.connectors.BaseConnector.",
    }

    monkeypatch.setattr(registry, "current", lambda: built)
    warnings = check_connector_plugins()
    assert [w.id for w in warnings] == ["portcullis.W130"] * 5
    assert "Connector plugin left out: ModuleNotFoundError" in warnings[0].msg
    page = signed_in(admin).get("/governance/connectors/").content.decode()
    assert "Connector plugin left out: ModuleNotFoundError: No module named" in page

    connector = f.ConnectorFactory(kind="broken", display_name="Broken")
    with pytest.raises(PermanentError, match="The connector plugin for kind 'broken' could not be loaded: Module"):
        registry.for_connector(connector)


def test_no_plugin_means_no_warning():
    assert registry.reload().problems == {}
    assert check_connector_plugins() == []


def test_the_plugins_calls_go_through_the_outbound_rules(
    admin, example_plugin: InstalledPlugin, roster_server: RosterServer, settings
):
    connector = roster_connector(admin, roster_server)
    settings.OUTBOUND_ALLOW_LOOPBACK = False
    worked, message = connector_service.test_connection(admin, connector.pk)
    assert not worked
    assert message == (
        "Team roster could not be reached (the connection test): address not allowed: loopback (127.0.0.1)."
    )
