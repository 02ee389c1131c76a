"""Approval stages built by hand, for tests whose approvers are not plain users (managers,
sponsors, groups, fallbacks); ``make_package(approvers=[...])`` covers plain users."""

from __future__ import annotations

from governance import models as m
from tests import factories as f


def approval_stage(package: m.AccessPackage) -> m.ApprovalStage:
    """Turn approval on for the package's one policy and give it an empty first stage: the
    test adds the approvers it is about."""
    policy = package.policies.get()
    policy.requires_approval = True
    policy.save()
    return f.ApprovalStageFactory(policy=policy, order=1)
