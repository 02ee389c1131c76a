"""The scene the access-explained tests share (issue 22, issue 14 item 2): Otto Outsider has
"Developer tools" (Developers, Support queue, Builders) and "Production on-call" (Builders)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from governance import models as m
from governance.services import assignments
from tests import factories as f


@dataclass
class Otto:
    person: m.User
    dev_tools: m.AccessPackage
    oncall: m.AccessPackage
    dev_assignment: m.Assignment
    oncall_assignment: m.Assignment
    roles: dict[str, m.ResourceRole]


SENTENCE = "Otto Outsider loses Developers and Support queue; keeps Builders through Production on-call."


def otto_scene(catalog: m.Catalog, admin: m.User, deliver: Any) -> Otto:
    otto = f.UserFactory(username="otto", display_name="Otto Outsider", email="otto@portcullis.example")
    roles = {
        name: f.ResourceRoleFactory(resource__catalog=catalog, resource__display_name=name)
        for name in ("Developers", "Support queue", "Builders")
    }
    packages = {}
    for name, names in (("Developer tools", list(roles)), ("Production on-call", ["Builders"])):
        package = f.AccessPackageFactory(catalog=catalog, display_name=name)
        for role in names:
            f.PackageResourceRoleFactory(package=package, resource_role=roles[role])
        policy = f.PolicyFactory(
            package=package, display_name="Admin direct", allowed_target_scope=m.TargetScope.NO_ONE
        )
        assignments.create_direct_assignments(admin, package.pk, policy_id=policy.pk, target_ids=[otto.pk])
        packages[name] = package
    deliver()
    return Otto(
        otto,
        packages["Developer tools"],
        packages["Production on-call"],
        m.Assignment.objects.get(package=packages["Developer tools"], target=otto),
        m.Assignment.objects.get(package=packages["Production on-call"], target=otto),
        roles,
    )
