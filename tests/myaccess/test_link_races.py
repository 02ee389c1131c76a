"""Two clicks on one emailed link at the same moment make one decision (PostgreSQL row locks)."""

from __future__ import annotations

import pytest
from django.core import signing
from django.db import connection

from governance import models as m
from governance.errors import AlreadyDecided
from governance.services import approval_links, requests
from governance.services.approval_links import LinkUsed
from governance.services.notifications import LINK_SALT
from tests import factories as f
from tests.concurrency.racing import race
from tests.conftest import need

# Twenty threads, each with its own connection: one race at a time (xdist --dist loadgroup).
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.xdist_group("races")]


@pytest.fixture(autouse=True)
def _postgres_only() -> None:
    need(connection.vendor == "postgresql", "row-lock races need PostgreSQL (set DATABASE_URL)")


def test_double_click_on_one_link_decides_once(make_package, approver):
    package = make_package(approvers=[approver])
    for _ in range(5):
        # A new person each round: rule 12 allows one open request per person.
        request = requests.submit_request(f.UserFactory(), package.pk)
        link = m.ApprovalLink.objects.get(request=request)
        token = signing.dumps(str(link.pk), salt=LINK_SALT)
        outcomes = race(
            lambda: approval_links.decide_by_link(token, request.pk, approver, m.Decision.APPROVE),  # noqa: B023
            lambda: approval_links.decide_by_link(token, request.pk, approver, m.Decision.DENY),  # noqa: B023
        )
        made = [o for o in outcomes if isinstance(o, m.ApprovalDecision)]
        refused = [o for o in outcomes if isinstance(o, Exception)]
        assert len(made) == 1, outcomes
        assert len(refused) == 1
        assert isinstance(refused[0], LinkUsed | AlreadyDecided)
        assert m.ApprovalDecision.objects.filter(request=request).count() == 1
        link.refresh_from_db()
        assert link.decision_id == made[0].pk
