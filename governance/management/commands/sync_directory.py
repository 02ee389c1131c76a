"""``manage.py sync_directory [--full]``: run the LDAP directory sync once, now."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from governance.services import directory_sync


class Command(BaseCommand):
    help = "Import people and groups from the LDAP directory (LDAP_SYNC_* settings) once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--full",
            action="store_true",
            help="Read every entry (and notice deleted ones) instead of only what changed.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = directory_sync.sync_directory(full=True if options["full"] else None)
        except directory_sync.DirectorySyncError as exc:
            raise CommandError(exc.message) from exc
        for line in report.skipped:
            self.stderr.write(f"Skipped {line}")
        self.stdout.write(self.style.SUCCESS(report.summary()))
