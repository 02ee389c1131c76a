"""A connector's configuration, field by field.

Each connector class declares its ``fields``; the portal's Add / edit form is made from them
(no portal code per kind), and :meth:`Field.clean` checks what was typed. A ``secret`` field
is never part of the config: it is stored encrypted and read with ``BaseConnector.secret``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from django.conf import settings

from governance.outbound import AddressNotAllowed, check_url

KINDS = ("text", "url", "secret", "bool", "int", "choice")
FALSE_WORDS = frozenset({"0", "false", "off", "no", ""})


class ConfigError(Exception):
    """A value a field refuses; ``field`` names it, for the form."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def max_timeout() -> int:
    """The longest any outbound call may wait (``OUTBOUND_MAX_TIMEOUT_SECONDS``)."""
    return max(int(settings.OUTBOUND_MAX_TIMEOUT_SECONDS), 1)


@dataclass(frozen=True)
class Field:
    """One setting of a connector: its form label and help, its kind, and how it is checked.

    ``kind`` is one of ``text``, ``url`` (one of ``schemes``, with a host the outbound rules
    allow), ``secret`` (write-only, stored encrypted), ``bool``, ``int`` (from ``minimum`` to
    ``maximum``, a number or a function giving one) and ``choice`` (one of ``choices``).
    """

    name: str
    label: str
    kind: str = "text"
    required: bool = False
    help: str = ""
    choices: tuple[str, ...] = ()
    default: Any = ""
    schemes: tuple[str, ...] = ("http", "https")
    minimum: int = 1
    maximum: int | Callable[[], int] | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Field {self.name!r}: kind must be one of {', '.join(KINDS)}, not {self.kind!r}.")
        if self.kind == "choice" and not self.choices:
            raise ValueError(f"Field {self.name!r}: a choice needs choices.")

    @property
    def is_secret(self) -> bool:
        return self.kind == "secret"

    @property
    def upper_bound(self) -> int | None:
        return self.maximum() if callable(self.maximum) else self.maximum

    def clean(self, value: Any) -> Any:
        """The value to store, or :class:`ConfigError` saying what is wrong with it."""
        if self.kind == "bool":
            return bool(value) and str(value).strip().lower() not in FALSE_WORDS
        text = str(value if value is not None else "").strip()
        if not text:
            if self.required:
                raise ConfigError(f"{self.label} is required.", self.name)
            return None if self.kind == "int" else ""
        if self.kind == "url":
            self._check_url(text)
        elif self.kind == "int":
            return self._number(text)
        elif self.kind == "choice" and text not in self.choices:
            raise ConfigError(f"Choose one of: {', '.join(self.choices)}.", self.name)
        return text

    def _check_url(self, text: str) -> None:
        parsed = urlparse(text)
        try:
            valid = parsed.scheme in self.schemes and bool(parsed.hostname)
            parsed.port  # noqa: B018 - raises on a port out of range
        except ValueError:
            valid = False
        if not valid:
            raise ConfigError(f"{self.label} must be a {' or '.join(sorted(self.schemes))} URL with a host.", self.name)
        try:
            check_url(text)
        except AddressNotAllowed as exc:
            raise ConfigError(f"{self.label}: {exc.reason}.", self.name) from exc

    def _number(self, text: str) -> int:
        try:
            number = int(text)
        except ValueError:
            raise ConfigError(f"{self.label} must be a whole number.", self.name) from None
        upper = self.upper_bound
        if number < self.minimum or (upper is not None and number > upper):
            bounds = f"between {self.minimum} and {upper}" if upper is not None else f"at least {self.minimum}"
            raise ConfigError(f"{self.label} must be {bounds}.", self.name)
        return number


# Fields most connectors share.
USER_MATCH = ("username", "email", "user_principal_name")


def timeout_field(default: int = 10) -> Field:
    """Seconds each call may wait, at most ``OUTBOUND_MAX_TIMEOUT_SECONDS``."""
    return Field("timeout", "Timeout (seconds)", "int", True, default=default, maximum=max_timeout)


def user_match_field(default: str = "username") -> Field:
    """Which of a person's Portcullis fields the target's user attribute holds."""
    return Field(
        "user_match",
        "Matches Portcullis field",
        "choice",
        True,
        "Which of a person's fields the attribute holds.",
        USER_MATCH,
        default,
    )
