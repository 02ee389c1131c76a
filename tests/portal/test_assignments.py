"""Assignments (seeds 003 and 004): filters, detail with grants and attempts, New
assignment, remove, change the end, Reprocess one and several, Download."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest
from django.http import StreamingHttpResponse
from django.utils import timezone

from governance import models as m
from tests import factories as f
from tests.conftest import members_of, snapshot
from tests.portal.conftest import ASSIGNERS, Scene, repair, text
from tests.portal.submissions import form_token

pytestmark = pytest.mark.django_db


def _rows(response: Any) -> list[str]:
    """The people listed in an assignments table."""
    return [str(a.target) for a in response.context["page"].rows]


def _expired(scene: Scene) -> m.Assignment:
    return f.AssignmentFactory(
        package=scene.package,
        policy=scene.direct_policy,
        target=f.UserFactory(username="erin", display_name="Erin Ended"),
        state=m.AssignmentState.EXPIRED,
        start_at=timezone.now() - timedelta(days=60),
        end_at=timezone.now() - timedelta(days=30),
    )


class TestList:
    def test_active_by_default_then_by_status(self, scene: Scene, as_persona: Any) -> None:
        _expired(scene)
        client = as_persona("catalog_reader")
        url = f"/governance/packages/{scene.package.pk}/assignments/"
        assert sorted(_rows(client.get(url))) == ["Alice Anders", "Bob Brown"]
        assert _rows(client.get(url, {"status": "partiallyDelivered"})) == ["Bob Brown"]
        assert _rows(client.get(url, {"status": "delivered"})) == ["Alice Anders"]
        assert _rows(client.get(url, {"status": "expired"})) == ["Erin Ended"]
        assert len(_rows(client.get(url, {"status": "all"}))) == 3
        page = text(client.get(url, {"status": "partiallyDelivered"}))
        assert "Partially fulfilled" in page

    def test_drifted(self, scene: Scene, as_persona: Any) -> None:
        m.RoleGrant.objects.filter(assignment=scene.delivered).update(state=m.GrantState.DRIFTED)
        response = as_persona("admin").get("/governance/assignments/", {"status": "drifted"})
        assert _rows(response) == ["Alice Anders"]
        assert "Drifted" in text(response)

    def test_search_by_person_and_sort(self, scene: Scene, as_persona: Any) -> None:
        client = as_persona("admin")
        assert _rows(client.get("/governance/assignments/", {"q": "bob@"})) == ["Bob Brown"]
        assert _rows(client.get("/governance/assignments/", {"sort": "person"})) == ["Alice Anders", "Bob Brown"]
        assert _rows(client.get("/governance/assignments/", {"sort": "-person"})) == ["Bob Brown", "Alice Anders"]

    def test_pages_of_fifty(self, scene: Scene, as_persona: Any) -> None:
        for _n in range(55):
            f.AssignmentFactory(package=scene.package, policy=scene.direct_policy, target=f.UserFactory())
        client = as_persona("admin")
        first = client.get("/governance/assignments/")
        assert len(first.context["page"].rows) == 50
        assert first.context["page"].has_next
        second = client.get("/governance/assignments/", {"page": "2"})
        assert len(second.context["page"].rows) == 7
        assert not second.context["page"].has_next
        assert not {a.pk for a in first.context["page"].rows} & {a.pk for a in second.context["page"].rows}
        assert client.get("/governance/assignments/", {"page": "nonsense"}).status_code == 200

    def test_the_global_list_spans_catalogs_one_may_see(self, scene: Scene, as_persona: Any, other_catalog) -> None:
        elsewhere = f.AccessPackageFactory(catalog=other_catalog, display_name="Payroll")
        f.AssignmentFactory(package=elsewhere, policy=f.PolicyFactory(package=elsewhere))
        assert len(_rows(as_persona("admin").get("/governance/assignments/"))) == 3
        assert len(_rows(as_persona("assignment_manager").get("/governance/assignments/"))) == 2


class TestDetail:
    def test_every_role_with_its_state_and_attempts(self, scene: Scene, as_persona: Any) -> None:
        page = text(as_persona("catalog_reader").get(f"/governance/assignments/{scene.partial.pk}/"))
        assert f"{scene.good_role} " in page
        assert "Granted" in page
        assert f"{scene.bad_role} " in page
        assert "Failed" in page
        assert "Permanent error" in page
        assert "groupNotFound" in page
        assert "does not exist in the built-in directory" in page
        assert "Built-in directory" in page  # the connector of each attempt
        # A reader sees no actions.
        assert "Remove assignment" not in page
        assert "Reprocess" not in page


class TestNewAssignment:
    @pytest.mark.parametrize("persona", ASSIGNERS)
    def test_assign_people_through_the_admin_direct_policy(self, scene: Scene, as_persona: Any, persona, deliver):
        client = as_persona(persona)
        url = f"/governance/packages/{scene.package.pk}/assignments/new/"
        page = client.get(url)
        form = page.context["form"]
        assert list(form.fields["policy"].queryset) == [scene.direct_policy]
        dana, eve = f.UserFactory(username="dana"), f.UserFactory(username="eve")
        data = {
            "submission": form.initial["submission"],
            "users": [dana.pk, eve.pk],
            "policy": scene.direct_policy.pk,
            "justification": "New on-call pair",
        }
        response = client.post(url, data, follow=True)
        assert response.redirect_chain[-1][0] == f"/governance/packages/{scene.package.pk}/assignments/"
        assert "Assigned:" in text(response)
        requests = m.AssignmentRequest.objects.filter(target__in=[dana, eve], request_type="adminAdd")
        assert {r.justification for r in requests} == {"New on-call pair"}
        assert (
            m.AuditEvent.objects.filter(action="request.submitted", object_id__in=[str(r.pk) for r in requests]).count()
            == 2
        )
        client.post(url, data)  # double submit
        assert m.AssignmentRequest.objects.filter(target__in=[dana, eve], request_type="adminAdd").count() == 2
        deliver()
        assert {"dana", "eve"} <= members_of(scene.good_role)

    def test_a_future_start_is_scheduled(self, scene: Scene, as_persona: Any) -> None:
        client = as_persona("assignment_manager")
        url = f"/governance/packages/{scene.package.pk}/assignments/new/"
        token = form_token(client, url)
        dana = f.UserFactory(username="dana")
        start = (timezone.localtime() + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
        end = (timezone.localtime() + timedelta(days=5)).strftime("%Y-%m-%dT%H:%M")
        data = {"submission": token, "users": [dana.pk], "policy": scene.direct_policy.pk, "start": start, "end": end}
        response = client.post(url, data, follow=True)
        assert "Scheduled:" in text(response)
        request = m.AssignmentRequest.objects.get(target=dana)
        assert request.state == m.RequestState.SCHEDULED
        assert request.schedule_end is not None

    @pytest.mark.parametrize(
        ("change", "field", "message"),
        [
            ({"users": []}, "users", "This field is required."),
            ({"policy": ""}, "policy", "This field is required."),
            ({"end": "2001-01-01T00:00"}, "end", "The end must be after the start."),
            ({"start": "2001-01-01T00:00"}, "start", "The start cannot be in the past."),
            ({"users": "alice"}, "users", "Already assigned or with an open request: Alice Anders."),
        ],
    )
    def test_bad_input(self, scene: Scene, as_persona: Any, change, field, message) -> None:
        client = as_persona("assignment_manager")
        url = f"/governance/packages/{scene.package.pk}/assignments/new/"
        token = form_token(client, url)
        dana = f.UserFactory(username="dana")
        data = {"submission": token, "users": [dana.pk], "policy": scene.direct_policy.pk, **change}
        if data["users"] == "alice":
            data["users"] = [scene.delivered.target_id]
        before = snapshot()
        response = client.post(url, data)
        assert response.status_code == 200
        assert message in " ".join(response.context["form"].errors.get(field, [])), response.context["form"].errors
        assert snapshot() == before

    def test_a_requestable_policy_is_not_offered(self, scene: Scene, as_persona: Any) -> None:
        requestable = scene.package.policies.exclude(pk=scene.direct_policy.pk).get()
        client = as_persona("assignment_manager")
        url = f"/governance/packages/{scene.package.pk}/assignments/new/"
        token = form_token(client, url)
        dana = f.UserFactory(username="dana")
        response = client.post(url, {"submission": token, "users": [dana.pk], "policy": requestable.pk})
        assert response.status_code == 200
        assert response.context["form"].errors["policy"]

    def test_without_an_admin_direct_policy_the_page_says_how_to_add_one(self, as_persona: Any, catalog) -> None:
        package = f.AccessPackageFactory(catalog=catalog)
        page = text(as_persona("pkg_manager").get(f"/governance/packages/{package.pk}/assignments/new/"))
        assert "no enabled policy for direct assignment" in page
        assert "Add policy" in page


class TestRemoveAndEnd:
    def test_remove_twice(self, scene: Scene, as_persona: Any, deliver) -> None:
        client = as_persona("assignment_manager")
        url = f"/governance/assignments/{scene.delivered.pk}/remove/"
        response = client.post(url, {"justification": "Left the team"}, follow=True)
        assert "Assignment removed" in text(response)
        removal = m.AssignmentRequest.objects.get(assignment=scene.delivered, request_type="adminRemove")
        assert removal.justification == "Left the team"
        deliver()
        assert "alice" not in members_of(scene.good_role)
        again = client.post(url, follow=True)
        assert "already removed" in text(again)
        assert m.AssignmentRequest.objects.filter(assignment=scene.delivered, request_type="adminRemove").count() == 1

    def test_change_the_end(self, scene: Scene, as_persona: Any) -> None:
        client = as_persona("pkg_manager")
        end = timezone.localtime() + timedelta(days=10)
        response = client.post(
            f"/governance/assignments/{scene.delivered.pk}/end/", {"end": end.strftime("%Y-%m-%dT%H:%M")}, follow=True
        )
        assert "End date changed." in text(response)
        scene.delivered.refresh_from_db()
        assert scene.delivered.end_at is not None
        assert abs((scene.delivered.end_at - end).total_seconds()) < 60

    def test_an_end_in_the_past_is_refused(self, scene: Scene, as_persona: Any) -> None:
        client = as_persona("pkg_manager")
        before = snapshot()
        response = client.post(
            f"/governance/assignments/{scene.delivered.pk}/end/", {"end": "2001-01-01T00:00"}, follow=True
        )
        assert "The end must be in the future." in text(response)
        assert snapshot() == before


class TestReprocess:
    def test_one(self, scene: Scene, as_persona: Any, deliver) -> None:
        repair(scene.bad_role)
        client = as_persona("assignment_manager")
        response = client.post(f"/governance/assignments/{scene.partial.pk}/reprocess/", follow=True)
        assert "Reprocessing" in text(response)
        assert m.AuditEvent.objects.filter(action="assignment.reprocessed", object_id=str(scene.partial.pk)).exists()
        deliver()
        scene.partial.refresh_from_db()
        assert scene.partial.state == m.AssignmentState.DELIVERED

    def test_several_with_the_ineligible_reported(self, scene: Scene, as_persona: Any, deliver) -> None:
        expired = _expired(scene)
        # Access removed outside the portal: reprocess puts it back (seed 004).
        m.GroupMembership.objects.filter(user=scene.delivered.target).delete()
        client = as_persona("pkg_manager")
        back = f"/governance/packages/{scene.package.pk}/assignments/?status=all"
        response = client.post(
            "/governance/assignments/reprocess/",
            {"ids": [scene.delivered.pk, scene.partial.pk, expired.pk], "next": back},
            follow=True,
        )
        assert response.redirect_chain[-1][0] == back
        assert (
            "Reprocess: 2 queued; 1 skipped (Only active assignments can be reprocessed): already Expired (1)."
            in text(response)
        )
        deliver()
        assert "alice" in members_of(scene.good_role)

    def test_nothing_selected(self, scene: Scene, as_persona: Any) -> None:
        response = as_persona("pkg_manager").post("/governance/assignments/reprocess/", {}, follow=True)
        assert "Select at least one assignment to reprocess." in text(response)


class TestDownload:
    def _csv(self, response: Any) -> list[dict[str, str]]:
        assert isinstance(response, StreamingHttpResponse)
        assert response["Content-Type"].startswith("text/csv")
        assert "attachment" in response["Content-Disposition"]
        body = b"".join(response.streaming_content).decode()
        return list(csv.DictReader(io.StringIO(body)))

    def test_the_filtered_list(self, scene: Scene, as_persona: Any) -> None:
        _expired(scene)
        client = as_persona("catalog_reader")
        url = f"/governance/packages/{scene.package.pk}/assignments/download/"
        rows = self._csv(client.get(url, {"status": "partiallyDelivered"}))
        assert [(r["Person"], r["Status"], r["Access package"]) for r in rows] == [
            ("Bob Brown", "Partially fulfilled", "Production on-call")
        ]
        assert rows[0]["Email"] == "bob@portcullis.example"
        assert len(self._csv(client.get(url))) == 2  # active only, as the page
        assert len(self._csv(client.get(url, {"status": "all"}))) == 3
        assert [r["Person"] for r in self._csv(client.get(url, {"status": "expired"}))] == ["Erin Ended"]

    def test_the_download_link_carries_the_filters(self, scene: Scene, as_persona: Any) -> None:
        body = as_persona("admin").get("/governance/assignments/", {"status": "expired", "q": "er"}).content.decode()
        assert 'href="/governance/assignments/download/?status=expired&amp;q=er"' in body

    def test_formulas_are_neutralised(self, scene: Scene, as_persona: Any) -> None:
        scene.delivered.target.display_name = "=HYPERLINK(1)"
        scene.delivered.target.save()
        rows = self._csv(as_persona("admin").get("/governance/assignments/download/"))
        assert "'=HYPERLINK(1)" in [r["Person"] for r in rows]
