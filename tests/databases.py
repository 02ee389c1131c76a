"""The PostgreSQL test databases: migrated once, copied for each xdist process.

Migrating the schema costs ~13 s of CPU, and `make test` used to pay it in every xdist process
and once more in the production test. Here the first process to need a database migrates a
template (`test_<name>_tpl<digest>`, under a PostgreSQL advisory lock, so the others wait for
it rather than build it too); every process then gets `CREATE DATABASE ... TEMPLATE`, a file
copy. The digest covers the migration files, so a changed migration builds a new template
(and drops the old one); an unchanged one is reused by the next run on the same database.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

TEMPLATE_MARK = "_tpl"


def _migrations_digest() -> str:
    """What the migrated schema depends on: every app's migration files and Django's version."""
    import django
    from django.apps import apps

    digest = hashlib.sha256(django.get_version().encode())
    for config in sorted(apps.get_app_configs(), key=lambda c: c.label):
        for path in sorted((Path(config.path) / "migrations").glob("*.py")):
            digest.update(f"{config.label}/{path.name}".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def template_name() -> str:
    """The name of this run's template database (PostgreSQL only)."""
    from django.db import connection

    base = connection.settings_dict.get("_ORIGINAL_NAME") or connection.settings_dict["NAME"]
    return f"test_{base}{TEMPLATE_MARK}{_migrations_digest()}"[:63]


def _admin(connection: Any) -> Any:
    """An autocommit connection to the server's maintenance database."""
    s = connection.settings_dict
    return psycopg.connect(
        host=s["HOST"] or "127.0.0.1",
        port=s["PORT"] or 5432,
        user=s["USER"],
        password=s["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    )


def _exists(admin: Any, name: str) -> bool:
    return admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None


def _build_template(connection: Any, name: str, verbosity: int) -> None:
    """Migrate a database under a temporary name and give it ``name`` when it is complete, so
    that a run killed half way leaves nothing another run would take for a template."""
    from django.conf import settings

    alias = connection.alias
    original, test_settings = connection.settings_dict["NAME"], connection.settings_dict["TEST"]
    building = f"{name[:55]}_build"
    previous_test_name = test_settings.get("NAME")
    test_settings["NAME"] = building
    try:
        connection.creation.create_test_db(verbosity=verbosity, autoclobber=True, serialize=False)
    finally:
        connection.close()
        test_settings["NAME"] = previous_test_name
        connection.settings_dict["NAME"] = settings.DATABASES[alias]["NAME"] = original
    with _admin(connection) as admin:
        admin.execute(f'ALTER DATABASE "{building}" RENAME TO "{name}"')


def ensure_template(connection: Any, verbosity: int = 0) -> str:
    """This run's template, migrated by whichever process asks first; older templates of the
    same database (other migrations) are dropped on the way."""
    name = template_name()
    prefix = name[: name.rindex(TEMPLATE_MARK) + len(TEMPLATE_MARK)]
    with _admin(connection) as admin:
        admin.execute("SELECT pg_advisory_lock(hashtext(%s))", [prefix])
        try:
            if not _exists(admin, name):
                stale = admin.execute(
                    "SELECT datname FROM pg_database WHERE starts_with(datname, %s) AND datname <> %s", [prefix, name]
                ).fetchall()
                for (old,) in stale:
                    with contextlib.suppress(psycopg.errors.ObjectInUse):  # another run's: left alone
                        admin.execute(f'DROP DATABASE IF EXISTS "{old}"')
                _build_template(connection, name, verbosity)
        finally:
            admin.execute("SELECT pg_advisory_unlock(hashtext(%s))", [prefix])
    return name


def copy_of_template(connection: Any, target: str, verbosity: int = 0) -> None:
    """``target`` as a fresh copy of the template, replacing what a finished run left of that
    name; a database another session is using is not taken from it (that is an error here)."""
    template = ensure_template(connection, verbosity)
    with _admin(connection) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{target}"')
        admin.execute(f'CREATE DATABASE "{target}" TEMPLATE "{template}"')


def _use_template(use_migrations: bool, keepdb: bool) -> bool:
    from django.db import connections

    return (
        use_migrations
        and not keepdb
        and list(connections) == ["default"]
        and connections["default"].vendor == "postgresql"
    )


@pytest.fixture(scope="session")
def django_db_setup(
    request: pytest.FixtureRequest,
    django_test_environment: None,
    django_db_blocker: Any,
    django_db_use_migrations: bool,
    django_db_keepdb: bool,
    django_db_createdb: bool,
    django_db_modify_db_settings: None,
) -> Iterator[None]:
    """pytest-django's fixture of this name, except that on PostgreSQL the test database is a
    copy of the migrated template (above) instead of a migration of its own."""
    from django.conf import settings
    from django.db import connection
    from django.test.utils import setup_databases, teardown_databases
    from pytest_django.fixtures import _disable_migrations, _get_databases_for_setup

    verbosity = request.config.option.verbose
    keepdb = django_db_keepdb and not django_db_createdb
    with django_db_blocker.unblock():
        if _use_template(django_db_use_migrations, keepdb):
            original = connection.settings_dict["NAME"]
            target = connection.creation._get_test_db_name()
            copy_of_template(connection, target, verbosity)
            connection.close()
            settings.DATABASES["default"]["NAME"] = connection.settings_dict["NAME"] = target
            connection.settings_dict["_ORIGINAL_NAME"] = original
            _, serialized = _get_databases_for_setup(request.session.items)
            if "default" in serialized:
                connection._test_serialized_contents = connection.creation.serialize_db_to_string()
            db_cfg = [(connection, original, True)]
        else:
            if not django_db_use_migrations:
                _disable_migrations()
            aliases, serialized = _get_databases_for_setup(request.session.items)
            db_cfg = setup_databases(
                verbosity=verbosity,
                interactive=False,
                aliases=aliases,
                serialized_aliases=serialized,
                keepdb=keepdb,
            )
    yield
    if not django_db_keepdb:
        with django_db_blocker.unblock():
            try:
                teardown_databases(db_cfg, verbosity=verbosity)
            except Exception as exc:  # noqa: BLE001
                request.node.warn(pytest.PytestWarning(f"Error when trying to teardown test databases: {exc!r}"))
