"""Reprocess all matching (DESIGN §8): the confirmation counts, GET changes nothing, the click
records one bulk operation and queues one task, the task works in resumable batches within
the admin's catalogs, the filter and the reprocess window."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from governance import models as m
from governance.services import assignments
from governance.services.bulk_reprocess import run_reprocess_matching
from tests import factories as f
from tests.conftest import snapshot
from tests.portal.conftest import broken_role, deliver_now, messages_of, repair, text

ALL_REQUESTS = "/governance/requests/reprocess-all/"
ALL_ASSIGNMENTS = "/governance/assignments/reprocess-all/"


def failed_requests(
    admin: m.User, catalog: m.Catalog, n: int, *, prefix: str, name: str = "Outage"
) -> tuple[m.AccessPackage, m.ResourceRole, list[m.AssignmentRequest]]:
    """``n`` direct assignments to a package whose one group is missing: every request ends
    Delivery failed, as after an outage of the target system."""
    package = f.AccessPackageFactory(catalog=catalog, display_name=name)
    role = broken_role(package)
    policy = f.PolicyFactory(package=package, display_name="Direct", allowed_target_scope=m.TargetScope.NO_ONE)
    people = [f.UserFactory(username=f"{prefix}{i:04d}", display_name=f"{prefix} {i}") for i in range(n)]
    made = assignments.create_direct_assignments(
        admin, package.pk, policy_id=policy.pk, target_ids=[p.pk for p in people]
    )
    deliver_now()
    states = set(m.AssignmentRequest.objects.filter(pk__in=[r.pk for r in made]).values_list("state", flat=True))
    assert states == {m.RequestState.DELIVERY_FAILED}
    return package, role, made


def states_of(requests: list[m.AssignmentRequest]) -> set[str]:
    return set(m.AssignmentRequest.objects.filter(pk__in=[r.pk for r in requests]).values_list("state", flat=True))


def reprocess_audits(requests: list[m.AssignmentRequest]) -> int:
    return m.AuditEvent.objects.filter(action="request.reprocess", object_id__in=[str(r.pk) for r in requests]).count()


def test_get_shows_the_count_and_changes_nothing(catalog: m.Catalog, admin: m.User, client: Any) -> None:
    failed_requests(admin, catalog, 60, prefix="bulk")
    client.force_login(admin)
    before = snapshot()
    response = client.get(ALL_REQUESTS, {"status": "attention", "page": "2"})
    assert response.status_code == 200
    page = text(response)
    assert "All 60 matching requests selected" in page
    assert "Reprocess all 60 matching" in page
    assert snapshot() == before
    assert not m.BulkReprocess.objects.exists()
    # The list offers it, carrying its filter but not its page.
    listing = client.get("/governance/requests/", {"status": "attention", "page": "2"}).content.decode()
    assert f'href="{ALL_REQUESTS}?status=attention"' in listing
    assert "Select all matching requests" in listing


def test_the_click_queues_one_operation_and_the_task_reprocesses_every_match(
    catalog: m.Catalog, admin: m.User, client: Any, settings: Any
) -> None:
    settings.BULK_REPROCESS_BATCH_SIZE = 25
    _package, role, made = failed_requests(admin, catalog, 60, prefix="bulk")
    client.force_login(admin)
    response = client.post(f"{ALL_REQUESTS}?status=attention&q=bulk")
    operation = m.BulkReprocess.objects.get()
    assert response.status_code == 302
    assert response.url == f"/governance/reprocess/{operation.pk}/"
    assert (operation.kind, operation.matched, operation.actor, operation.state) == ("requests", 60, admin, "queued")
    assert operation.query == "status=attention&q=bulk"
    audit = m.AuditEvent.objects.get(action="request.reprocess_all")
    assert (audit.actor, audit.object_id, audit.data["matched"]) == (admin, str(operation.pk), 60)
    # The click did no reprocessing itself.
    assert states_of(made) == {m.RequestState.DELIVERY_FAILED}
    page = client.get(response.url)
    assert "Reprocessing 60 requests — queued" in messages_of(page)
    assert "Queued" in text(page)

    repair(role)
    assert run_reprocess_matching(operation.pk) is True  # what the worker's task does
    operation.refresh_from_db()
    assert (operation.state, operation.processed, operation.queued, operation.skipped) == ("done", 60, 60, 0)
    progress = text(client.get(response.url))
    assert "60 processed: 60 reprocessed, 0 skipped" in progress
    assert "Done" in progress
    deliver_now()
    assert states_of(made) == {m.RequestState.DELIVERED}
    assert reprocess_audits(made) == 60  # one audit row per request, written in bulk

    # Running it again (a redelivered task) does nothing twice.
    assert run_reprocess_matching(operation.pk) is True
    assert reprocess_audits(made) == 60


def test_only_the_filter_the_catalogs_and_the_window_are_reprocessed(
    catalog: m.Catalog, other_catalog: m.Catalog, admin: m.User, assignment_manager: m.User, client: Any
) -> None:
    _, role, matching = failed_requests(admin, catalog, 30, prefix="bulk")
    _, _, other_people = failed_requests(admin, catalog, 5, prefix="else", name="Other people")
    _, _, finance = failed_requests(admin, other_catalog, 5, prefix="bulkfin", name="Finance outage")
    old = matching[:3]
    m.AssignmentRequest.objects.filter(pk__in=[r.pk for r in old]).update(
        completed_at=timezone.now() - timedelta(days=15)
    )
    client.force_login(assignment_manager)
    assert "All 27 matching requests selected" in text(client.get(ALL_REQUESTS, {"q": "bulk"}))
    client.post(f"{ALL_REQUESTS}?q=bulk")
    operation = m.BulkReprocess.objects.get()
    assert operation.matched == 27
    repair(role)
    run_reprocess_matching(operation.pk)
    deliver_now()
    assert states_of(matching[3:]) == {m.RequestState.DELIVERED}
    for untouched in (old, other_people, finance):
        assert states_of(untouched) == {m.RequestState.DELIVERY_FAILED}
        assert reprocess_audits(untouched) == 0


def test_the_click_costs_the_same_queries_whatever_the_count(
    catalog: m.Catalog, admin: m.User, client: Any, django_assert_num_queries: Any
) -> None:
    failed_requests(admin, catalog, 2, prefix="few")
    client.force_login(admin)
    client.get("/governance/")  # the session and the role cache are warm for both
    with CaptureQueriesContext(connection) as confirm_few:
        assert "Reprocess all 2 matching" in text(client.get(ALL_REQUESTS, {"q": "few"}))
    with CaptureQueriesContext(connection) as few:
        assert client.post(f"{ALL_REQUESTS}?q=few").status_code == 302
    failed_requests(admin, catalog, 120, prefix="many", name="Big outage")
    with django_assert_num_queries(len(confirm_few.captured_queries)):
        assert "Reprocess all 120 matching" in text(client.get(ALL_REQUESTS, {"q": "many"}))
    with django_assert_num_queries(len(few.captured_queries)):
        assert client.post(f"{ALL_REQUESTS}?q=many").status_code == 302
    assert list(m.BulkReprocess.objects.order_by("created_at").values_list("matched", flat=True)) == [2, 120]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("status=bogus", "Select a valid choice"),
        ("date_from=yesterday", "Enter a valid date"),
    ],
)
def test_bad_filter_input_is_a_form_error_and_nothing_is_queued(
    catalog: m.Catalog, admin: m.User, client: Any, query: str, message: str
) -> None:
    failed_requests(admin, catalog, 3, prefix="bulk")
    client.force_login(admin)
    before = snapshot()
    for response in (client.get(f"{ALL_REQUESTS}?{query}"), client.post(f"{ALL_REQUESTS}?{query}")):
        assert response.status_code == 400
        assert "The filter is not valid, so nothing was queued." in text(response)
        assert message in text(response)
    assert snapshot() == before
    assert not m.BulkReprocess.objects.exists()


def test_who_may_click_and_who_may_see_the_progress(
    catalog: m.Catalog,
    admin: m.User,
    catalog_reader: m.User,
    finance_owner: m.User,
    assignment_manager: m.User,
    client: Any,
) -> None:
    failed_requests(admin, catalog, 3, prefix="bulk")
    client.force_login(catalog_reader)  # may look, not reprocess
    assert client.get(ALL_REQUESTS).status_code == 404
    assert client.post(ALL_REQUESTS).status_code == 404
    client.force_login(finance_owner)  # may reprocess, but not in Engineering
    assert "No requests matching this filter can be reprocessed" in text(client.get(ALL_REQUESTS))
    client.force_login(assignment_manager)
    progress = client.post(ALL_REQUESTS).url
    assert client.get(progress).status_code == 200
    partial = client.get(progress, headers={"HX-Request": "true"}).content.decode()
    assert "<html" not in partial
    assert 'hx-trigger="every 1s"' in partial
    client.force_login(finance_owner)
    assert client.get(progress).status_code == 404
    client.force_login(admin)  # global roles see every operation
    assert client.get(progress).status_code == 200
    assert not m.AssignmentRequest.objects.filter(state=m.RequestState.DELIVERING).exists()


def test_a_package_tab_reprocesses_only_that_package(catalog: m.Catalog, admin: m.User, client: Any) -> None:
    package, role, inside = failed_requests(admin, catalog, 4, prefix="pkg")
    _, _, outside = failed_requests(admin, catalog, 4, prefix="oth", name="Another package")
    client.force_login(admin)
    url = f"/governance/packages/{package.pk}/requests/reprocess-all/"
    assert "All 4 matching requests selected" in text(client.get(url))
    client.post(url)
    repair(role)
    run_reprocess_matching(m.BulkReprocess.objects.get().pk)
    deliver_now()
    assert states_of(inside) == {m.RequestState.DELIVERED}
    assert states_of(outside) == {m.RequestState.DELIVERY_FAILED}


def test_reprocess_all_matching_assignments(
    catalog: m.Catalog, admin: m.User, assignment_manager: m.User, client: Any, settings: Any
) -> None:
    settings.BULK_REPROCESS_BATCH_SIZE = 7
    _, role, made = failed_requests(admin, catalog, 20, prefix="asg")
    client.force_login(assignment_manager)
    assert "All 20 matching assignments selected" in text(client.get(ALL_ASSIGNMENTS, {"status": "attention"}))
    response = client.post(f"{ALL_ASSIGNMENTS}?status=attention")
    assert "Reprocessing 20 assignments — queued" in messages_of(client.get(response.url))
    repair(role)
    operation = m.BulkReprocess.objects.get()
    run_reprocess_matching(operation.pk)
    operation.refresh_from_db()
    assert (operation.kind, operation.processed, operation.queued) == ("assignments", 20, 20)
    deliver_now()
    states = m.Assignment.objects.filter(requests__in=made).values_list("state", flat=True)
    assert set(states) == {m.AssignmentState.DELIVERED}
    assert m.AuditEvent.objects.filter(action="assignment.reprocessed").count() == 20
    assert m.AuditEvent.objects.filter(action="assignment.reprocess_all").count() == 1


def test_batches_commit_one_by_one_and_a_rerun_starts_after_the_last(
    catalog: m.Catalog, admin: m.User, client: Any, settings: Any
) -> None:
    """What a killed worker leaves: some batches committed. Another run finishes the rest once."""
    settings.BULK_REPROCESS_BATCH_SIZE = 10
    _, role, made = failed_requests(admin, catalog, 35, prefix="bulk")
    repair(role)
    client.force_login(admin)
    client.post(ALL_REQUESTS)
    operation = m.BulkReprocess.objects.get()
    assert run_reprocess_matching(operation.pk, max_seconds=0) is False  # one batch, then time is up
    operation.refresh_from_db()
    assert (operation.state, operation.processed) == ("running", 10)
    assert reprocess_audits(made) == 10
    assert run_reprocess_matching(operation.pk) is True
    operation.refresh_from_db()
    assert (operation.state, operation.processed, operation.queued) == ("done", 35, 35)
    assert reprocess_audits(made) == 35
