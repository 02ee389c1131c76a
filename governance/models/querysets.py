"""The queryset every governed model uses: `restrict(principal, action)` (NetBox's habit).

The decision itself lives in :mod:`governance.permissions`; this only makes it a method
so a view reads ``Assignment.objects.restrict(request.user, "view")``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from django.db import models

if TYPE_CHECKING:
    from governance.permissions import Action

_M = TypeVar("_M", bound=models.Model)


class RestrictedQuerySet(models.QuerySet[_M]):
    def restrict(self, principal: Any, action: Action | str = "view") -> RestrictedQuerySet[_M]:
        from governance.permissions import restrict

        return restrict(self, principal, action)


class CatalogScoped:
    """Mixin naming the lookup path from a model to the catalog it belongs to.

    ``None`` means the model is not inside a catalog: only global roles reach it.
    """

    catalog_path: ClassVar[str | None] = None
