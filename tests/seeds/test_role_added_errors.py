"""Issue 15 item 6 (seed 003): when adding a resource role fails for some assignments, the
errors are found the seed's way: Requests → the person's request → its delivery errors."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from governance import models as m
from governance.services import packages
from tests import factories as f
from tests.portal.conftest import Scene, text

pytestmark = pytest.mark.django_db


def test_errors_of_an_added_role_show_on_the_persons_latest_request(
    scene: Scene, as_persona: Any, admin: m.User, deliver
) -> None:
    broken = f.ResourceRoleFactory(
        resource__catalog=scene.package.catalog,
        resource__display_name="Ghost group",
        resource__origin_id=str(uuid.uuid4()),
    )
    operation = packages.add_resource_role(admin, scene.package.pk, broken.pk)
    assert operation is not None
    packages.propagate_role_operation(operation.pk)
    deliver()
    alice_request = m.AssignmentRequest.objects.get(target__username="alice")
    attempts = m.DeliveryAttempt.objects.filter(grant__resource_role=broken)
    assert attempts.exists()
    assert set(attempts.values_list("request_id", flat=True)) == {
        alice_request.pk,
        scene.failed_request.pk,
    }
    scene.delivered.refresh_from_db()
    assert scene.delivered.state == m.AssignmentState.PARTIALLY_DELIVERED

    # The seed's route: Requests, the person's request, its errors.
    client = as_persona("pkg_manager")
    listing = client.get(f"/governance/packages/{scene.package.pk}/requests/", {"q": "alice"}).content.decode()
    assert f'href="/governance/requests/{alice_request.pk}/errors/" class="error">' in listing
    errors = text(client.get(f"/governance/requests/{alice_request.pk}/errors/"))
    assert "Ghost group" in errors
