"""Imports point down through four floors (STYLE.md habit 13), and nothing in `governance/`
imports itself in a circle.

Read from the code's own ``import`` statements with :mod:`ast`: every one counts, at the top
of a module, inside a function, or under ``if TYPE_CHECKING``. A lower floor never imports a
higher one; a module imports freely on its own floor and below. A new module lands on the
floor of the longest prefix below that names it: a new package is one line in ``FLOORS``.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

UTILITIES, DOMAIN, PERMISSIONS, SERVICES, INTERFACES = range(5)
FLOOR_NAMES = ["utilities", "domain", "permissions", "services", "interfaces"]

# Module (or package) → floor. The longest prefix that names a module decides.
FLOORS: dict[str, int] = {
    # Below everything: no rules, no state. Encryption of stored secrets, and the one way
    # out to other hosts (address checks, time and size limits).
    "governance.encryption": UTILITIES,
    "governance.outbound": UTILITIES,
    # Identifiers as they arrive (is_uuid): a malformed id is an id of nothing, on any floor.
    "governance.ids": UTILITIES,
    # The domain: models and their rule queries (models/), the transition tables and the
    # bulk move through them, the audit row, the errors a rule raises.
    "governance.models": DOMAIN,
    "governance.machines": DOMAIN,
    "governance.audit": DOMAIN,
    "governance.errors": DOMAIN,
    # Every authorization decision.
    "governance.permissions": PERMISSIONS,
    # Every state change, notification and task dispatch; and what only services use to do
    # them: connectors (adapters to the target systems), the LDAP directory reader (what
    # services/directory_sync.py applies; it reads, and imports no service) and the list
    # filters that "Reprocess all matching" re-runs in a worker.
    "governance.services": SERVICES,
    "governance.connectors": SERVICES,
    "governance.identity.ldap_reader": SERVICES,
    "governance.filters": SERVICES,
    # Everything else people and machines talk to: views, API, forms, tasks, admin,
    # management commands, templatetags, system checks, sign-in backends, settings.
    "governance": INTERFACES,
    "myaccess": INTERFACES,
    "portal": INTERFACES,
}
# Frozen history: a migration imports what it imported the day it was written.
NOT_CHECKED = ("governance.migrations",)
APPS = ("governance", "myaccess", "portal")


def floor_of(module: str) -> int:
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        prefix = ".".join(parts[:end])
        if prefix in FLOORS:
            return FLOORS[prefix]
    raise AssertionError(f"{module} is on no floor: add it to FLOORS in {Path(__file__).name}")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def modules(root: Path = ROOT) -> dict[str, Path]:
    found = {}
    for app in APPS:
        for path in sorted((root / app).rglob("*.py")):
            name = _module_name(path)
            if not name.startswith(NOT_CHECKED):
                found[name] = path
    return found


def _imported(tree: ast.AST, name: str, is_package: bool) -> Iterator[tuple[str, int]]:
    """Every name an import statement of the module brings in, with its line."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = name.split(".") if is_package else name.split(".")[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join([*package, base] if base else package)
            for alias in node.names:
                # `from a.b import c`: c is the module a.b.c, or a name defined in a.b.
                yield f"{base}.{alias.name}", node.lineno


@cache
def imports() -> dict[str, dict[str, int]]:
    """Module → the modules of this project it imports (and the first line doing so)."""
    known = modules()
    graph: dict[str, dict[str, int]] = {}
    for name, path in known.items():
        tree = ast.parse(path.read_text(), str(path))
        edges: dict[str, int] = {}
        for target, line in _imported(tree, name, path.name == "__init__.py"):
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                edges.setdefault(target, line)
        graph[name] = edges
    return graph


def circles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The import circles of ``graph``: its strongly connected parts of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, {}):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            part = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                part.append(member)
                if member == node:
                    break
            if len(part) > 1:
                found.append(sorted(part))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_every_module_is_on_a_floor() -> None:
    assert modules(), "no modules found"
    for name in modules():
        floor_of(name)


def test_imports_point_down() -> None:
    upward = [
        f"{modules()[source].relative_to(ROOT)}:{line}: {source} ({FLOOR_NAMES[floor_of(source)]}) imports "
        f"{target} ({FLOOR_NAMES[floor_of(target)]})"
        for source, targets in sorted(imports().items())
        for target, line in sorted(targets.items())
        if floor_of(target) > floor_of(source)
    ]
    assert not upward, "imports that point up a floor:\n" + "\n".join(upward)


@pytest.mark.parametrize("app", ["governance", "myaccess"])
def test_no_import_circles(app: str) -> None:
    inside = {
        source: {t: line for t, line in targets.items() if t.split(".")[0] == app}
        for source, targets in imports().items()
        if source.split(".")[0] == app
    }
    described = [
        f"{len(part)} modules: "
        + "; ".join(
            f"{source} -> {target} (line {inside[source][target]})"
            for source in part
            for target in sorted(inside[source])
            if target in part
        )
        for part in circles(inside)
    ]
    assert not described, "import circles:\n" + "\n".join(described)


def test_the_directory_reader_imports_no_service() -> None:
    """The LDAP reader shares the services' floor (it uses the LDAP connector's notion of an
    unreachable server) but only reads: what it read is applied by the sync service."""
    reader = "governance.identity.ldap_reader"
    services = sorted(target for target in imports()[reader] if target.split(".")[:2] == ["governance", "services"])
    assert not services, f"{reader} imports {services}"


def test_the_checker_sees_what_it_must() -> None:
    """The reader finds lazy imports, relative ones and ``from package import module``."""
    tree = ast.parse(
        "from . import sibling\n"
        "from ..models import Thing\n"
        "def f():\n"
        "    from governance.services import requests\n"
        "    import governance.tasks\n"
    )
    seen = {target for target, _ in _imported(tree, "governance.api.views", is_package=True)}
    assert seen == {
        "governance.api.views.sibling",
        "governance.api.models.Thing",
        "governance.services.requests",
        "governance.tasks",
    }
    by_floor = defaultdict(set)
    for name in ("governance.models.request", "governance.services.requests", "governance.views.home"):
        by_floor[floor_of(name)].add(name)
    assert by_floor == {
        DOMAIN: {"governance.models.request"},
        SERVICES: {"governance.services.requests"},
        INTERFACES: {"governance.views.home"},
    }
    assert circles({"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}, "d": {"a": 1}}) == [["a", "b", "c"]]
