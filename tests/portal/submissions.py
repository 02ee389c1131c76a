"""Sending the portal's forms as a browser would: each page hands out a single-use
submission token in its form, and a POST without it is a second click."""

from __future__ import annotations

from typing import Any

from django.test import Client


def form_token(client: Client, url: str, form: str = "form") -> str:
    """The submission token the page at ``url`` puts in its ``form``."""
    return str(client.get(url).context[form].initial["submission"])


def confirm(client: Client, url: str) -> Any:
    """Open a confirmation page (Delete…) and click its button; the page it leads to."""
    return client.post(url, {"submission": form_token(client, url)}, follow=True)
