"""`manage.py create_api_client NAME --role ROLE [--catalog NAME]` or `NAME --user USERNAME`."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from governance.errors import DomainError
from governance.models import ApiClientRole
from governance.services.api_clients import create_api_client


class Command(BaseCommand):
    help = (
        "Make an API client and print its bearer token once, as the last line. "
        "An application token has a --role (catalog roles also need --catalog); "
        "a personal token (--user) acts as that person, with exactly their rights."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="A name for the client, shown in the audit log as api:NAME.")
        who = parser.add_mutually_exclusive_group(required=True)
        who.add_argument("--role", choices=ApiClientRole.values, help="The role of an application token.")
        who.add_argument("--user", dest="username", help="Make a personal token acting as this user.")
        parser.add_argument("--catalog", help="The catalog (display name) of a catalog role.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            issued = create_api_client(
                None,
                options["name"],
                role=options["role"] or "",
                catalog_name=options["catalog"],
                username=options["username"],
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"API client {issued.client.name}: {issued.client.describe_rights()}.")
        self.stdout.write("The token is shown only now; keep it secret:")
        self.stdout.write(issued.token)
