"""``manage.py reencrypt_connector_secrets``: after a key rotation, encrypt every stored
connector secret with the first key of ``CONNECTOR_SECRET_KEYS`` (then the old key can go)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from governance.encryption import SecretsUnavailable, configured_keys
from governance.services import connectors


class Command(BaseCommand):
    help = "Re-encrypt every connector secret with the first key of CONNECTOR_SECRET_KEYS."

    def handle(self, *args: Any, **options: Any) -> None:
        if not configured_keys():
            raise CommandError("CONNECTOR_SECRET_KEYS is not set.")
        try:
            report = connectors.reencrypt_secrets()
        except SecretsUnavailable as exc:
            raise CommandError(exc.message) from exc
        for name in report.reencrypted:
            self.stdout.write(f"Re-encrypted: {name}")
        for name in report.unreadable:
            self.stderr.write(f"Cannot decrypt with any key (enter its secret again on its page): {name}")
        summary = (
            f"{len(report.reencrypted)} re-encrypted, {len(report.current)} already under the first key, "
            f"{len(report.unreadable)} unreadable."
        )
        if report.unreadable:
            raise CommandError(summary)
        self.stdout.write(self.style.SUCCESS(summary))
