"""A choice field's label, translating only the label shown.

Django's ``get_<field>_display()`` builds ``dict(make_hashable(field.flatchoices))`` on every
call, and hashing a lazily translated label translates it: one status badge translated every
state's name (ten ``gettext`` calls), a fifth of the requests list's CPU. Here the map from
value to (still lazy) label is built once per field, and only the label looked up is
translated, in the language active when it is shown.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from django.db import models
from django.utils.encoding import force_str
from django.utils.hashable import make_hashable


@cache
def _labels(field: models.Field[Any, Any]) -> dict[Any, Any]:
    return {make_hashable(value): label for value, label in field.flatchoices}


class ChoiceLabels:
    """Mixin for models whose rows the lists show by the thousand: ``get_<field>_display()``
    answers as Django's does, without the per-call cost."""

    def _get_FIELD_display(self, field: models.Field[Any, Any]) -> Any:
        value = getattr(self, field.attname)
        return force_str(_labels(field).get(make_hashable(value), value), strings_only=True)
