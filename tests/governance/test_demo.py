"""`load_demo` is idempotent and creates exactly what DESIGN §9 promises."""

from __future__ import annotations

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command

from governance import models as m
from governance.permissions import Action, can_in_catalog, discoverable_packages
from tests.conftest import snapshot

pytestmark = pytest.mark.django_db

PEOPLE = ["admin", "govadmin", "owner", "pkgmanager", "assignmgr", "requestor", "approver", "outsider", "partner"]


@pytest.fixture
def demo() -> None:
    call_command("load_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115


def test_idempotent(demo: None) -> None:
    before = snapshot()
    users = m.User.objects.count()
    call_command("load_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert snapshot() == before
    assert m.User.objects.count() == users


def test_what_governance_manages_is_made_through_the_services(demo: None) -> None:
    """The audit trail shows the administrator making the organization, the catalog and its
    roles, resources and packages: the services made them, not rows written by hand."""
    made = m.AuditEvent.objects.filter(actor__username="admin")
    assert set(made.values_list("action", flat=True)) >= {
        "organization.created",
        "catalog.created",
        "catalog.role_added",
        "catalog.role_removed",
        "resource.added",
        "package.created",
        "package.role_added",
    }
    # The creator owns a new catalog; the demo hands it to `owner` and its two managers.
    added = [e.data["user"] for e in made.filter(action="catalog.role_added")]
    assert sorted(added) == ["admin", "assignmgr", "owner", "pkgmanager"]
    assert [e.data["user"] for e in made.filter(action="catalog.role_removed")] == ["admin"]
    assert made.filter(action="organization.created", object_repr="Contoso").exists()


def test_people_and_their_roles(demo: None) -> None:
    for username in PEOPLE:
        assert authenticate(username=username, password="portcullis") is not None, username
    users = {u.username: u for u in m.User.objects.all()}
    for username in PEOPLE:
        expected = "partner@contoso.example" if username == "partner" else f"{username}@portcullis.example"
        assert users[username].email == users[username].user_principal_name == expected
    engineering = m.Catalog.objects.get(display_name="Engineering")
    assert m.DirectoryRoleAssignment.objects.filter(user=users["admin"], role="global_admin").exists()
    assert m.DirectoryRoleAssignment.objects.filter(user=users["govadmin"], role="governance_admin").exists()
    roles = set(engineering.role_assignments.values_list("user__username", "role"))
    assert roles == {("owner", "owner"), ("pkgmanager", "package_manager"), ("assignmgr", "assignment_manager")}
    assert users["requestor"].manager == users["approver"]
    assert users["partner"].is_external
    assert users["partner"].connected_organization.display_name == "Contoso"
    assert list(users["partner"].connected_organization.domains.values_list("domain", flat=True)) == ["contoso.example"]
    assert not can_in_catalog(users["outsider"], Action.VIEW, engineering.pk)
    # Rule 17: the owner owns the demo's groups, so may add the one not yet in the catalog.
    owned = m.DirectoryGroup.objects.filter(owners=users["owner"]).values_list("display_name", flat=True)
    assert set(owned) == {
        "Engineering staff",
        "Developers",
        "Build agents",
        "Production on-call",
        "Partner collaboration",
    }


def test_packages_and_policies(demo: None) -> None:
    users = {u.username: u for u in m.User.objects.all()}
    tools = m.AccessPackage.objects.get(display_name="Developer tools")
    on_call = m.AccessPackage.objects.get(display_name="Production on-call")
    partner_portal = m.AccessPackage.objects.get(display_name="Partner portal")
    assert (tools.is_hidden, on_call.is_hidden, partner_portal.is_hidden) == (False, True, False)
    assert all(p.catalog.display_name == "Engineering" for p in (tools, on_call, partner_portal))
    assert all(p.resource_roles.exists() for p in (tools, on_call, partner_portal))

    [policy] = tools.policies.requestable_by(users["requestor"])
    assert policy.requires_approval
    assert policy.requestor_justification_required
    [stage] = policy.stages.all()
    probe = m.AssignmentRequest(target=users["requestor"], requestor=users["requestor"], policy=policy)
    assert probe.stage_approvers(stage) == [users["approver"]]

    scopes = set(on_call.policies.values_list("allowed_target_scope", flat=True))
    assert m.TargetScope.NO_ONE in scopes
    assert len(on_call.policies.requestable_by(users["requestor"])) == 1

    assert [p.package for p in m.AssignmentPolicy.objects.requestable_by(users["partner"])] == [partner_portal]
    assert not m.AssignmentPolicy.objects.requestable_by(users["outsider"]).exists()
    assert set(discoverable_packages(users["requestor"])) == {tools}
