"""The object a state change is about, row-locked for the change's transaction.

Reached only through :func:`governance.permissions.get_for`: out of sight is NotFound,
in sight but not allowed is NotAllowed. An id that is not a UUID is an id of nothing.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.db.models import Manager, Model, QuerySet

from governance.errors import NotFound
from governance.ids import is_uuid
from governance.permissions import Action, get_for

_M = TypeVar("_M", bound=Model)


def lock_for(actor: Any, action: Action, queryset: QuerySet[_M] | Manager[_M], pk: Any, noun: str) -> _M:
    """``pk`` of ``queryset``, locked until the transaction ends, when ``actor`` may take
    ``action`` on it. Call inside ``transaction.atomic()``."""
    if not is_uuid(pk):
        raise NotFound(f"{noun.capitalize()} not found.")
    found: _M = get_for(actor, action, queryset.select_for_update(of=("self",)), pk, noun)
    return found
