"""``manage.py generate_connector_secret_key``: a new key for ``CONNECTOR_SECRET_KEYS``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from governance.encryption import generate_key


class Command(BaseCommand):
    help = "Print a new Fernet key for CONNECTOR_SECRET_KEYS (put it first to rotate; keep the old one after it)."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(generate_key())
