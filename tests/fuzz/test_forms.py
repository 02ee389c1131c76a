"""Every form of both portals, fed arbitrary posts through its real view as a person allowed
to use it: never a 500; a bad post shows the form again (200) or redirects; and rows change
only together with their audit rows, on a successful outcome."""

from __future__ import annotations

import functools
import hashlib
import importlib
import inspect
import pkgutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from django import forms
from django.apps import apps
from django.db import connection, models, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from hypothesis import given, settings

import governance
import myaccess
from governance import models as m
from governance.services import assignments as assignment_service
from governance.services import connectors as connector_service
from governance.services import requests as request_service
from governance.services.policies import MAX_STAGES
from tests import factories as f
from tests.fuzz.strategies import form_data

pytestmark = pytest.mark.django_db

# Form classes that are only bases of the real ones.
BASES = {"PortalForm", "OnceForm"}
# Rows that change without an audit row of their own: the form token, the mail outbox, the
# approval links mailed with it, and what the session keeps.
NOT_AUDITED = {"FormSubmission", "OutboundEmail", "ApprovalLink"}
STAGE_FIELDS = [
    f"stage{n}_{name}"
    for n in range(1, MAX_STAGES + 1)
    for name in ("enabled", "approvers", "approver_groups", "manager", "sponsor", "fallback", "fallback_groups",
                 "timeout_days")
] + [
    f"question{n}_{name}" for n in (1, 2) for name in ("id", "text", "kind", "required", "choices")
]  # fmt: skip


def discover_forms() -> dict[str, type[forms.BaseForm]]:
    """Every form class defined anywhere in governance/ and myaccess/ (a new one is found)."""
    found: dict[str, type[forms.BaseForm]] = {}
    for package in (governance, myaccess):
        for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            if ".migrations" in info.name or info.name.endswith("tests"):
                continue
            module = importlib.import_module(info.name)
            for name, obj in inspect.getmembers(module, inspect.isclass):
                if issubclass(obj, forms.BaseForm) and obj.__module__ == module.__name__ and name not in BASES:
                    found[name] = obj
    return found


@dataclass
class World:
    """Everything the forms point at, made once per test."""

    admin: m.User
    requestor: m.User
    newcomer: m.User
    approver: m.User
    catalog: m.Catalog
    empty_catalog: m.Catalog
    package: m.AccessPackage
    policy: m.AssignmentPolicy
    direct_policy: m.AssignmentPolicy
    assignment: m.Assignment
    pending: m.AssignmentRequest
    organization: m.ConnectedOrganization
    valid: list[str] = field(default_factory=list)


@dataclass
class Target:
    """Where a form is posted, by whom, and which fields it has beyond its declared ones."""

    url: Callable[[World], str]
    user: Callable[[World], m.User] = lambda w: w.admin
    extra_fields: Callable[[World], list[str]] = lambda w: []
    method: str = "post"


def _ids(model: type[models.Model]) -> list[str]:
    return [str(pk) for pk in model.objects.values_list("pk", flat=True)]


TARGETS: dict[str, list[Target]] = {
    # The admin portal.
    "CatalogForm": [Target(lambda w: reverse("governance:catalog_create"))],
    "CatalogEditForm": [Target(lambda w: reverse("governance:catalog_edit", args=[w.catalog.pk]))],
    "CatalogRoleForm": [
        Target(
            lambda w: reverse("governance:catalog_role_add", args=[w.catalog.pk]),
            extra_fields=lambda w: ["users__q", "_search"],
        )
    ],
    "ResourceSearchForm": [
        Target(lambda w: reverse("governance:catalog_resource_add", args=[w.catalog.pk]), method="get")
    ],
    "AddResourceForm": [Target(lambda w: reverse("governance:catalog_resource_add", args=[w.catalog.pk]))],
    "PackageForm": [Target(lambda w: reverse("governance:package_create"))],
    "PackageEditForm": [Target(lambda w: reverse("governance:package_edit", args=[w.package.pk]))],
    "ShareLinkForm": [
        Target(
            lambda w: reverse("governance:package_share", args=[w.package.pk]),
            extra_fields=lambda w: ["recipients__q", "_search"],
        )
    ],
    "AddRoleForm": [Target(lambda w: reverse("governance:package_role_add", args=[w.package.pk]))],
    "AddRolesForm": [
        Target(
            lambda w: reverse("governance:package_role_add", args=[w.package.pk]),
            extra_fields=lambda w: [f"role_{pk}" for pk in m.Resource.objects.values_list("pk", flat=True)],
        )
    ],
    "CollaborationForm": [Target(lambda w: reverse("governance:organization_collaboration"))],
    "ChatChannelForm": [Target(lambda w: reverse("governance:chat_channel_create", args=[w.catalog.pk]))],
    "ExtensionForm": [Target(lambda w: reverse("governance:extension_create", args=[w.catalog.pk]))],
    "IncompatiblePackageForm": [Target(lambda w: reverse("governance:incompatible_package_add", args=[w.package.pk]))],
    "IncompatibleGroupForm": [
        Target(
            lambda w: reverse("governance:incompatible_group_add", args=[w.package.pk]),
            extra_fields=lambda w: ["groups__q", "_search"],
        )
    ],
    "PolicyForm": [
        Target(
            lambda w: reverse("governance:policy_create", args=[w.package.pk]),
            extra_fields=lambda w: [*STAGE_FIELDS, "_search", "stage1_approvers__q", "specific_users__q"],
        ),
        Target(
            lambda w: reverse("governance:policy_edit", args=[w.package.pk, w.policy.pk]),
            extra_fields=lambda w: STAGE_FIELDS,
        ),
    ],
    "NewAssignmentForm": [
        Target(
            lambda w: reverse("governance:assignment_create", args=[w.package.pk]),
            extra_fields=lambda w: ["users__q", "_search"],
        )
    ],
    "RemoveAssignmentForm": [Target(lambda w: reverse("governance:assignment_remove", args=[w.assignment.pk]))],
    "UpdateEndForm": [Target(lambda w: reverse("governance:assignment_update_end", args=[w.assignment.pk]))],
    "CancelRequestForm": [Target(lambda w: reverse("governance:request_cancel", args=[w.pending.pk]))],
    "OrganizationForm": [
        Target(lambda w: reverse("governance:organization_create")),
        Target(lambda w: reverse("governance:organization_edit", args=[w.organization.pk])),
    ],
    "ConfirmForm": [
        Target(lambda w: reverse("governance:catalog_delete", args=[w.empty_catalog.pk])),
        Target(lambda w: reverse("governance:package_delete", args=[w.package.pk])),
        Target(lambda w: reverse("governance:policy_delete", args=[w.package.pk, w.policy.pk])),
        Target(lambda w: reverse("governance:organization_delete", args=[w.organization.pk])),
    ],
    "ConnectorForm": [
        Target(
            lambda w, kind=kind: reverse("connectors:new") + f"?kind={kind}",
            extra_fields=lambda w, kind=kind: [s.name for s in connector_service.fields_of(kind)],
        )
        for kind in ("ldap", "scim", "webhook")
    ],
    "LifecycleForm": [Target(lambda w: reverse("identity:lifecycle", args=[w.organization.pk]))],
    # My Access.
    "SearchForm": [
        Target(lambda w: reverse("myaccess:home"), user=lambda w: w.requestor, method="get"),
        Target(lambda w: reverse("myaccess:requests"), user=lambda w: w.requestor, method="get"),
    ],
    "RequestForm": [
        Target(
            lambda w: reverse("myaccess:request_form", args=[w.package.pk]),
            user=lambda w: w.newcomer,
            extra_fields=lambda w: ["policy"],
        )
    ],
    "DecisionForm": [
        Target(lambda w: reverse("myaccess:approval", args=[w.pending.pk]), user=lambda w: w.approver),
    ],
    "ExtendForm": [
        Target(lambda w: reverse("myaccess:extend", args=[w.assignment.pk]), user=lambda w: w.requestor),
    ],
    "RemoveForm": [
        Target(lambda w: reverse("myaccess:remove", args=[w.assignment.pk]), user=lambda w: w.requestor),
    ],
}


def test_every_form_has_a_fuzz_target() -> None:
    """A new form fails here, by name, until it is added to TARGETS."""
    missing = sorted(set(discover_forms()) - set(TARGETS))
    assert not missing, f"forms without a fuzz target: {missing}"


@pytest.fixture
def world(catalog: m.Catalog, admin: m.User, approver: m.User, requestor: m.User, contoso: Any) -> World:
    package = f.AccessPackageFactory(catalog=catalog, display_name="Developer tools")
    f.PackageResourceRoleFactory(package=package)
    f.ResourceFactory(catalog=catalog)
    policy = f.PolicyFactory(
        package=package,
        requires_approval=True,
        allow_extension=True,
        allow_custom_schedule=True,
        allowed_target_scope=m.TargetScope.ALL_MEMBERS,
    )
    f.StageApproverFactory(stage=f.ApprovalStageFactory(policy=policy), user=approver)
    direct = f.PolicyFactory(package=package, allowed_target_scope=m.TargetScope.NO_ONE, display_name="Direct")
    (request,) = assignment_service.create_direct_assignments(
        admin, package.pk, policy_id=direct.pk, target_ids=[requestor.pk]
    )
    request.refresh_from_db()
    m.Assignment.objects.filter(pk=request.assignment_id).update(policy=policy)
    pending = request_service.submit_request(f.UserFactory(username="waiting"), package.pk, justification="x")
    f.DirectoryGroupFactory(display_name="Engineers")
    world = World(
        admin=admin,
        requestor=requestor,
        newcomer=f.UserFactory(username="newcomer"),
        approver=approver,
        catalog=catalog,
        empty_catalog=f.CatalogFactory(display_name="Empty"),
        package=package,
        policy=policy,
        direct_policy=direct,
        assignment=m.Assignment.objects.get(pk=request.assignment_id),
        pending=pending,
        organization=contoso,
    )
    soon = timezone.localtime() + timedelta(days=3)
    later = timezone.localtime() + timedelta(days=20)
    choices: list[str] = ["on", "yes", "no", "Approve", "Deny", "1", "2", "14", "contoso.example fabrikam.example"]
    for enum in (m.TargetScope, m.ExpirationType, m.CatalogRole, m.CatalogState, m.ResourceType, m.DriftMode,
                 m.ConnectedOrganizationState):  # fmt: skip
        choices += [str(v) for v in enum.values]
    world.valid = [
        *choices,
        soon.strftime("%Y-%m-%dT%H:%M"),
        later.strftime("%Y-%m-%dT%H:%M"),
        *(
            pk
            for model in (
                m.User,
                m.DirectoryGroup,
                m.Catalog,
                m.Connector,
                m.Resource,
                m.ResourceRole,
                m.AssignmentPolicy,
                m.ConnectedOrganization,
            )
            for pk in _ids(model)
        ),
    ]
    return world


@functools.cache
def _fingerprint_queries() -> list[tuple[str, str]]:
    """For each model, the SQL that reads all its rows (timestamps that move on a no-op save
    left out). Plain SQL: through the ORM, reading ~40 tables twice per example was most of
    a fuzz test's time."""
    quote = connection.ops.quote_name
    queries = []
    for model in apps.get_app_config("governance").get_models():
        columns = [
            quote(f.column)
            for f in model._meta.concrete_fields
            if not getattr(f, "auto_now", False) and f.name not in {"last_login", "session_data", "expire_date"}
        ]
        table, pk = quote(model._meta.db_table), quote(model._meta.pk.column)
        queries.append((model.__name__, f"SELECT {', '.join(columns)} FROM {table} ORDER BY {pk}"))
    return queries


def fingerprint() -> dict[str, str]:
    """A digest of every row of every model (timestamps that move on a no-op save left out)."""
    digests = {}
    with connection.cursor() as cursor:
        for name, sql in _fingerprint_queries():
            cursor.execute(sql)
            digests[name] = hashlib.sha256(repr(cursor.fetchall()).encode()).hexdigest()
    return digests


class Rollback(Exception):
    pass


@contextmanager
def rolled_back() -> Iterator[None]:
    """Each example starts from the same world: whatever it wrote is undone."""
    try:
        with transaction.atomic():
            yield
            raise Rollback
    except Rollback:
        pass


def post_and_check(client: Client, target: Target, world: World, data: dict[str, Any]) -> None:
    url = target.url(world)
    before = fingerprint()
    audit_before = m.AuditEvent.objects.count()
    if target.method == "get":
        response = client.get(url, data)
    else:
        response = client.post(url, data)
    assert response.status_code in {200, 302, 303}, f"{response.status_code} for {data!r}"
    after = fingerprint()
    changed = sorted(name for name in before if before[name] != after[name] and name not in NOT_AUDITED)
    audited = m.AuditEvent.objects.count() > audit_before
    if changed and changed != ["AuditEvent"]:
        assert audited, f"{changed} changed without an audit row for {data!r}"
    if audited or changed:
        assert response.status_code in {302, 303}, f"rows changed ({changed}) but the answer is {response.status_code}"
        assert target.method == "post", "a GET changed the database"


FORM_NAMES = sorted(TARGETS)


@pytest.mark.fuzz
@pytest.mark.parametrize("form_name", FORM_NAMES)
def test_arbitrary_posts_never_break_a_form(form_name: str, world: World, client: Client) -> None:
    form_class = discover_forms()[form_name]
    declared = list(form_class.base_fields)
    for target in TARGETS[form_name]:
        client.force_login(target.user(world))
        fuzz_one(client, target, world, sorted({*declared, *target.extra_fields(world)}))


# Each target's share of the CI budget: ~35 targets x this many posts.
FORM_EXAMPLES = 6


def fuzz_one(client: Client, target: Target, world: World, fields: list[str]) -> None:
    @settings(max_examples=FORM_EXAMPLES if settings.default.max_examples <= 25 else settings.default.max_examples)
    @given(data=form_data(fields, world.valid))
    def fuzz(data: dict[str, Any]) -> None:
        with rolled_back():
            post_and_check(client, target, world, data)

    fuzz()


def test_the_fuzzer_reaches_the_success_path(world: World, client: Client) -> None:
    """Not only refusals: a good post through the same checks creates, with its audit row."""
    client.force_login(world.admin)
    before = m.Catalog.objects.count()
    post_and_check(client, TARGETS["CatalogForm"][0], world, {"display_name": "Finance", "description": "x"})
    assert m.Catalog.objects.count() == before + 1


@pytest.mark.parametrize("form_name", FORM_NAMES)
def test_nul_bytes_in_every_field_are_form_errors(form_name: str, world: World, client: Client) -> None:
    """PostgreSQL refuses NUL in text: every field must stop it before the database does."""
    declared = list(discover_forms()[form_name].base_fields)
    for target in TARGETS[form_name]:
        client.force_login(target.user(world))
        nul = dict.fromkeys({*declared, *target.extra_fields(world)}, "a\x00b")
        for data in (nul, {**nul, "_search": "1"}):
            with rolled_back():
                post_and_check(client, target, world, data)


SEARCH_PAGES = [
    ("myaccess:home", {"q": "a\x00b"}),
    ("myaccess:requests", {"q": "a\x00b"}),
    ("api_clients:list", {"q": "a\x00b"}),
    ("governance:directory_search", {"name": "users", "kind": "user", "users__q": "a\x00b"}),
    ("governance:request_list", {"q": "a\x00b"}),
    ("governance:assignment_list", {"q": "a\x00b"}),
    ("governance:audit_list", {"actor": "a\x00b", "action": "a\x00b"}),
]


@pytest.mark.parametrize(("page", "query"), SEARCH_PAGES)
def test_a_nul_byte_in_a_search_box_finds_nothing_instead_of_failing(page, query, world: World, client: Client):
    """Found by the fuzzer on PostgreSQL, which refuses NUL in a query: My Access's search
    boxes and the pickers' live search answered 500."""
    client.force_login(world.admin)
    assert client.get(reverse(page), query).status_code == 200
