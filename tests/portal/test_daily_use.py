"""Issue 14 items 5 and 8 without a browser: every column sorts, the place filters offer only
what the viewer sees, bulk Remove confirms before it changes anything, activities in words."""

from __future__ import annotations

from typing import Any

import pytest

from governance import models as m
from governance.services import assignments
from tests import factories as f
from tests.portal.conftest import Scene, text

pytestmark = pytest.mark.django_db

SORTS = {
    "/governance/assignments/": ["person", "package", "policy", "status", "start", "end"],
    "/governance/requests/": ["person", "package", "type", "status", "created", "completed"],
    "/governance/catalogs/": ["name", "state", "external", "packages", "resources"],
    "/governance/packages/": ["name", "catalog", "hidden"],
    "/governance/organizations/": ["name", "state", "users", "policies"],
}


@pytest.mark.parametrize("url", list(SORTS))
def test_every_visible_column_sorts_both_ways(scene: Scene, as_persona: Any, url: str) -> None:
    client = as_persona("admin")
    for key in SORTS[url]:
        for sort in (key, f"-{key}"):
            response = client.get(url, {"sort": sort})
            assert response.status_code == 200, (url, sort)
            assert f'href="?sort={"-" if sort == key else ""}{key}"' in response.content.decode(), (url, sort)


def test_package_sort_orders_by_the_packages_name(scene: Scene, as_persona: Any, make_package: Any) -> None:
    other = make_package(name="Aardvark tools")
    f.AssignmentFactory(package=other, target=f.UserFactory(display_name="Zed Zulu"), state=m.AssignmentState.DELIVERED)
    client = as_persona("admin")
    rows = client.get("/governance/assignments/", {"sort": "package"}).context["page"].rows
    assert str(rows[0].package) == "Aardvark tools"
    rows = client.get("/governance/assignments/", {"sort": "-package"}).context["page"].rows
    assert str(rows[-1].package) == "Aardvark tools"


def test_place_filters_offer_only_what_the_viewer_sees(
    scene: Scene, as_persona: Any, other_catalog: m.Catalog, make_package: Any
) -> None:
    make_package(name="Finance reports", in_catalog=other_catalog)
    page = text(as_persona("assignment_manager").get("/governance/assignments/"))
    assert "Production on-call" in page
    assert "Finance reports" not in page
    assert other_catalog.display_name not in page
    # A catalog chosen narrows the packages offered.
    response = as_persona("admin").get("/governance/assignments/", {"catalog": str(other_catalog.pk)})
    packages = [str(p) for p in response.context["filter"].form.fields["package"].queryset]
    assert packages == ["Finance reports"]


def test_bulk_remove_confirms_then_queues_each_removal(scene: Scene, as_persona: Any) -> None:
    client = as_persona("assignment_manager")
    ids = [str(scene.delivered.pk), str(scene.partial.pk)]
    confirm = client.post("/governance/assignments/remove/", {"ids": ids, "next": "/governance/assignments/"})
    assert confirm.status_code == 200
    page = text(confirm)
    assert "Alice Anders loses Production on-call" in page
    assert "Bob Brown loses Production on-call" in page
    assert not m.AssignmentRequest.objects.filter(request_type=m.RequestType.ADMIN_REMOVE).exists()

    done = client.post(
        "/governance/assignments/remove/",
        {"ids": ids, "next": "/governance/assignments/", "confirm": "yes", "justification": "Rota ended"},
    )
    assert done.status_code == 302
    assert done["Location"] == "/governance/assignments/"
    removals = m.AssignmentRequest.objects.filter(request_type=m.RequestType.ADMIN_REMOVE)
    assert {r.assignment_id for r in removals} == {scene.delivered.pk, scene.partial.pk}
    assert (
        m.AuditEvent.objects.filter(action="request.submitted", object_id__in=[str(r.pk) for r in removals]).count()
        == 2
    )


def test_bulk_remove_skips_what_is_not_the_persons_to_remove(
    scene: Scene, as_persona: Any, finance_owner: m.User
) -> None:
    result = assignments.remove_assignments(finance_owner, [scene.delivered.pk])
    assert result.done == []
    assert len(result.skipped) == 1
    page = text(as_persona("finance_owner").post("/governance/assignments/remove/", {"ids": [str(scene.delivered.pk)]}))
    assert "None of the selected assignments can be removed" in page
    assert "Alice Anders" not in page


def test_bulk_remove_without_a_selection_says_so(scene: Scene, as_persona: Any) -> None:
    response = as_persona("admin").post("/governance/assignments/remove/", {"ids": []}, follow=True)
    assert "Select at least one assignment to remove." in text(response)


def test_activities_read_as_words() -> None:
    assert m.activity_name("request.stage_approved") == "Request approved"
    assert m.activity_name("user.changed_in_admin") == "User changed in admin"
    assert m.AuditEvent(action="grant.failed", object_type="rolegrant").object_kind == "Resource role grant"
