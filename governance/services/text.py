"""Free text as the services store it."""

from __future__ import annotations

from governance.services.errors import ValidationFailed


def clean_text(value: object, field: str) -> str:
    """Stripped; a NUL character refused, since PostgreSQL cannot store one in text (a form
    or the API refuses it first, but a service must not depend on its caller for that)."""
    text = str(value or "").strip()
    if "\x00" in text:
        raise ValidationFailed("The text cannot contain a NUL character.", field=field)
    return text
