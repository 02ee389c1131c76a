"""DESIGN §11: extending an assignment re-checks that its policy (enabled) still lets the
person request the package. Someone who left the group the policy names cannot extend,
through My Access, the emailed extend link, or the API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from governance import models as m
from governance.errors import NotAllowed
from governance.services import assignments, requests
from tests import factories as f
from tests.api.conftest import ApiMaker
from tests.clients import signed_in
from tests.conftest import PackageMaker
from tests.myaccess.conftest import content, everything, path_of

pytestmark = pytest.mark.django_db

NO_LONGER = "The policy Wiki editors no longer lets you request Wiki, so this access cannot be extended."


@pytest.fixture
def staff(requestor: m.User) -> m.DirectoryGroup:
    group = f.DirectoryGroupFactory(display_name="Wiki staff")
    f.GroupMembershipFactory(group=group, user=requestor)
    return group


@pytest.fixture
def wiki(make_package: PackageMaker, requestor: m.User, staff: m.DirectoryGroup, deliver) -> m.Assignment:
    """Requestor's delivered access to Wiki, through a policy for the Wiki staff group,
    ending in 3 days; extensions allowed without approval."""
    package = make_package(
        name="Wiki",
        display_name="Wiki editors",
        allowed_target_scope=m.TargetScope.SPECIFIC_USERS,
        allow_extension=True,
        expiration_days=30,
    )
    package.policies.get().specific_groups.add(staff)
    made = requests.submit_request(requestor, package.pk)
    deliver()
    m.Assignment.objects.filter(pk=made.assignment_id).update(end_at=timezone.now() + timedelta(days=3))
    return m.Assignment.objects.get(pk=made.assignment_id)


def _leave(requestor: m.User, staff: m.DirectoryGroup) -> None:
    m.GroupMembership.objects.filter(group=staff, user=requestor).delete()


def test_the_service_refuses_someone_the_policy_no_longer_allows(
    requestor: m.User, staff: m.DirectoryGroup, wiki: m.Assignment
) -> None:
    _leave(requestor, staff)
    before = everything()
    with pytest.raises(NotAllowed, match=NO_LONGER):
        requests.request_extension(requestor, wiki.pk)
    assert everything() == before
    wiki.refresh_from_db()
    assert wiki.end_at < timezone.now() + timedelta(days=4)


def test_still_allowed_still_extends(requestor: m.User, wiki: m.Assignment) -> None:
    extension = requests.request_extension(requestor, wiki.pk)
    assert extension.request_type == m.RequestType.USER_EXTEND
    wiki.refresh_from_db()
    assert wiki.end_at > timezone.now() + timedelta(days=29)


def test_my_access_and_the_emailed_extend_link_refuse(
    requestor: m.User, staff: m.DirectoryGroup, wiki: m.Assignment
) -> None:
    assert assignments.send_expiry_reminders() == 1
    email = m.OutboundEmail.objects.get(kind="expiry_reminder", recipient=requestor)
    link = path_of(next(w for w in email.body_text.split() if "/myaccess/access/" in w))
    _leave(requestor, staff)
    client = signed_in(requestor)
    page = content(client.get(link))
    assert NO_LONGER in page
    assert f'action="/myaccess/access/{wiki.pk}/extend/"' not in page
    assert f"/myaccess/access/{wiki.pk}/#extend" not in content(client.get("/myaccess/access/"))
    before = everything()
    response = client.post(f"/myaccess/access/{wiki.pk}/extend/", {})
    assert response.status_code == 200
    assert NO_LONGER in content(response)
    assert everything() == before


def test_the_api_refuses_with_a_403(
    api_as: ApiMaker, requestor: m.User, staff: m.DirectoryGroup, wiki: m.Assignment
) -> None:
    mine = api_as(user=requestor)
    _leave(requestor, staff)
    before = everything()
    answer = mine.post(
        "assignmentRequests",
        {"requestType": "userUpdate", "assignment": {"id": str(wiki.pk)}, "justification": "more"},
    )
    assert answer.status == 403, answer.body
    assert answer.error["code"] == "forbidden"
    assert NO_LONGER in answer.error["message"]
    assert everything() == before
