"""The Django admin: a global administrator who is also a superuser can look at every governed
model there but never add, change or delete one (that goes through the services and their
audit rows); what has no other place to be edited stays editable there, and is audited."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib import admin as django_admin
from django.db.models import Model
from django.test import Client
from django.urls import reverse
from factory.django import DjangoModelFactory

from governance import models as m
from tests import factories as f

pytestmark = pytest.mark.django_db

# No portal page edits these: people (local accounts, passwords), directory roles, built-in groups.
EDITABLE = {m.User, m.DirectoryRoleAssignment, m.DirectoryGroup}
GOVERNED = sorted(
    (model for model in django_admin.site._registry if model._meta.app_label == "governance" and model not in EDITABLE),
    key=lambda model: model.__name__,
)


def factory_for(model: type[Model]) -> Any:
    for candidate in vars(f).values():
        if isinstance(candidate, type) and issubclass(candidate, DjangoModelFactory) and candidate._meta.model is model:
            return candidate
    raise LookupError(f"tests/factories.py has no factory for {model.__name__}")


def url(model: type[Model], view: str, *args: Any) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.fixture
def root(admin: m.User) -> m.User:
    """The global administrator, made a superuser (with a staff account) too."""
    admin.is_superuser = admin.is_staff = True
    admin.save()
    return admin


@pytest.fixture
def root_client(root: m.User) -> Client:
    client = Client()
    client.force_login(root)
    return client


def test_the_governed_models_are_the_ones_expected():
    # A newly registered model is governed (read-only) unless added to EDITABLE on purpose.
    names = {model.__name__ for model in GOVERNED}
    for governed in ("Catalog", "AccessPackage", "AssignmentPolicy", "ApprovalStage", "AssignmentRequest"):
        assert governed in names
    for governed in ("Assignment", "RoleGrant", "DeliveryAttempt", "AuditEvent", "Resource", "Connector"):
        assert governed in names
    for governed in ("ConnectedOrganization", "ApiClient", "ApprovalLink", "OutboundEmail", "BulkReprocess"):
        assert governed in names


@pytest.mark.parametrize("model", GOVERNED, ids=lambda model: model.__name__)
def test_a_superuser_looks_at_governed_models_but_cannot_add_change_or_delete(root_client: Client, model: Any):
    obj = factory_for(model)()
    row = model.objects.filter(pk=obj.pk).values().get()
    count = model.objects.count()

    listing = root_client.get(url(model, "changelist"))
    assert listing.status_code == 200
    assert url(model, "add") not in listing.content.decode()  # no "Add" button
    page = root_client.get(url(model, "change", obj.pk))
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()  # shown read-only: no Save button
    assert url(model, "delete", obj.pk) not in page.content.decode()

    assert root_client.get(url(model, "add")).status_code == 403
    assert root_client.post(url(model, "add"), {}).status_code == 403
    assert root_client.post(url(model, "change", obj.pk), {}).status_code == 403
    assert root_client.get(url(model, "delete", obj.pk)).status_code == 403
    assert root_client.post(url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403
    bulk = {"action": "delete_selected", "_selected_action": [str(obj.pk)], "post": "yes"}
    root_client.post(url(model, "changelist"), bulk)

    assert model.objects.count() == count
    assert model.objects.filter(pk=obj.pk).values().get() == row


def test_directory_roles_are_granted_here_and_audited(root_client: Client, root: m.User):
    person = f.UserFactory(username="newadmin")
    response = root_client.post(
        url(m.DirectoryRoleAssignment, "add"), {"user": str(person.pk), "role": m.GlobalRole.USER_ADMIN}
    )
    assert response.status_code == 302
    assignment = m.DirectoryRoleAssignment.objects.get(user=person)
    event = m.AuditEvent.objects.get(action="directoryroleassignment.added_in_admin")
    assert (event.actor, event.object_id) == (root, str(assignment.pk))

    root_client.post(url(m.DirectoryRoleAssignment, "delete", assignment.pk), {"post": "yes"})
    assert not m.DirectoryRoleAssignment.objects.filter(user=person).exists()
    assert m.AuditEvent.objects.filter(action="directoryroleassignment.deleted_in_admin", actor=root).count() == 1


def test_a_password_set_here_is_audited_without_its_value(root_client: Client):
    person = f.UserFactory(username="breakglass")
    secret = "A-long-enough-passphrase-42"
    response = root_client.post(
        reverse("admin:auth_user_password_change", args=[person.pk]),
        {"password1": secret, "password2": secret, "usable_password": "true"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    person.refresh_from_db()
    assert person.check_password(secret)
    event = m.AuditEvent.objects.get(action="user.changed_in_admin", object_id=str(person.pk))
    assert secret not in str(event.data)


def test_a_built_in_groups_owners_are_edited_here_and_audited(root_client: Client, catalog_owner: m.User):
    group = f.DirectoryGroupFactory(display_name="Release managers")
    data = {
        "display_name": group.display_name,
        "description": "",
        "mail": "",
        "ownerships-TOTAL_FORMS": "1",
        "ownerships-INITIAL_FORMS": "0",
        "ownerships-0-user": str(catalog_owner.pk),
        "ownerships-0-group": str(group.pk),
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
    }
    assert root_client.post(url(m.DirectoryGroup, "change", group.pk), data).status_code == 302
    assert list(group.owners.all()) == [catalog_owner]
    event = m.AuditEvent.objects.get(action="directorygroup.changed_in_admin", object_id=str(group.pk))
    assert event.data["change"] == [
        {"added": {"name": "group ownership", "object": str(m.GroupOwnership.objects.get())}}
    ]


def test_a_synced_group_is_read_only_here(root_client: Client, catalog_owner: m.User):
    group = f.DirectoryGroupFactory(display_name="Payroll", source=m.GroupSource.LDAP, external_id="cn=payroll")
    page = root_client.get(url(m.DirectoryGroup, "change", group.pk))
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    data = {
        "display_name": "Renamed",
        "ownerships-TOTAL_FORMS": "1",
        "ownerships-INITIAL_FORMS": "0",
        "ownerships-0-user": str(catalog_owner.pk),
        "ownerships-0-group": str(group.pk),
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
    }
    assert root_client.post(url(m.DirectoryGroup, "change", group.pk), data).status_code == 403
    assert root_client.post(url(m.DirectoryGroup, "delete", group.pk), {"post": "yes"}).status_code == 403
    group.refresh_from_db()
    assert (group.display_name, list(group.owners.all())) == ("Payroll", [])
