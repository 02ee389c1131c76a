"""Who may request a package, through which policy (DESIGN §2 "who can request", rule 11).

One queryset answers it for lists (My Access with hundreds of packages) and for a single
check, so the list and the form can never disagree.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from governance.models import (
    AccessPackage,
    AssignmentPolicy,
    CatalogState,
    ConnectedOrganizationState,
    GroupMembership,
    TargetScope,
    User,
)

_SPECIFIC_USERS = AssignmentPolicy.specific_users.through
_SPECIFIC_GROUPS = AssignmentPolicy.specific_groups.through


def requestable_policies(user: User) -> QuerySet[AssignmentPolicy]:
    """Enabled policies through which ``user`` may request, across all packages."""
    if not user.is_authenticated or not user.is_active:
        return AssignmentPolicy.objects.none()

    group_ids = GroupMembership.objects.filter(user=user).values("group_id")
    named = Q(pk__in=_SPECIFIC_USERS.objects.filter(user=user).values("assignmentpolicy_id")) | Q(
        pk__in=_SPECIFIC_GROUPS.objects.filter(directorygroup__in=group_ids).values("assignmentpolicy_id")
    )
    who = Q(allowed_target_scope=TargetScope.ALL_USERS) | (Q(allowed_target_scope=TargetScope.SPECIFIC_USERS) & named)
    if user.is_external:
        who |= Q(allowed_target_scope=TargetScope.ALL_EXTERNAL)
        organization = user.connected_organization
        if organization is not None:
            who |= Q(
                allowed_target_scope=TargetScope.SPECIFIC_ORGANIZATIONS,
                pk__in=AssignmentPolicy.specific_organizations.through.objects.filter(
                    connectedorganization=organization
                ).values("assignmentpolicy_id"),
            )
            if organization.state == ConnectedOrganizationState.CONFIGURED:
                who |= Q(allowed_target_scope=TargetScope.ALL_ORGANIZATIONS)
    else:
        who |= Q(allowed_target_scope=TargetScope.ALL_MEMBERS)

    policies = AssignmentPolicy.objects.filter(who, enabled=True).filter(package__catalog__state=CatalogState.PUBLISHED)
    if user.is_external:
        policies = policies.filter(package__catalog__is_externally_visible=True)
    return policies


def policies_for(user: User, package: AccessPackage) -> list[AssignmentPolicy]:
    """The policies of one package this person may request through (rule 11)."""
    return list(requestable_policies(user).filter(package=package).order_by("created_at"))


def policy_allows(policy: AssignmentPolicy, user: User) -> bool:
    return requestable_policies(user).filter(pk=policy.pk).exists()


def is_eligible(user: User, package: AccessPackage) -> bool:
    return requestable_policies(user).filter(package=package).exists()
