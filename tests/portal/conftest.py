"""The admin portal's test scene: one package with a working and a broken role, people
with delivered, partially fulfilled and expired assignments, and the personas of DESIGN §1."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client

from governance import models as m
from governance.services import assignments, delivery, requests
from tests import factories as f

# Everyone with a role somewhere, plus people without one.
ADMINS = [
    "admin",
    "governance_admin",
    "user_admin",
    "catalog_owner",
    "catalog_reader",
    "pkg_manager",
    "assignment_manager",
]
NOBODIES = ["outsider", "requestor", "finance_owner"]
MANAGERS = ["admin", "governance_admin", "user_admin", "catalog_owner", "pkg_manager"]  # Action.MANAGE
ASSIGNERS = [*MANAGERS, "assignment_manager"]  # ASSIGN, REPROCESS, CANCEL
CATALOG_MANAGERS = ["admin", "governance_admin", "user_admin", "catalog_owner"]  # MANAGE_CATALOG
GLOBALS = ["admin", "governance_admin", "user_admin"]


def others(allowed: list[str]) -> list[str]:
    return [p for p in ADMINS + NOBODIES if p not in allowed]


@pytest.fixture
def finance_owner(other_catalog: m.Catalog) -> m.User:
    """Owns another catalog: the admin portal is open to them, Engineering's objects are not."""
    user = f.UserFactory(username="financeowner")
    f.CatalogRoleFactory(catalog=other_catalog, user=user, role=m.CatalogRole.OWNER)
    return user


@pytest.fixture
def as_persona(client: Client, request: pytest.FixtureRequest) -> Callable[[str], Client]:
    """Sign the test client in as a persona fixture, by name."""

    def sign_in(name: str) -> Client:
        client.force_login(request.getfixturevalue(name))
        return client

    return sign_in


def broken_role(package: m.AccessPackage) -> m.ResourceRole:
    """A role whose group does not exist in the built-in directory: delivering it fails."""
    role = f.ResourceRoleFactory(resource__catalog=package.catalog, resource__origin_id=str(uuid.uuid4()))
    f.PackageResourceRoleFactory(package=package, resource_role=role)
    return role


def repair(role: m.ResourceRole) -> m.DirectoryGroup:
    return f.DirectoryGroupFactory(id=uuid.UUID(role.resource.origin_id), display_name="Repaired")


@dataclass
class Scene:
    package: m.AccessPackage
    direct_policy: m.AssignmentPolicy
    good_role: m.ResourceRole
    bad_role: m.ResourceRole
    delivered: m.Assignment  # one role only, before the broken role was added
    partial: m.Assignment
    failed_request: m.AssignmentRequest  # partially delivered, with a delivery error


@pytest.fixture
def scene(catalog: m.Catalog, admin: m.User, make_package: Callable[..., m.AccessPackage], deliver: Any) -> Scene:
    package = make_package(roles=1, name="Production on-call")
    direct = f.PolicyFactory(package=package, display_name="Admin direct", allowed_target_scope=m.TargetScope.NO_ONE)
    good = m.ResourceRole.objects.get(package_links__package=package)
    alice = f.UserFactory(username="alice", display_name="Alice Anders", email="alice@portcullis.example")
    bob = f.UserFactory(username="bob", display_name="Bob Brown", email="bob@portcullis.example")
    assignments.create_direct_assignments(admin, package.pk, policy_id=direct.pk, target_ids=[alice.pk])
    deliver()
    bad = broken_role(package)
    (request,) = assignments.create_direct_assignments(admin, package.pk, policy_id=direct.pk, target_ids=[bob.pk])
    deliver()
    request.refresh_from_db()
    assert request.state == m.RequestState.PARTIALLY_DELIVERED
    return Scene(
        package=package,
        direct_policy=direct,
        good_role=good,
        bad_role=bad,
        delivered=m.Assignment.objects.get(target=alice),
        partial=m.Assignment.objects.get(target=bob),
        failed_request=request,
    )


def pending_request(package: m.AccessPackage, approver: m.User, who: str = "carol") -> m.AssignmentRequest:
    """A userAdd request waiting for ``approver`` (a policy with one stage is added)."""
    policy = f.PolicyFactory(package=package, requires_approval=True, allowed_target_scope=m.TargetScope.ALL_MEMBERS)
    stage = f.ApprovalStageFactory(policy=policy, order=1)
    f.StageApproverFactory(stage=stage, kind=m.ApproverKind.USER, user=approver)
    person = f.UserFactory(username=who)
    return requests.submit_request(person, package.pk, policy_id=policy.pk)


def deliver_now() -> None:
    delivery.deliver_until_idle(max_seconds=30)


def text(response: Any) -> str:
    """The page's visible words, tags stripped and spaces collapsed."""
    body = response.content.decode()
    body = re.sub(r"<script.*?</script>", " ", body, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))


def messages_of(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]] if response.context else []
