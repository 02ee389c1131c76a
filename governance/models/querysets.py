"""Where a governed object sits: the catalog it belongs to, as a lookup path.

Authorization reads this path (:func:`governance.permissions.restrict` filters a queryset
by it), and so does the audit trail (:func:`catalog_id_of` files each row under its
catalog). The domain knows where things are; who may act on them is decided above it.
"""

from __future__ import annotations

from typing import Any, ClassVar
from uuid import UUID

from django.db import models


class CatalogScoped:
    """Mixin naming the lookup path from a model to the catalog it belongs to.

    ``None`` means the model is not inside a catalog: only global roles reach it.
    """

    catalog_path: ClassVar[str | None] = None


def catalog_id_of(obj: models.Model) -> UUID | None:
    """Follow the model's ``catalog_path`` on an instance (``package__catalog_id`` → value)."""
    path: str | None = getattr(obj, "catalog_path", None)
    if path is None:
        return None
    if path == "id":
        return obj.pk
    value: Any = obj
    for part in path.split("__"):
        value = getattr(value, part)
        if value is None:
            return None
    return value
