"""The benchmark's data generator, at a tiny size: it must keep producing data the models
accept and the pages show, or `make bench` would measure something that no longer exists."""

from __future__ import annotations

import csv
import io
from collections import Counter

import pytest
from django.db import connection
from django.test import Client

from bench.generate import ADMIN, REQUESTOR, Sizes, generate
from governance import models as m
from governance.permissions import discoverable_packages
from governance.services.api_clients import create_api_client

pytestmark = pytest.mark.django_db

TINY = Sizes(catalogs=2, packages=8, users=20, assignments=50, requests=100, visible=2)


@pytest.fixture
def generated() -> dict[str, object]:
    return generate(TINY, verbose=False)


def test_it_writes_the_requested_rows_the_pages_show(generated: dict[str, object]) -> None:
    _counts(generated)
    _rules()
    requestor = m.User.objects.get(username=REQUESTOR)
    assert discoverable_packages(requestor).count() == TINY.visible
    _pages()


def _counts(generated: dict[str, object]) -> None:
    assert m.Catalog.objects.count() == 2
    assert m.AccessPackage.objects.count() == 8
    assert m.AssignmentPolicy.objects.count() == 16  # an admin-direct and a request policy each
    assert m.User.objects.count() == 20 + 2  # the people and the two bench personas
    assert m.Assignment.objects.count() == 50
    assert m.AssignmentRequest.objects.count() == 100
    # A grant per role of each assignment's package, and delivery errors for the failed ones.
    wanted = sum(a.package.role_links.count() for a in m.Assignment.objects.select_related("package"))
    assert m.RoleGrant.objects.count() == wanted
    failed = m.RoleGrant.objects.filter(state=m.GrantState.FAILED).count()
    assert m.DeliveryAttempt.objects.count() == 3 * failed
    assert generated["counts"]["governance_assignment"] == 50  # type: ignore[index]


def _rules() -> None:
    # Rule 12: one active assignment and one open add-request per person and package.
    active = m.Assignment.objects.filter(state__in=m.AssignmentState.ACTIVE)
    assert len(set(active.values_list("target_id", "package_id"))) == active.count()
    # Every assignment was made by an add request, which its grants serve.
    for assignment in m.Assignment.objects.prefetch_related("requests", "grants"):
        adds = [r for r in assignment.requests.all() if r.request_type in m.RequestType.ADDS]
        assert len(adds) == 1
        assert {g.request_id for g in assignment.grants.all()} == {adds[0].pk}
    # Grants agree with their assignment's state.
    for state, grant_states in [
        (m.AssignmentState.DELIVERED, {"granted"}),
        (m.AssignmentState.DELIVERY_FAILED, {"failed"}),
        (m.AssignmentState.EXPIRED, {"revoked"}),
    ]:
        found = set(m.RoleGrant.objects.filter(assignment__state=state).values_list("state", flat=True))
        assert found <= grant_states
    # Decisions only on requests whose policy asks for approval; denied ones have a Deny.
    assert not m.ApprovalDecision.objects.filter(request__policy__requires_approval=False).exists()
    for request in m.AssignmentRequest.objects.filter(state=m.RequestState.DENIED):
        assert [d.decision for d in request.decisions.all()] == [m.Decision.DENY]


def test_the_mix_is_realistic() -> None:
    generate(Sizes(catalogs=2, packages=40, users=100, assignments=400, requests=800, visible=5), verbose=False)
    states = Counter(m.Assignment.objects.values_list("state", flat=True))
    assert states["delivered"] > 250
    assert states["partiallyDelivered"] > 0
    assert states["deliveryFailed"] > 0
    assert states["expired"] > 0
    types = Counter(m.AssignmentRequest.objects.values_list("request_type", flat=True))
    assert {"userAdd", "adminAdd", "systemRemove", "userExtend"} <= set(types)
    assert m.User.objects.filter(user_type=m.UserType.GUEST, connected_organization__isnull=False).exists()
    assert m.User.objects.filter(manager__isnull=False).count() >= 98


def _pages() -> None:
    admin = Client()
    admin.force_login(m.User.objects.get(username=ADMIN))
    page = admin.get("/governance/assignments/?status=active").content.decode()
    for assignment in m.Assignment.objects.filter(state__in=m.AssignmentState.ACTIVE).select_related("target"):
        assert assignment.target.display_name in page

    newest = m.AssignmentRequest.objects.select_related("target").order_by("-created_at").first()
    assert newest is not None
    assert newest.target.display_name in admin.get("/governance/requests/").content.decode()
    detail = admin.get(f"/governance/requests/{newest.pk}/")
    assert detail.status_code == 200
    assert newest.package.display_name in detail.content.decode()

    mine = Client()
    mine.force_login(m.User.objects.get(username=REQUESTOR))
    home = mine.get("/myaccess/").content.decode()
    for package in discoverable_packages(m.User.objects.get(username=REQUESTOR)):
        assert package.display_name in home

    token = create_api_client(None, "bench-test", role="global_admin").token
    answer = Client().get(
        "/v1.0/identityGovernance/entitlementManagement/assignments",
        QUERY_STRING="$filter=state%20eq%20'delivered'",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert answer.status_code == 200
    delivered = m.Assignment.objects.filter(state="delivered").count()
    assert len(answer.json()["value"]) == min(delivered, 100)

    download = admin.get("/governance/assignments/download/?status=all")
    rows = list(csv.reader(io.StringIO(b"".join(download.streaming_content).decode())))
    assert len(rows) == 1 + 50


@pytest.mark.postgres
def test_a_second_run_keeps_the_data_set(generated: dict[str, object]) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the data set is remembered on PostgreSQL only (where the benchmark runs)")
    first = set(m.Assignment.objects.values_list("pk", flat=True))
    again = generate(TINY, verbose=False)
    assert again["skipped"] is True
    assert set(m.Assignment.objects.values_list("pk", flat=True)) == first
    rebuilt = generate(TINY, force=True, verbose=False)
    assert rebuilt["skipped"] is False
    assert m.Assignment.objects.count() == 50  # emptied and loaded again, not added to
