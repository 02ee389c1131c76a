"""Choice labels (models/labels.py) read as Django's own get_<field>_display() reads them, in
the language active when shown."""

from __future__ import annotations

import pytest
from django.db import models
from django.utils import translation

from governance import models as m
from governance.models.labels import ChoiceLabels

LABELED = (
    m.Assignment,
    m.RoleGrant,
    m.DeliveryAttempt,
    m.AssignmentRequest,
    m.ApprovalDecision,
    m.AccessReviewDecision,
)


@pytest.mark.parametrize("language", ["en", "de", "fr"])
def test_every_label_is_djangos_in_the_active_language(language):
    checked = 0
    with translation.override(language):
        for model in LABELED:
            assert issubclass(model, ChoiceLabels), model
            for field in model._meta.concrete_fields:
                for value, _ in field.flatchoices if field.choices else ():
                    row = model(**{field.attname: value})
                    shown = getattr(row, f"get_{field.name}_display")()
                    assert shown == models.Model._get_FIELD_display(row, field), (model, field.name, value)
                    checked += 1
    assert checked > 20


def test_the_label_follows_the_language_shown_in():
    row = m.AssignmentRequest(state=m.RequestState.DELIVERED)
    with translation.override("de"):
        assert row.get_state_display() == "Bereitgestellt"
    with translation.override("en"):
        assert row.get_state_display() == "Delivered"


def test_a_value_without_a_choice_shows_itself():
    assert m.AssignmentRequest(state="somethingNew").get_state_display() == "somethingNew"
