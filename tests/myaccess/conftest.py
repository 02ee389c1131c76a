"""Fixtures of My Access: the seed 002 package, emailed links, a fuller snapshot."""

from __future__ import annotations

import re
from typing import Any

import pytest

from governance import models as m
from tests import factories as f
from tests.clients import signed_in  # noqa: F401  (re-exported: older tests import it from here)
from tests.conftest import snapshot

LINK = re.compile(r"https?://\S+/myaccess/approvals/[0-9a-f-]{36}/link/[^/\s]+/")


def everything() -> dict[str, int]:
    """Row counts, plus what a refused link or decision could change in place."""
    return {
        **snapshot(),
        "ApprovalLink": m.ApprovalLink.objects.count(),
        "ApprovalLink used": m.ApprovalLink.objects.filter(used_at__isnull=False).count(),
        "pending approval": m.AssignmentRequest.objects.filter(state=m.RequestState.PENDING_APPROVAL).count(),
        "canceled": m.AssignmentRequest.objects.filter(state=m.RequestState.CANCELED).count(),
    }


def approval_link(approver: m.User, request: m.AssignmentRequest | None = None) -> str:
    """The signed link in the newest approval email to ``approver``."""
    emails = m.OutboundEmail.objects.filter(kind="approval_needed", recipient=approver)
    if request is not None:
        emails = emails.filter(request=request)
    email = emails.order_by("-created_at").first()
    assert email is not None, f"no approval email to {approver}"
    found = LINK.search(email.body_text)
    assert found, email.body_text
    return found.group(0)


def path_of(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


def content(response: Any) -> str:
    return response.content.decode()


@pytest.fixture
def developer_tools(make_package: Any, approver: m.User, requestor: m.User) -> m.AccessPackage:
    """Seed 002's package, as in the demo: engineering staff may request it, `approver` approves;
    justification required, a specific period allowed, extensions with approval."""
    staff = f.DirectoryGroupFactory(display_name="Engineering staff")
    f.GroupMembershipFactory(group=staff, user=requestor)
    package = make_package(
        roles=2,
        approvers=[approver],
        name="Developer tools",
        allowed_target_scope=m.TargetScope.SPECIFIC_USERS,
        requestor_justification_required=True,
        allow_custom_schedule=True,
        expiration_days=180,
        allow_extension=True,
        extension_requires_approval=True,
    )
    package.policies.get().specific_groups.add(staff)
    return package


@pytest.fixture
def second_approver(developer_tools: m.AccessPackage) -> m.User:
    """Another approver of the same stage: the first decision wins."""
    other = f.UserFactory(username="approver2", display_name="Second Approver")
    stage = m.ApprovalStage.objects.get(policy__package=developer_tools, order=1)
    f.StageApproverFactory(stage=stage, kind=m.ApproverKind.USER, user=other)
    return other


@pytest.fixture
def pending(requestor: m.User, developer_tools: m.AccessPackage) -> m.AssignmentRequest:
    """A request for Developer tools waiting for `approver`."""
    from governance.services import requests

    return requests.submit_request(requestor, developer_tools.pk, justification="Release 4.2 needs CI access")
