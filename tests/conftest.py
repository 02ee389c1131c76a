"""Personas (the people of the seeds) and the helpers every test uses."""

from __future__ import annotations

import gc
import itertools
import os
import re
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from _pytest.mark.expression import Expression
from _pytest.mark.structures import get_unpacked_marks

from governance import models as m
from governance.services import delivery
from tests import factories as f

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def need(condition: bool, reason: str) -> None:
    """Skip when a tool is missing, but in CI a missing tool is a failure, not a skip."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI must run this test, but: {reason}")
    pytest.skip(reason)


# A test that uses one of these fixtures needs a real component: it carries the marker, so
# `make test-fast` (which deselects them) never starts one, and no test can forget its mark.
COMPONENT_MARKERS = {
    "page": "browser",
    "browser": "browser",
    "slapd": "ldap",
    "slapd_server": "ldap",
    "worker": "worker",
    "make_worker": "worker",
    "session_worker": "worker",
    "scim_server": "scim",
    "scim_server_process": "scim",
    "live_server": "live",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # schemathesis gives every operation's item its test function's node id; xdist's loadgroup
    # scheduler keys items by node id and would run one operation of each function. The
    # item's name says the operation ("test_x[GET /v1.0/groups]"): make that its id.
    seen = Counter(item.nodeid for item in items)
    for item in items:
        if seen[item.nodeid] > 1 and item.parent is not None:
            item._id = item.parent.id.child(item.name)
    for item in items:
        for fixture in set(getattr(item, "fixturenames", ())) & COMPONENT_MARKERS.keys():
            if item.get_closest_marker(COMPONENT_MARKERS[fixture]) is None:
                item.add_marker(COMPONENT_MARKERS[fixture])
    _production_first(items)


def _production_first(items: list[pytest.Item]) -> None:
    """The production test spends most of its minute waiting on the processes it starts. Last
    (pytest-django puts tests without the test database last) it was the run's tail, with the
    other xdist process idle; first, the rest of the suite runs beside it."""

    def group(item: pytest.Item) -> str | None:
        mark = item.get_closest_marker("xdist_group")
        return str(mark.args[0]) if mark and mark.args else None

    items.sort(key=lambda item: group(item) != "production")


def _surely_deselected(config: pytest.Config, marks: set[str]) -> bool:
    """Whether `-m` deselects a test with ``marks`` whatever marks it gets later (from its
    fixtures at collection, or from its parameters): false for every choice of the other
    names the expression mentions."""
    expression = config.option.markexpr
    if not expression or "(" in expression:
        return False
    others = sorted(set(re.findall(r"[A-Za-z_][\w-]*", expression)) - {"and", "or", "not"} - marks)
    compiled = Expression.compile(expression)
    for chosen in itertools.product((False, True), repeat=len(others)):
        present = marks | {name for name, on in zip(others, chosen, strict=True) if on}
        if compiled.evaluate(lambda name, /, present=present, **kwargs: name in present):
            return False
    return True


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: Any) -> Iterator[None]:
    """A fuzz test that `-m` deselects anyway (`make test-fast`) is not generated at all:
    schemathesis builds its hundreds of operation tests at collection, about 6 s of CPU in
    every xdist process, only for the fast tier to deselect them."""
    outcome = yield
    own = {mark.name for mark in get_unpacked_marks(obj)} if callable(obj) else set()
    if "fuzz" in own and _surely_deselected(collector.config, own | {m.name for m in collector.iter_markers()}):
        outcome.force_result([])


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """A module whose every test `-m` surely deselects (`make test-fast`: the browser, LDAP,
    worker, race and live-server modules) is not even imported: its source shows the marks
    (tests/static_marks.py). Importing them cost every xdist process ~3 s of CPU."""
    if not config.option.markexpr or not (collection_path.suffix == ".py" and collection_path.name.startswith("test_")):
        return None
    from tests.static_marks import marks_of_each_test

    tests = marks_of_each_test(collection_path, COMPONENT_MARKERS)
    if tests and all(_surely_deselected(config, marks) for marks in tests):
        return True
    return None


def pytest_collection_finish(session: pytest.Session) -> None:
    """What import and collection built (modules, classes, ~2,000 test items) lives until the
    end: frozen, the collector's full passes no longer walk it, and fewer passes run. In the
    fast tier's heaviest modules the collector's time went from 24 to 17 s and the CPU 3-5 %
    down; every object the tests make is still collected."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)


@pytest.fixture(scope="session", autouse=True)
def _isolated_celery() -> Iterator[None]:
    """Service tests publish to an in-memory broker; worker tests switch to a real one."""
    from tests.workers import switch_broker

    previous = switch_broker("memory://", f"portcullis-test-{uuid.uuid4().hex[:8]}")
    yield
    switch_broker(*previous)


@pytest.fixture(scope="session", autouse=True)
def _targets_on_this_host() -> Iterator[None]:
    """slapd, scim2-server, the webhook receiver and the OpenID provider run on 127.0.0.1:
    outbound calls may reach loopback here (a test turns it off to see the refusal). Worker
    processes started by the tests read it from the environment."""
    from django.conf import settings

    previous = (settings.OUTBOUND_ALLOW_LOOPBACK, os.environ.get("OUTBOUND_ALLOW_LOOPBACK"))
    settings.OUTBOUND_ALLOW_LOOPBACK = True
    os.environ["OUTBOUND_ALLOW_LOOPBACK"] = "1"
    yield
    settings.OUTBOUND_ALLOW_LOOPBACK = previous[0]
    if previous[1] is None:
        os.environ.pop("OUTBOUND_ALLOW_LOOPBACK", None)
    else:
        os.environ["OUTBOUND_ALLOW_LOOPBACK"] = previous[1]


@pytest.fixture(scope="session", autouse=True)
def _builtin_connector_without_migrations(request: pytest.FixtureRequest) -> Iterator[None]:
    """`make test-fast` builds its in-memory tables from the models (`--no-migrations`: the
    same schema, as `makemigrations --check` holds, in a fraction of the time); the one row a
    migration writes, the built-in directory's connector, is written after it here."""
    if not request.config.getoption("nomigrations"):
        yield
        return
    from django.db.models.signals import post_migrate

    def builtin(sender: Any, **kwargs: Any) -> None:
        if sender.label == "governance":
            from governance.connectors.builtin import builtin_connector

            builtin_connector()

    post_migrate.connect(builtin, weak=False, dispatch_uid="tests-builtin-connector")
    yield
    post_migrate.disconnect(dispatch_uid="tests-builtin-connector")


@pytest.fixture(scope="session", autouse=True)
def _short_health_broker_wait() -> Iterator[None]:
    """/healthz asks a refusing broker once more after HEALTH_BROKER_TIMEOUT_SECONDS (2 s in
    production); the tests point it at a closed port dozens of times, so 0.2 s here."""
    from django.conf import settings

    previous = settings.HEALTH_BROKER_TIMEOUT_SECONDS
    settings.HEALTH_BROKER_TIMEOUT_SECONDS = 0.2
    yield
    settings.HEALTH_BROKER_TIMEOUT_SECONDS = previous


@pytest.fixture(scope="session", autouse=True)
def _flush_by_delete() -> Iterator[None]:
    """Transactional tests (browser, worker, races) leave empty tables behind them: Django
    flushes. On PostgreSQL it truncates every table, which gives ~50 tables and their indexes
    new files: 1-2 s per test. DELETE of the few rows a test wrote takes milliseconds, and as
    every foreign key is deferrable the order does not matter inside the flush's transaction."""
    from django.db import connection

    if connection.vendor != "postgresql":
        yield
        return
    operations = type(connection.ops)
    truncate = operations.sql_flush

    def sql_flush(
        self: Any, style: Any, tables: Any, *, reset_sequences: bool = False, allow_cascade: bool = False
    ) -> list[str]:
        if reset_sequences or allow_cascade:
            return truncate(self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade)
        return [f"{style.SQL_KEYWORD('DELETE FROM')} {style.SQL_FIELD(self.quote_name(table))};" for table in tables]

    operations.sql_flush = sql_flush
    yield
    operations.sql_flush = truncate


@pytest.fixture(autouse=True)
def _language_of_the_test() -> Iterator[None]:
    """A page opened by a German user leaves German active in this thread (LocaleMiddleware
    activates, nothing deactivates): each test starts in the default language again."""
    from django.utils import translation

    translation.deactivate()
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _fast_passwords(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


# --- Catalogs ---------------------------------------------------------------------------


@pytest.fixture
def catalog(db: None) -> m.Catalog:
    return f.CatalogFactory(display_name="Engineering")


@pytest.fixture
def other_catalog(db: None) -> m.Catalog:
    return f.CatalogFactory(display_name="Finance")


# --- Personas ---------------------------------------------------------------------------


def _global(role: str, username: str) -> m.User:
    user = f.UserFactory(username=username)
    f.DirectoryRoleFactory(user=user, role=role)
    return user


def _in_catalog(catalog: m.Catalog, role: str, username: str) -> m.User:
    user = f.UserFactory(username=username)
    f.CatalogRoleFactory(catalog=catalog, user=user, role=role)
    return user


@pytest.fixture
def admin(db: None) -> m.User:
    return _global(m.GlobalRole.GLOBAL_ADMIN, "admin")


@pytest.fixture
def governance_admin(db: None) -> m.User:
    return _global(m.GlobalRole.GOVERNANCE_ADMIN, "govadmin")


@pytest.fixture
def user_admin(db: None) -> m.User:
    return _global(m.GlobalRole.USER_ADMIN, "useradmin")


@pytest.fixture
def catalog_owner(catalog: m.Catalog) -> m.User:
    return _in_catalog(catalog, m.CatalogRole.OWNER, "owner")


@pytest.fixture
def catalog_reader(catalog: m.Catalog) -> m.User:
    return _in_catalog(catalog, m.CatalogRole.READER, "reader")


@pytest.fixture
def pkg_manager(catalog: m.Catalog) -> m.User:
    return _in_catalog(catalog, m.CatalogRole.PACKAGE_MANAGER, "pkgmanager")


@pytest.fixture
def assignment_manager(catalog: m.Catalog) -> m.User:
    return _in_catalog(catalog, m.CatalogRole.ASSIGNMENT_MANAGER, "assignmgr")


@pytest.fixture
def approver(db: None) -> m.User:
    return f.UserFactory(username="approver")


@pytest.fixture
def requestor(approver: m.User) -> m.User:
    return f.UserFactory(username="requestor", manager=approver)


@pytest.fixture
def outsider(db: None) -> m.User:
    return f.UserFactory(username="outsider")


@pytest.fixture
def contoso(db: None) -> m.ConnectedOrganization:
    organization = f.ConnectedOrganizationFactory(display_name="Contoso")
    f.OrganizationDomainFactory(organization=organization, domain="contoso.example")
    return organization


@pytest.fixture
def partner(contoso: m.ConnectedOrganization, approver: m.User) -> m.User:
    return f.ExternalUserFactory(
        username="partner", email="partner@contoso.example", connected_organization=contoso, sponsor=approver
    )


# --- Packages ---------------------------------------------------------------------------


PackageMaker = Callable[..., m.AccessPackage]


@pytest.fixture
def make_package(catalog: m.Catalog) -> PackageMaker:
    """A package in ``catalog`` with ``roles`` built-in group roles and one policy.

    ``approvers`` (users) turns approval on with one stage; other keywords go to the policy.
    """

    def make(
        *,
        roles: int = 1,
        approvers: list[m.User] | None = None,
        name: str | None = None,
        in_catalog: m.Catalog | None = None,
        **policy: Any,
    ) -> m.AccessPackage:
        package = f.AccessPackageFactory(catalog=in_catalog or catalog, **({"display_name": name} if name else {}))
        for _ in range(roles):
            f.PackageResourceRoleFactory(package=package)
        policy.setdefault("allowed_target_scope", m.TargetScope.ALL_MEMBERS)
        created = f.PolicyFactory(package=package, requires_approval=bool(approvers), **policy)
        if approvers:
            stage = f.ApprovalStageFactory(policy=created, order=1)
            for user in approvers:
                f.StageApproverFactory(stage=stage, kind=m.ApproverKind.USER, user=user)
        return package

    return make


@pytest.fixture
def deliver() -> Callable[[], delivery.BatchReport]:
    """Run the delivery engine in-process until nothing is due (what a worker does)."""

    def run() -> delivery.BatchReport:
        return delivery.deliver_until_idle(max_seconds=30)

    return run


def members_of(role: m.ResourceRole) -> set[str]:
    """Usernames in the built-in group behind a resource role."""
    return set(
        m.GroupMembership.objects.filter(group_id=role.resource.origin_id).values_list("user__username", flat=True)
    )


def snapshot() -> dict[str, int]:
    """Row counts of every table a refused service call must leave untouched."""
    return {
        model.__name__: model.objects.count()
        for model in (
            m.AssignmentRequest,
            m.Assignment,
            m.RoleGrant,
            m.ApprovalDecision,
            m.AuditEvent,
            m.OutboundEmail,
            m.AccessPackage,
            m.AssignmentPolicy,
            m.ApprovalStage,
            m.Catalog,
            m.Resource,
            m.PackageResourceRole,
            m.RoleOperation,
            m.CatalogRoleAssignment,
        )
    }


# Shared fixtures of their own modules: the test database (PostgreSQL: a copy of one migrated
# template), a real worker process, a real browser, a real slapd, a real SCIM server and a
# webhook receiver.
from tests.browser import browser, page  # noqa: E402, F401
from tests.databases import django_db_setup  # noqa: E402, F401
from tests.ldap_server import slapd, slapd_server  # noqa: E402, F401
from tests.plugins import example_plugin, example_plugin_site  # noqa: E402, F401
from tests.targets import (  # noqa: E402, F401
    listener,
    private_redis,
    roster_server,
    scim_server,
    scim_server_process,
    webhook_receiver,
)
from tests.workers import make_worker, no_session_worker, session_worker, worker  # noqa: E402, F401
