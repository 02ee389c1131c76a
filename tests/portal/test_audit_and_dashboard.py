"""The audit log (global, per object, filters, CSV) and the dashboard's counts."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from governance import models as m
from tests import factories as f
from tests.portal.conftest import Scene, pending_request

pytestmark = pytest.mark.django_db


def _actions(response: Any) -> list[str]:
    return [e.action for e in response.context["page"].rows]


class TestAuditLog:
    def test_catalog_roles_see_their_catalogs_events_only(self, scene: Scene, as_persona: Any, other_catalog) -> None:
        f.AuditEventFactory(action="secret.thing", catalog_id=other_catalog.pk)
        f.AuditEventFactory(action="global.thing", catalog_id=None)
        reader = as_persona("catalog_reader").get("/governance/audit/", {"page": "1"})
        actions = set(_actions(reader))
        assert "request.submitted" in actions
        assert not {"secret.thing", "global.thing"} & actions
        everything = {e.action for e in m.AuditEvent.objects.all()}
        admin_view = as_persona("admin")
        seen = set()
        page = 1
        while True:
            response = admin_view.get("/governance/audit/", {"page": page})
            seen |= set(_actions(response))
            if not response.context["page"].has_next:
                break
            page += 1
        assert seen == everything

    def test_filter_by_actor_action_date_and_object(self, scene: Scene, as_persona: Any) -> None:
        client = as_persona("admin")
        rows = client.get("/governance/audit/", {"action": "request.", "actor": "admin"}).context["page"].rows
        assert rows
        assert all(e.action.startswith("request.") and "admin" in e.actor_label for e in rows)
        per_request = client.get("/governance/audit/", {"object": str(scene.failed_request.pk)})
        assert set(_actions(per_request)) >= {"request.submitted", "request.partiallyDelivered"}
        assert {e.object_id for e in per_request.context["page"].rows} == {str(scene.failed_request.pk)}
        per_package = client.get("/governance/audit/", {"package": str(scene.package.pk)})
        assert {e.package_id for e in per_package.context["page"].rows} == {scene.package.pk}
        tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
        assert client.get("/governance/audit/", {"date_from": tomorrow}).context["page"].rows == []

    def test_object_pages_link_to_their_history(self, scene: Scene, as_persona: Any) -> None:
        client = as_persona("admin")
        assert (
            f"/governance/audit/?object={scene.failed_request.pk}"
            in client.get(f"/governance/requests/{scene.failed_request.pk}/").content.decode()
        )
        assert (
            f"/governance/audit/?object={scene.partial.pk}"
            in client.get(f"/governance/assignments/{scene.partial.pk}/").content.decode()
        )
        assert (
            f"/governance/audit/?package={scene.package.pk}"
            in client.get(f"/governance/packages/{scene.package.pk}/").content.decode()
        )

    def test_download(self, scene: Scene, as_persona: Any) -> None:
        response = as_persona("admin").get("/governance/audit/download/", {"object": str(scene.failed_request.pk)})
        assert response["Content-Type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
        assert rows
        assert {r["Object id"] for r in rows} == {str(scene.failed_request.pk)}
        assert "request.submitted" in {r["Action"] for r in rows}


class TestDashboard:
    def test_counts_link_to_the_filtered_lists(self, scene: Scene, as_persona: Any, approver) -> None:
        pending_request(scene.package, approver)
        m.RoleGrant.objects.filter(assignment=scene.delivered).update(state=m.GrantState.DRIFTED)
        client = as_persona("pkg_manager")
        tiles = {t["label"]: t for t in client.get("/governance/").context["tiles"]}
        assert tiles["requests with delivery errors"]["count"] == 1
        assert tiles["assignments not fully delivered"]["count"] == 1
        assert tiles["assignments with drifted access"]["count"] == 1
        assert tiles["requests pending approval"]["count"] == 1
        # Each count opens exactly those rows.
        for label, rows in [
            ("requests with delivery errors", 1),
            ("assignments not fully delivered", 1),
            ("assignments with drifted access", 1),
            ("requests pending approval", 1),
        ]:
            listed = client.get(tiles[label]["url"])
            assert len(listed.context["page"].rows) == rows, label

    def test_counts_stay_inside_ones_catalogs(self, scene: Scene, as_persona: Any) -> None:
        tiles = {t["label"]: t["count"] for t in as_persona("finance_owner").get("/governance/").context["tiles"]}
        assert tiles["requests with delivery errors"] == 0
        assert tiles["access packages"] == 0
