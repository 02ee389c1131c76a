"""``manage.py import_connector_secrets [--variable NAME ...]``: store, encrypted, the
secrets that connectors saved before secrets were stored still read from the environment,
and drop those references (README "Connector secrets and outbound calls")."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from governance.encryption import SecretsUnavailable
from governance.models.connector import LEGACY_SECRET_PREFIX
from governance.services import connectors


class Command(BaseCommand):
    help = (
        f"Store the values of the {LEGACY_SECRET_PREFIX}* environment variables that connectors still name, "
        "encrypted, and stop reading the environment for them."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--variable",
            action="append",
            default=[],
            metavar="NAME",
            help=f"Also import from this variable although it lacks the {LEGACY_SECRET_PREFIX} prefix "
            "(only if you know it holds that connector's secret). Repeat for several.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = connectors.import_connector_secrets(also_variables=options["variable"])
        except SecretsUnavailable as exc:
            raise CommandError(exc.message) from exc
        for name in report.imported:
            self.stdout.write(f"Imported: {name}")
        for line in report.skipped:
            self.stderr.write(f"Skipped {line}")
        self.stdout.write(self.style.SUCCESS(f"{len(report.imported)} imported, {len(report.skipped)} skipped."))
