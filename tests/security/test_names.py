"""Names and texts are held to one rule wherever they are entered (DESIGN §11).

A carriage return or newline in a name (a package's, a catalog's) used to be stored as typed
and then stopped every email about it: a mail header cannot hold one. Names are now one line,
refused with a form error in the portal, a 400 in the API (tests/security/test_api_input.py)
and a ValidationFailed from every service; texts may hold line breaks and tabs, nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from governance import models as m
from governance.connectors.builtin import builtin_connector
from governance.errors import ValidationFailed
from governance.services import (
    api_clients,
    approvals,
    assignments,
    catalogs,
    connectors,
    organizations,
    outbox,
    packages,
    policies,
    requests,
    sharing,
)
from governance.services.text import MAX_NAME, MAX_TEXT, one_line
from tests import factories as f
from tests.conftest import PackageMaker, snapshot

pytestmark = pytest.mark.django_db

BAD_NAME = "Tools\rAdmin"


@pytest.fixture
def package(make_package: PackageMaker, approver: m.User) -> m.AccessPackage:
    return make_package(name="Developer tools", approvers=[approver])


# --- The portal: a form error next to the field, nothing written ---------------------------

Post = tuple[Callable[[Any], str], Callable[[Any], dict[str, Any]], str]


def _policy(name: str = "All members", description: str = "") -> dict[str, Any]:
    return {
        "display_name": name,
        "description": description,
        "allowed_target_scope": m.TargetScope.ALL_MEMBERS,
        "expiration_type": m.ExpirationType.AFTER_DAYS,
        "expiration_days": "30",
        "enabled": "on",
    }


PORTAL: dict[str, Post] = {
    "new catalog": (
        lambda w: reverse("governance:catalog_create"),
        lambda w: {"display_name": BAD_NAME},
        "display_name",
    ),
    "edit catalog": (
        lambda w: reverse("governance:catalog_edit", args=[w.catalog.pk]),
        lambda w: {"display_name": "Engineering\n", "description": "a\x1bb", "state": "published"},
        "description",
    ),
    "edit catalog name": (
        lambda w: reverse("governance:catalog_edit", args=[w.catalog.pk]),
        lambda w: {"display_name": "Engi\nneering", "state": "published"},
        "display_name",
    ),
    "new package": (
        lambda w: reverse("governance:package_create"),
        lambda w: {"catalog": w.catalog.pk, "display_name": "Tools\nBcc: x@example.com"},
        "display_name",
    ),
    "edit package": (
        lambda w: reverse("governance:package_edit", args=[w.pk]),
        lambda w: {"display_name": "Developer\x85tools"},
        "display_name",
    ),
    "new policy": (
        lambda w: reverse("governance:policy_create", args=[w.pk]),
        lambda w: _policy(name="All\u2028members"),
        "display_name",
    ),
    "new policy description": (
        lambda w: reverse("governance:policy_create", args=[w.pk]),
        lambda w: _policy(description="\x07"),
        "description",
    ),
    "new organization": (
        lambda w: reverse("governance:organization_create"),
        lambda w: {"display_name": "Fabri\tkam", "domains": "fabrikam.example", "state": "configured"},
        "display_name",
    ),
    "new connector": (
        lambda w: reverse("connectors:new") + "?kind=webhook",
        lambda w: {"display_name": "Ho\r\nok", "drift_mode": "report", "url": "http://127.0.0.1:9/x"},
        "display_name",
    ),
    "share a link": (
        lambda w: reverse("governance:package_share", args=[w.pk]),
        lambda w: {"recipients": [str(f.UserFactory().pk)], "note": "see\x00this"},
        "note",
    ),
}


@pytest.mark.parametrize("case", PORTAL.values(), ids=PORTAL.keys())
def test_the_portal_refuses_control_characters_next_to_the_field(
    case: Post, package: m.AccessPackage, admin: m.User, client: Client
) -> None:
    url, data, field = case
    client.force_login(admin)
    before = snapshot()
    catalogs_before = list(m.Catalog.objects.values_list("display_name", "description"))
    response = client.post(url(package), data(package))
    assert response.status_code == 200, response.headers.get("Location")
    errors = response.context["form"].errors
    assert field in errors, errors
    assert any("control character" in e or "NUL" in e for e in errors[field]), errors[field]
    assert snapshot() == before
    assert list(m.Catalog.objects.values_list("display_name", "description")) == catalogs_before


def test_a_directory_group_named_over_two_lines_is_added_as_one(
    package: m.AccessPackage, admin: m.User, client: Client
) -> None:
    """The person only picked the group from a search: its name is kept, on one line."""
    group = f.DirectoryGroupFactory(display_name="Build\nagents")
    client.force_login(admin)
    data = {
        "connector": builtin_connector().pk,
        "origin_id": str(group.pk),
        "display_name": group.display_name,
        "resource_type": "group",
    }
    response = client.post(reverse("governance:catalog_resource_add", args=[package.catalog_id]), data)
    assert response.status_code == 302
    assert m.Resource.objects.get(origin_id=str(group.pk)).display_name == "Build agents"


def test_the_portal_takes_lines_and_tabs_in_a_description(admin: m.User, client: Client) -> None:
    client.force_login(admin)
    response = client.post(
        reverse("governance:catalog_create"), {"display_name": "Sales", "description": "One\r\nTwo\tcolumns"}
    )
    assert response.status_code == 302
    assert m.Catalog.objects.get(display_name="Sales").description == "One\r\nTwo\tcolumns"


def test_my_access_refuses_a_control_character_in_a_justification(
    package: m.AccessPackage, requestor: m.User, client: Client
) -> None:
    client.force_login(requestor)
    before = snapshot()
    response = client.post(reverse("myaccess:request_form", args=[package.pk]), {"justification": "need\x1b[2J"})
    assert response.status_code == 200
    assert "control character" in str(response.context["form"].errors["justification"])
    assert snapshot() == before


def test_the_portal_names_the_limit_of_a_description(admin: m.User, client: Client) -> None:
    client.force_login(admin)
    response = client.post(reverse("governance:catalog_create"), {"display_name": "Sales", "description": "d" * 4001})
    assert response.status_code == 200
    assert "at most 4000 characters" in str(response.context["form"].errors["description"])


# --- The services: whoever calls them ----------------------------------------------------------

Call = Callable[[Any], object]


def _spec(**changes: Any) -> policies.PolicySpec:
    spec = policies.PolicySpec(display_name="All", allowed_target_scope=m.TargetScope.ALL_MEMBERS)
    for name, value in changes.items():
        setattr(spec, name, value)
    return spec


SERVICES: dict[str, tuple[Call, str]] = {
    "create_catalog": (lambda w: catalogs.create_catalog(w.admin, display_name=BAD_NAME), "display_name"),
    "update_catalog": (
        lambda w: catalogs.update_catalog(w.admin, w.package.catalog_id, display_name=BAD_NAME),
        "display_name",
    ),
    "create_package": (
        lambda w: packages.create_package(w.admin, w.package.catalog_id, display_name=BAD_NAME),
        "display_name",
    ),
    "update_package description": (
        lambda w: packages.update_package(w.admin, w.package.pk, description="\x1b[31mred"),
        "description",
    ),
    "save_policy": (
        lambda w: policies.save_policy(w.admin, w.package.pk, _spec(display_name=BAD_NAME)),
        "display_name",
    ),
    "save_policy 257 characters": (
        lambda w: policies.save_policy(w.admin, w.package.pk, _spec(display_name="p" * (MAX_NAME + 1))),
        "display_name",
    ),
    "save_policy description": (
        lambda w: policies.save_policy(w.admin, w.package.pk, _spec(description="x" * (MAX_TEXT + 1))),
        "description",
    ),
    "create_organization": (
        lambda w: organizations.create_organization(w.admin, display_name=BAD_NAME, domains=["fabrikam.example"]),
        "display_name",
    ),
    "add_resource": (
        lambda w: catalogs.add_resource(
            w.admin,
            w.package.catalog_id,
            connector_id=builtin_connector().pk,
            origin_id=str(f.DirectoryGroupFactory().pk),
            display_name=BAD_NAME,
        ),
        "display_name",
    ),
    "add_resource role name": (
        lambda w: catalogs.add_resource(
            w.admin,
            w.package.catalog_id,
            connector_id=builtin_connector().pk,
            origin_id=str(f.DirectoryGroupFactory().pk),
            display_name="Builders",
            roles=[("member", "Mem\nber")],
        ),
        "roles",
    ),
    "save_connector": (
        lambda w: connectors.save_connector(
            w.admin, display_name=BAD_NAME, kind="webhook", config={"url": "http://127.0.0.1:9/"}
        ),
        "display_name",
    ),
    "create_api_client": (lambda w: api_clients.create_api_client(w.admin, BAD_NAME, role="global_admin"), "name"),
    "submit_request": (
        lambda w: requests.submit_request(w.requestor, w.package.pk, justification="x" * 2_000_000),
        "justification",
    ),
    "submit_request surrogate": (
        lambda w: requests.submit_request(w.requestor, w.package.pk, justification="x\ud800"),
        "justification",
    ),
    "decide": (
        lambda w: approvals.decide(w.approver, w.pending.pk, m.Decision.APPROVE, "ok\x1b"),
        "justification",
    ),
    "cancel_request_as_admin": (
        lambda w: requests.cancel_request_as_admin(w.admin, w.pending.pk, "r" * (MAX_TEXT + 1)),
        "reason",
    ),
    "create_direct_assignments": (
        lambda w: assignments.create_direct_assignments(
            w.admin, w.package.pk, policy_id=w.direct.pk, target_ids=[w.newcomer.pk], justification="\x00"
        ),
        "justification",
    ),
    "email_package_link": (
        lambda w: sharing.email_package_link(w.admin, w.package.pk, [w.newcomer.pk], "hello\x1b"),
        "note",
    ),
}


class World:
    def __init__(self, package: m.AccessPackage, admin: m.User, approver: m.User, requestor: m.User) -> None:
        self.package, self.admin, self.approver, self.requestor = package, admin, approver, requestor
        self.direct = f.PolicyFactory(package=package, allowed_target_scope=m.TargetScope.NO_ONE)
        self.newcomer = f.UserFactory(username="newcomer")
        self.pending = requests.submit_request(f.UserFactory(username="waiting"), package.pk, justification="x")


@pytest.mark.parametrize("case", SERVICES.values(), ids=SERVICES.keys())
def test_every_service_refuses_what_a_name_or_text_may_not_hold(
    case: tuple[Call, str], package: m.AccessPackage, admin: m.User, approver: m.User, requestor: m.User
) -> None:
    call, field = case
    world = World(package, admin, approver, requestor)
    before = snapshot()
    with pytest.raises(ValidationFailed) as refused:
        call(world)
    assert refused.value.field == field
    assert snapshot() == before


def test_the_api_client_command_refuses_a_name_with_a_line_break() -> None:
    with pytest.raises(CommandError, match="control character"):
        call_command("create_api_client", "deploy\nbot", "--role", "global_admin")
    assert not m.ApiClient.objects.exists()


def test_the_database_columns_hold_the_portal_limit() -> None:
    """The one limit (services/text.py) is what every name column can store."""
    for model in (m.Catalog, m.AccessPackage, m.AssignmentPolicy, m.ConnectedOrganization, m.Resource, m.Connector):
        assert model._meta.get_field("display_name").max_length == MAX_NAME, model


# --- Email: a name stored before the rule never stops a message ----------------------------------


@pytest.mark.parametrize("name", ["Tools\rAdmin", "Tools\r\nBcc: attacker@example.com", "Tools\x0bAdmin"])
def test_an_old_name_with_a_line_break_still_gets_its_email_sent(
    name: str, make_package: PackageMaker, approver: m.User, requestor: m.User, settings: Any
) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    package = make_package(name="placeholder", approvers=[approver])
    m.AccessPackage.objects.filter(pk=package.pk).update(display_name=name)  # as stored before the rule
    requests.submit_request(requestor, package.pk, justification="release")
    email = m.OutboundEmail.objects.get(kind="approval_needed")
    assert outbox.send_outbound_email(email.pk) is True, email.last_error
    [sent] = mail.outbox
    assert "\r" not in sent.subject
    assert "\n" not in sent.subject
    assert "Tools" in sent.subject
    assert sent.to == [approver.email]
    assert sent.bcc == []
    assert sent.message().get_all("Bcc") is None


def test_one_line() -> None:
    assert one_line("  Tools\r\n\tAdmin\x1b \u2028 x\ud800 ") == "Tools Admin x\ufffd"
