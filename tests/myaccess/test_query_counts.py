"""DESIGN §8: My Access lists keep a constant query count, at 1 row as at 50."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from governance import models as m
from tests import factories as f
from tests.clients import signed_in

pytestmark = pytest.mark.django_db

# Session, user and the menu's two role queries, then the page's own: measured, and pinned.
MAX_QUERIES = {
    "/myaccess/": 7,
    "/myaccess/access/": 7,
    "/myaccess/access/?status=ended": 7,
    "/myaccess/requests/": 6,
    # Who may approve is settled in five queries whatever the number waiting (fallbacks).
    "/myaccess/approvals/": 11,
    "/myaccess/approvals/?view=history": 6,
}


def packages(requestor: m.User, approver: m.User, catalog: m.Catalog, n: int) -> None:
    for _ in range(n):
        package = f.AccessPackageFactory(catalog=catalog)
        f.PackageResourceRoleFactory(package=package)
        f.PackageResourceRoleFactory(package=package)
        f.PolicyFactory(package=package, allowed_target_scope=m.TargetScope.ALL_MEMBERS)


def assignments(requestor: m.User, approver: m.User, catalog: m.Catalog, n: int) -> None:
    for _ in range(n):
        policy = f.PolicyFactory(package__catalog=catalog, allow_extension=True)
        assignment = f.AssignmentFactory(target=requestor, policy=policy)
        f.RoleGrantFactory(assignment=assignment)
        f.RoleGrantFactory(assignment=assignment, state=m.GrantState.FAILED)
        ended = f.AssignmentFactory(target=requestor, policy=policy, state=m.AssignmentState.EXPIRED)
        f.RoleGrantFactory(assignment=ended, state=m.GrantState.REVOKED)


def my_requests(requestor: m.User, approver: m.User, catalog: m.Catalog, n: int) -> None:
    for _ in range(n):
        f.RequestFactory(target=requestor, policy__package__catalog=catalog)


def awaiting(requestor: m.User, approver: m.User, catalog: m.Catalog, n: int) -> None:
    group = f.DirectoryGroupFactory()
    f.GroupMembershipFactory(group=group, user=approver)
    for index in range(n):
        policy = f.PolicyFactory(package__catalog=catalog, requires_approval=True)
        stage = f.ApprovalStageFactory(policy=policy, order=1)
        f.ApprovalStageFactory(policy=policy, order=2)
        # Every kind of approver, so the batch resolves each of them.
        kind = [m.ApproverKind.USER, m.ApproverKind.GROUP, m.ApproverKind.MANAGER][index % 3]
        f.StageApproverFactory(
            stage=stage,
            kind=kind,
            user=approver if kind == m.ApproverKind.USER else None,
            group=group if kind == m.ApproverKind.GROUP else None,
        )
        f.RequestFactory(target=requestor, policy=policy, current_stage=1)


def decided(requestor: m.User, approver: m.User, catalog: m.Catalog, n: int) -> None:
    for _ in range(n):
        request = f.RequestFactory(target=requestor, policy__package__catalog=catalog, state=m.RequestState.DENIED)
        f.ApprovalDecisionFactory(request=request, approver=approver, decision=m.Decision.DENY)


def rows_in(page: str) -> int:
    return len(ROW.findall(page)) + page.count('class="card package-card"')


ROW = re.compile(r"<tr>\s*<td")

CASES: list[tuple[str, Callable[..., None], str]] = [
    ("/myaccess/", packages, "requestor"),
    ("/myaccess/access/", assignments, "requestor"),
    ("/myaccess/access/?status=ended", assignments, "requestor"),
    ("/myaccess/requests/", my_requests, "requestor"),
    ("/myaccess/approvals/", awaiting, "approver"),
    ("/myaccess/approvals/?view=history", decided, "approver"),
]


@pytest.mark.parametrize(("url", "make", "viewer"), CASES, ids=[c[0] for c in CASES])
def test_list_query_count_is_the_same_at_1_and_50_rows(
    url, make, viewer, requestor, approver, catalog, django_assert_max_num_queries
):
    who = {"requestor": requestor, "approver": approver}[viewer]
    client = signed_in(who)
    make(requestor, approver, catalog, 1)
    with django_assert_max_num_queries(MAX_QUERIES[url]):
        first = client.get(url)
    assert first.status_code == 200
    assert rows_in(first.content.decode()) == 1

    make(requestor, approver, catalog, 49)
    with django_assert_max_num_queries(MAX_QUERIES[url]):
        full = client.get(url)
    assert full.status_code == 200
    page = full.content.decode()
    assert rows_in(page) == 25  # one page of 50
    assert "Page 1 of 2" in page
