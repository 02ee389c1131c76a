from __future__ import annotations

import pytest

from tests.api.conftest import Api

pytestmark = pytest.mark.django_db


def test_catalog_crud(admin_api: Api) -> None:
    made = admin_api.post("catalogs", {"displayName": "Marketing", "description": "M"})
    assert made.status == 201, made.body
    assert made.body["displayName"] == "Marketing"
    assert made.body["createdDateTime"].endswith("Z")
    listed = admin_api.get("catalogs")
    assert listed.status == 200, listed.body
    assert [c["displayName"] for c in listed.body["value"]] == ["Marketing"]
