"""Identifiers as they arrive from URLs, forms and API bodies.

Low-level on purpose (it imports nothing of the project), so every floor can use it: a
malformed id is simply an id of nothing, never an exception from the database.
"""

from __future__ import annotations

from uuid import UUID


def is_uuid(value: object) -> bool:
    """Whether ``value`` reads as a UUID (our primary keys)."""
    try:
        UUID(str(value))
    except ValueError:
        return False
    return True
