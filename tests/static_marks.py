"""The marks each test of a module will carry, read from its source without importing it.

`make test-fast` deselects whole modules (browser, LDAP, worker, race, fuzz and live-server
tests); importing them only to deselect their tests costs every xdist process Playwright, the
Graph SDK and schemathesis' reading of the OpenAPI schema. Reading the source tells which
marks a test surely gets: a ``pytest.mark.<name>`` decorator or ``pytestmark``, and a
component fixture among its own arguments (tests/conftest.py marks the test for it).
Anything the source does not show plainly (a test bound by assignment or import) makes the
answer None: the module is imported as usual.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path


def _mark_names(node: ast.expr) -> set[str]:
    """``pytest.mark.x`` or ``pytest.mark.x(...)``: {"x"}; a list or tuple of them: every x."""
    if isinstance(node, ast.List | ast.Tuple):
        return {name for element in node.elts for name in _mark_names(element)}
    target = node.func if isinstance(node, ast.Call) else node
    if (
        isinstance(target, ast.Attribute)
        and isinstance(target.value, ast.Attribute)
        and target.value.attr == "mark"
        and isinstance(target.value.value, ast.Name)
        and target.value.value.id == "pytest"
    ):
        return {target.attr}
    return set()


def _decorator_name(node: ast.expr) -> str:
    target = node.func if isinstance(node, ast.Call) else node
    if isinstance(target, ast.Attribute):
        return target.attr
    return target.id if isinstance(target, ast.Name) else ""


def _pytestmark(body: list[ast.stmt]) -> set[str]:
    marks: set[str] = set()
    for node in body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "pytestmark" for target in node.targets
        ):
            marks |= _mark_names(node.value)
    return marks


def _fixture_arguments(function: ast.FunctionDef | ast.AsyncFunctionDef, *, method: bool) -> list[str]:
    """The arguments pytest fills with fixtures: those without a default (not self)."""
    if any(_decorator_name(decorator) == "given" for decorator in function.decorator_list):
        return []  # hypothesis fills (some of) them
    arguments = function.args
    positional = arguments.posonlyargs + arguments.args
    names = [a.arg for a in positional[: len(positional) - len(arguments.defaults)]]
    names += [a.arg for a, default in zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True) if default is None]
    return names[1:] if method else names


def _test_marks(
    function: ast.FunctionDef | ast.AsyncFunctionDef,
    inherited: set[str],
    components: Mapping[str, str],
    *,
    method: bool,
) -> set[str]:
    marks = set(inherited)
    for decorator in function.decorator_list:
        marks |= _mark_names(decorator)
    return marks | {components[name] for name in _fixture_arguments(function, method=method) if name in components}


def _tests(body: list[ast.stmt], components: Mapping[str, str]) -> Iterator[set[str] | None]:
    module = _pytestmark(body)
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test"):
            yield _test_marks(node, module, components, method=False)
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            inherited = module | _pytestmark(node.body)
            for decorator in node.decorator_list:
                inherited |= _mark_names(decorator)
            for member in node.body:
                if isinstance(member, ast.FunctionDef | ast.AsyncFunctionDef) and member.name.startswith("test"):
                    yield _test_marks(member, inherited, components, method=True)
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.Import | ast.ImportFrom):
            if isinstance(node, ast.Import | ast.ImportFrom):
                bound = [alias.asname or alias.name for alias in node.names]
            else:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                bound = [target.id for target in targets if isinstance(target, ast.Name)]
            if any(name.lower().startswith("test") for name in bound):
                yield None  # a test (or test class) the source does not define plainly


def marks_of_each_test(path: Path, components: Mapping[str, str]) -> list[set[str]] | None:
    """The marks each test of the module at ``path`` surely carries, or None when unsure.

    ``components`` maps a fixture name to the marker a test that uses it gets."""
    found = list(_tests(ast.parse(path.read_bytes(), filename=str(path)).body, components))
    if any(marks is None for marks in found):
        return None
    return [marks for marks in found if marks is not None]
