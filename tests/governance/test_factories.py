"""Every model has a factory, and each factory makes a valid row."""

from __future__ import annotations

import inspect

import pytest
from django.apps import apps
from factory.django import DjangoModelFactory

from tests import factories

pytestmark = pytest.mark.django_db

FACTORIES = [
    obj
    for _, obj in inspect.getmembers(factories, inspect.isclass)
    if issubclass(obj, DjangoModelFactory) and obj is not DjangoModelFactory
]


def test_every_model_has_a_factory() -> None:
    covered = {factory._meta.model for factory in FACTORIES}
    missing = [m.__name__ for m in apps.get_app_config("governance").get_models() if m not in covered]
    assert missing == []


@pytest.mark.parametrize("factory", FACTORIES, ids=lambda f: f.__name__)
def test_factory_makes_a_valid_row(factory: type[DjangoModelFactory]) -> None:
    obj = factory()
    obj.full_clean(validate_unique=False)
    assert type(obj).objects.filter(pk=obj.pk).exists()
    assert str(obj)
