"""The permission matrix: persona x action x object inside / outside their catalog.

Expected outcomes are written out by hand from the seeds' "Prerequisite role" lines and
DESIGN §1. Out of reach means 404 (NotFound), never a leak; visible but not allowed is 403.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from governance import models as m
from governance.errors import NotAllowed, NotFound
from governance.permissions import Action, can, restrict
from governance.services import assignments, catalogs, packages, requests
from tests import factories as f

pytestmark = pytest.mark.django_db

Y, N = "allowed", "refused"

#                  view  manage  assign  reprocess  cancel  catalog  create_catalog
MATRIX: dict[str, tuple[str, ...]] = {
    "admin": (Y, Y, Y, Y, Y, Y, Y),
    "governance_admin": (Y, Y, Y, Y, Y, Y, Y),
    "user_admin": (Y, Y, Y, Y, Y, Y, Y),
    "catalog_owner": (Y, Y, Y, Y, Y, Y, N),
    "pkg_manager": (Y, Y, Y, Y, Y, N, N),
    "assignment_manager": (Y, N, Y, Y, Y, N, N),
    "catalog_reader": (Y, N, N, N, N, N, N),
    "requestor": (N, N, N, N, N, N, N),
}
ACTIONS = ("view", "manage", "assign", "reprocess", "cancel", "manage_catalog", "create_catalog")
GLOBAL = {"admin", "governance_admin", "user_admin"}


@pytest.fixture
def world(catalog: m.Catalog, other_catalog: m.Catalog, make_package: Any) -> dict[str, dict[str, Any]]:
    """The same objects in the persona's catalog ("inside") and in another ("outside")."""
    objects = {}
    for where, home in (("inside", catalog), ("outside", other_catalog)):
        package = make_package(in_catalog=home, allowed_target_scope=m.TargetScope.NO_ONE)
        objects[where] = {
            "catalog": home,
            "package": package,
            "policy": package.policies.get(),
            "assignment": f.AssignmentFactory(policy=package.policies.get()),
            "request": f.RequestFactory(policy=package.policies.get(), state=m.RequestState.PENDING_APPROVAL),
        }
    return objects


def perform(action: str, actor: m.User, objects: dict[str, Any]) -> None:
    calls: dict[str, Callable[[], object]] = {
        "view": lambda: _view(actor, objects),
        "manage": lambda: packages.set_hidden(actor, objects["package"].pk, True),
        "assign": lambda: assignments.create_direct_assignments(
            actor, objects["package"].pk, policy_id=objects["policy"].pk, target_ids=[f.UserFactory().pk]
        ),
        "reprocess": lambda: assignments.reprocess_assignment(actor, objects["assignment"].pk),
        "cancel": lambda: requests.cancel_request_as_admin(actor, objects["request"].pk),
        "manage_catalog": lambda: catalogs.update_catalog(actor, objects["catalog"].pk, description="Changed"),
        "create_catalog": lambda: catalogs.create_catalog(actor, display_name="Brand new"),
    }
    calls[action]()


def _view(actor: m.User, objects: dict[str, Any]) -> None:
    visible = restrict(m.AssignmentRequest.objects.all(), actor, Action.VIEW).filter(pk=objects["request"].pk)
    if not visible.exists():
        raise NotFound("Request not found.")


def expected(persona: str, action: str, where: str) -> str:
    allowed = MATRIX[persona][ACTIONS.index(action)] == Y
    if action == "create_catalog":
        return "allowed" if allowed else "forbidden"
    if where == "outside" and persona not in GLOBAL:
        return "not found"
    if allowed:
        return "allowed"
    visible = MATRIX[persona][0] == Y
    return "forbidden" if visible else "not found"


@pytest.mark.parametrize("where", ["inside", "outside"])
@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("persona", list(MATRIX))
def test_permission_matrix(
    persona: str, action: str, where: str, world: dict[str, dict[str, Any]], request: pytest.FixtureRequest
) -> None:
    actor = request.getfixturevalue(persona)
    try:
        perform(action, actor, world[where])
    except NotFound:
        outcome = "not found"
    except NotAllowed:
        outcome = "forbidden"
    else:
        outcome = "allowed"
    assert outcome == expected(persona, action, where)


def test_can_answers_like_restrict(world: dict[str, dict[str, Any]], pkg_manager: m.User) -> None:
    inside, outside = world["inside"]["package"], world["outside"]["package"]
    assert can(pkg_manager, Action.MANAGE, inside)
    assert not can(pkg_manager, Action.MANAGE, outside)
    assert list(restrict(m.AccessPackage.objects.all(), pkg_manager, Action.MANAGE)) == [inside]


def test_anonymous_and_disabled_people_see_nothing(world: dict[str, dict[str, Any]], admin: m.User) -> None:
    from django.contrib.auth.models import AnonymousUser

    assert not restrict(m.AccessPackage.objects.all(), AnonymousUser(), Action.VIEW).exists()
    admin.is_active = False
    admin.save()
    fresh = m.User.objects.get(pk=admin.pk)
    assert not restrict(m.AccessPackage.objects.all(), fresh, Action.VIEW).exists()


def test_superuser_is_a_global_administrator(world: dict[str, dict[str, Any]]) -> None:
    root = f.UserFactory(is_superuser=True)
    assert restrict(m.AccessPackage.objects.all(), root, Action.MANAGE).count() == 2
