"""Which kinds of connector exist: the four that come with Portcullis, and every installed
plugin.

A plugin is a pip package that declares its connector class in the entry-point group
``portcullis.connectors``, named by its kind::

    [project.entry-points."portcullis.connectors"]
    roster = "portcullis_connector_example:RosterConnector"

The group is read once per process, the first time a kind is asked for (install a plugin
on every web and worker host, then restart them). A plugin that cannot be loaded, or that
would take a kind already taken, is left out and named in :attr:`Registry.problems`
(``manage.py check`` and the connectors page say so); a connector whose kind is missing
fails with :class:`PluginNotInstalled`, a permanent error, instead of being used.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points

from governance.connectors.base import BaseConnector, PermanentError
from governance.connectors.builtin import BuiltinConnector
from governance.connectors.fields import Field
from governance.connectors.ldap import LdapConnector
from governance.connectors.scim import ScimConnector
from governance.connectors.webhook import WebhookConnector
from governance.models import Connector

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "portcullis.connectors"
BUILT_IN: tuple[type[BaseConnector], ...] = (BuiltinConnector, LdapConnector, ScimConnector, WebhookConnector)
# Stored in Connector.kind (64 characters).
KIND = re.compile(r"[a-z][a-z0-9_-]{0,63}")
# The connector form's own fields: a connector's settings cannot take these names.
RESERVED_FIELD_NAMES = frozenset({"kind", "display_name", "enabled", "drift_mode", "csrfmiddlewaretoken", "next"})


class PluginNotInstalled(PermanentError):
    """A connector whose kind no installed code provides."""

    def __init__(self, kind: str, problem: str = "") -> None:
        if problem:
            message = f"The connector plugin for kind {kind!r} could not be loaded: {problem}"
        else:
            message = (
                f"Connector plugin not installed: no installed package provides the kind {kind!r} "
                "(install it on every web and worker host and restart them, or delete this connector)."
            )
        super().__init__(message, code="pluginNotInstalled")
        self.kind = kind


@dataclass
class Registry:
    """Connector classes by kind, and what kept any plugin out (by entry-point name)."""

    classes: dict[str, type[BaseConnector]] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)

    def add(self, cls: object, source: str) -> str:
        """Register ``cls``; returns why it cannot be ("" when it was)."""
        if not (isinstance(cls, type) and issubclass(cls, BaseConnector)):
            return f"{source} is not a subclass of governance.connectors.BaseConnector."
        kind = getattr(cls, "kind", "")
        if not isinstance(kind, str) or not KIND.fullmatch(kind):
            return (
                f"{source} has kind {kind!r}: a kind is 1 to 64 lower-case letters, digits, '_' or '-', "
                "starting with a letter."
            )
        if kind in self.classes:
            return f"{source} has kind {kind!r}, which {self.classes[kind].__module__} already provides."
        problem = _fields_problem(cls.fields)
        if problem:
            return f"{source}: {problem}"
        self.classes[kind] = cls
        return ""

    def load(self, entry_point: EntryPoint) -> None:
        source = f"{entry_point.value} (entry point {entry_point.name!r})"
        try:
            cls = entry_point.load()
        except Exception as exc:  # noqa: BLE001 - any failure of a plugin's import is reported, not raised
            problem = f"{type(exc).__name__}: {exc}"
        else:
            problem = self.add(cls, source)
            if not problem and cls.kind != entry_point.name:
                del self.classes[cls.kind]
                problem = f"{source} has kind {cls.kind!r}: the entry point must be named by its kind."
        if problem:
            log.error("Connector plugin left out: %s", problem)
            self.problems[entry_point.name] = problem

    def connector_class(self, kind: str) -> type[BaseConnector]:
        try:
            return self.classes[kind]
        except KeyError:
            raise PluginNotInstalled(kind, self.problems.get(kind, "")) from None


def _fields_problem(fields: object) -> str:
    if not isinstance(fields, tuple) or not all(isinstance(f, Field) for f in fields):
        return "its fields must be a tuple of governance.connectors.Field."
    names = [f.name for f in fields]
    clashes = sorted({n for n in names if names.count(n) > 1} | (set(names) & RESERVED_FIELD_NAMES))
    return f"field names repeated or reserved: {', '.join(clashes)}." if clashes else ""


def build(plugins: Iterable[EntryPoint]) -> Registry:
    registry = Registry()
    for cls in BUILT_IN:
        registry.add(cls, cls.__qualname__)
    for entry_point in sorted(plugins, key=lambda e: (e.name, e.value)):
        registry.load(entry_point)
    return registry


@functools.cache
def current() -> Registry:
    """This process's registry (built once, on first use)."""
    return build(entry_points(group=ENTRY_POINT_GROUP))


def reload() -> Registry:
    """Read the entry points again (a test that installs or removes a plugin)."""
    current.cache_clear()
    return current()


def connector_class(kind: str) -> type[BaseConnector]:
    """The class for ``kind``; :class:`PluginNotInstalled` when nothing provides it."""
    return current().connector_class(kind)


def find(kind: str) -> type[BaseConnector] | None:
    """The class for ``kind``, or None when nothing provides it."""
    return current().classes.get(kind)


def for_connector(connector: Connector) -> BaseConnector:
    """The object that talks to the connector's target system."""
    return connector_class(connector.kind)(connector)


def kind_label(kind: str) -> str:
    cls = find(kind)
    return (cls.label or kind) if cls is not None else f"{kind} (plugin not installed)"
