"""Authorization: the one module that decides who may see and do what.

Every view, API endpoint and service asks here; this module asks only the domain below it
(models and their rule queries, errors), never a service. Two questions are answered:

* ``restrict(queryset, principal, action)``: the objects the principal may act on. Views
  fetch objects through it, so anything outside answers 404 (existence is not leaked).
* ``can(principal, action, obj)`` / ``can_in_catalog(...)`` / ``can_globally(...)``: a yes/no
  for one object, used to show or hide a button.

Roles come from the seeds' "Prerequisite role" lines. Global roles act everywhere; the four
catalog roles act inside their catalog only. A *principal* is a user or an API client: an
application token holds one role, a personal token its user's.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar
from uuid import UUID

from django.core.exceptions import ValidationError
from django.db import models

from governance.errors import NotAllowed, NotFound, NotRequestable
from governance.ids import is_uuid
from governance.models import (
    AccessPackage,
    AccessReviewDecision,
    ApiClient,
    Assignment,
    AssignmentPolicy,
    AssignmentRequest,
    CatalogRole,
    CatalogRoleAssignment,
    CatalogState,
    DirectoryRoleAssignment,
    GlobalRole,
    OutboundEmail,
    User,
)
from governance.models.apiclient import CATALOG_ROLE_OF, GLOBAL_ROLE_OF
from governance.models.identity import person_of
from governance.models.policy import published_for
from governance.models.querysets import catalog_id_of


class Action(StrEnum):
    VIEW = "view"  # see catalogs, packages, policies, requests, assignments, audit
    MANAGE_CATALOG = "manage_catalog"  # edit/delete a catalog, its members and resources
    MANAGE = "manage"  # packages: create, edit, Hidden, delete, policies, resource roles
    ASSIGN = "assign"  # New assignment, remove an assignment
    REPROCESS = "reprocess"  # reprocess requests and assignments
    CANCEL = "cancel"  # cancel requests (as an administrator)
    CREATE_CATALOG = "create_catalog"
    VIEW_CONNECTORS = "view_connectors"  # the connectors list: names and health
    MANAGE_CONNECTORS = "manage_connectors"  # add, edit, test, delete connectors and their secrets
    MANAGE_ORGANIZATIONS = "manage_organizations"
    MANAGE_DIRECTORY = "manage_directory"  # people, groups, global roles
    # How the installation itself is doing: /healthz?full, and every email in the
    # development mailbox (approval links for everyone included).
    VIEW_SYSTEM = "view_system"
    # Rule 17: add any resource to a catalog one manages, owner of it or not. Everyone else
    # who manages a catalog adds only what they own in its directory.
    ADD_ANY_RESOURCE = "add_any_resource"
    # Make and revoke API tokens: a token can act with any role, so only global administrators.
    MANAGE_API_CLIENTS = "manage_api_clients"


_EVERYTHING = frozenset(Action)

# Connectors hold the credentials of target systems and decide where calls go: only global
# administrators manage them (DESIGN §11); every other administrator sees names and health.
GLOBAL_ROLE_ACTIONS: dict[str, frozenset[Action]] = {
    GlobalRole.GLOBAL_ADMIN: _EVERYTHING,
    # Rule 17 names global and user administrators: the identity-governance administrator
    # cannot manage the directory's groups, so cannot pull any of them into a catalog either.
    GlobalRole.GOVERNANCE_ADMIN: _EVERYTHING
    - {Action.MANAGE_DIRECTORY, Action.MANAGE_CONNECTORS, Action.ADD_ANY_RESOURCE, Action.MANAGE_API_CLIENTS},
    GlobalRole.USER_ADMIN: _EVERYTHING - {Action.MANAGE_CONNECTORS, Action.VIEW_SYSTEM, Action.MANAGE_API_CLIENTS},
}

CATALOG_ROLE_ACTIONS: dict[str, frozenset[Action]] = {
    CatalogRole.OWNER: frozenset(
        {Action.VIEW, Action.MANAGE_CATALOG, Action.MANAGE, Action.ASSIGN, Action.REPROCESS, Action.CANCEL}
    ),
    CatalogRole.PACKAGE_MANAGER: frozenset(
        {Action.VIEW, Action.MANAGE, Action.ASSIGN, Action.REPROCESS, Action.CANCEL}
    ),
    CatalogRole.ASSIGNMENT_MANAGER: frozenset({Action.VIEW, Action.ASSIGN, Action.REPROCESS, Action.CANCEL}),
    CatalogRole.READER: frozenset({Action.VIEW}),
}
# Global actions a catalog role also grants (connectors are not in any catalog).
CATALOG_ROLE_GLOBAL_ACTIONS: frozenset[Action] = frozenset({Action.VIEW_CONNECTORS})


@dataclass(frozen=True)
class RoleSet:
    """What one principal holds: global roles and, per catalog id, catalog roles."""

    authenticated: bool = False
    global_roles: frozenset[str] = frozenset()
    catalog_roles: dict[UUID, frozenset[str]] = field(default_factory=dict)

    @property
    def global_actions(self) -> frozenset[Action]:
        actions: set[Action] = set(CATALOG_ROLE_GLOBAL_ACTIONS) if self.catalog_roles else set()
        for role in self.global_roles:
            actions |= GLOBAL_ROLE_ACTIONS.get(role, frozenset())
        return frozenset(actions)

    def catalogs_allowing(self, action: Action) -> list[UUID]:
        return [
            catalog_id
            for catalog_id, roles in self.catalog_roles.items()
            if any(action in CATALOG_ROLE_ACTIONS.get(role, frozenset()) for role in roles)
        ]

    @property
    def is_administrator(self) -> bool:
        """Holds any administrative role at all (shows the admin portal)."""
        return bool(self.global_roles or self.catalog_roles)


ANONYMOUS = RoleSet()

_CACHE_ATTR = "_portcullis_role_set"


def role_set(principal: Any) -> RoleSet:
    """The principal's roles, loaded once per principal object (two queries)."""
    if principal is None or not getattr(principal, "is_authenticated", False):
        return ANONYMOUS
    if isinstance(principal, ApiClient):
        return _client_role_set(principal)
    cached = getattr(principal, _CACHE_ATTR, None)
    if cached is not None:
        return cached
    if not principal.is_active:
        roles = ANONYMOUS
    else:
        global_roles = frozenset(DirectoryRoleAssignment.objects.filter(user=principal).values_list("role", flat=True))
        if principal.is_superuser:
            global_roles |= {GlobalRole.GLOBAL_ADMIN}
        per_catalog: dict[UUID, set[str]] = {}
        for catalog_id, role in CatalogRoleAssignment.objects.filter(user=principal).values_list("catalog_id", "role"):
            per_catalog.setdefault(catalog_id, set()).add(role)
        roles = RoleSet(
            authenticated=True,
            global_roles=global_roles,
            catalog_roles={k: frozenset(v) for k, v in per_catalog.items()},
        )
    setattr(principal, _CACHE_ATTR, roles)
    return roles


def _client_role_set(client: ApiClient) -> RoleSet:
    """A personal token has its user's roles; an application token the one role it was
    made with (a catalog role in its catalog)."""
    if not client.is_active:
        return ANONYMOUS
    if client.user is not None:
        return role_set(client.user)
    if client.role in GLOBAL_ROLE_OF:
        return RoleSet(authenticated=True, global_roles=frozenset({GLOBAL_ROLE_OF[client.role]}))
    if client.role in CATALOG_ROLE_OF and client.catalog_id is not None:
        return RoleSet(authenticated=True, catalog_roles={client.catalog_id: frozenset({CATALOG_ROLE_OF[client.role]})})
    return ANONYMOUS


def forget_roles(principal: Any) -> None:
    """Drop the cached role set (after the principal's roles changed)."""
    if principal is not None and hasattr(principal, _CACHE_ATTR):
        delattr(principal, _CACHE_ATTR)


_Q = TypeVar("_Q", bound=models.QuerySet[Any])


def restrict(queryset: _Q, principal: Any, action: Action | str = Action.VIEW) -> _Q:
    """The part of ``queryset`` the principal may perform ``action`` on."""
    action = Action(action)
    roles = role_set(principal)
    if not roles.authenticated:
        return queryset.none()
    if action in roles.global_actions:
        return queryset
    path: str | None = getattr(queryset.model, "catalog_path", None)
    if path is None:
        return queryset.none()
    catalog_ids = roles.catalogs_allowing(action)
    if not catalog_ids:
        return queryset.none()
    lookup = "pk__in" if path == "id" else f"{path}__in"
    return queryset.filter(**{lookup: catalog_ids})


def can_globally(principal: Any, action: Action | str) -> bool:
    return Action(action) in role_set(principal).global_actions


def can_in_catalog(principal: Any, action: Action | str, catalog_id: UUID | None) -> bool:
    action = Action(action)
    roles = role_set(principal)
    if action in roles.global_actions:
        return True
    return catalog_id is not None and catalog_id in roles.catalogs_allowing(action)


def can(principal: Any, action: Action | str, obj: models.Model) -> bool:
    """May the principal perform ``action`` on this one object?"""
    action = Action(action)
    if action in role_set(principal).global_actions:
        return True
    if getattr(obj, "catalog_path", None) is None:
        return False
    return can_in_catalog(principal, action, catalog_id_of(obj))


def may_add_any_resource(principal: Any) -> bool:
    """Rule 17: whether the principal may add resources it does not own."""
    return can_globally(principal, Action.ADD_ANY_RESOURCE)


def can_add_resource(principal: Any, catalog_id: UUID | None, owner_ids: Collection[UUID] | None) -> bool:
    """Rule 17: may the principal add a resource to this catalog?

    It must manage the catalog and be a global or user administrator, or be one of
    ``owner_ids``, the resource's owners in its directory (None: the directory does not say
    who owns it, so only administrators may add it).
    """
    if not can_in_catalog(principal, Action.MANAGE_CATALOG, catalog_id):
        return False
    if may_add_any_resource(principal):
        return True
    person = person_of(principal)
    return person is not None and owner_ids is not None and person.pk in owner_ids


def has_admin_portal(principal: Any) -> bool:
    return role_set(principal).is_administrator


def may_see_identity_page(principal: Any) -> bool:
    """Sign-in and directory: directory administrators, and those who manage connected
    organizations (what happens to their external users)."""
    return can_globally(principal, Action.MANAGE_DIRECTORY) or can_globally(principal, Action.MANAGE_ORGANIZATIONS)


def catalogs_where(principal: Any, action: Action | str) -> Iterable[UUID] | None:
    """Catalog ids where the principal may act; ``None`` means every catalog."""
    action = Action(action)
    roles = role_set(principal)
    if action in roles.global_actions:
        return None
    return roles.catalogs_allowing(action)


def can_manage_api_clients(actor: Any) -> bool:
    """Only global administrators make and revoke API tokens; ``None`` is the command line
    (``manage.py create_api_client``), which has the server's own rights."""
    return actor is None or can_globally(actor, Action.MANAGE_API_CLIENTS)


# --- People and resources explained (issue 22) --------------------------------------------


def person_in_scope(principal: Any, person_id: Any) -> User:
    """The person whose page the principal may open: anyone for those who may view every
    catalog; otherwise someone with an assignment or a request in a catalog they may view.
    Out of scope (or no such person) is NotFound, like any object out of reach."""
    if not is_uuid(person_id) or not has_admin_portal(principal):
        raise NotFound("Person not found.")
    person = User.objects.filter(pk=person_id).first()
    if person is None:
        raise NotFound("Person not found.")
    if can_globally(principal, Action.VIEW):
        return person
    if restrict(Assignment.objects.filter(target=person), principal, Action.VIEW).exists():
        return person
    if restrict(AssignmentRequest.objects.filter(target=person), principal, Action.VIEW).exists():
        return person
    raise NotFound("Person not found.")


def opens_person_page(principal: Any, *, target_of_visible_row: bool = False) -> bool:
    """Whether a person's page would open for the principal (``person_in_scope``), known
    without a query, so a list can link every name it shows: always for those who may view
    every catalog; for the rest only when the person is the target of the assignment or
    request the row shows (which the principal sees, so the person is in scope). Anyone
    else named (a requestor, a reviewer, an actor) is shown unlinked to them."""
    if not has_admin_portal(principal):
        return False
    return target_of_visible_row or can_globally(principal, Action.VIEW)


# --- What a person sees of their own ------------------------------------------------------


def own_requests(user: User) -> models.QuerySet[AssignmentRequest]:
    """Requests a person made or that are for them (My requests)."""
    if not getattr(user, "is_authenticated", False):
        return AssignmentRequest.objects.none()
    return AssignmentRequest.objects.concerning(user)


def own_assignments(user: User) -> models.QuerySet[Assignment]:
    if not getattr(user, "is_authenticated", False):
        return Assignment.objects.none()
    return Assignment.objects.of_person(user)


def own_emails(user: User) -> models.QuerySet[OutboundEmail]:
    """The development mailbox: the emails sent to this person (by account or address);
    everyone's for those who may see the system (approval links of others included)."""
    if not getattr(user, "is_authenticated", False):
        return OutboundEmail.objects.none()
    if can_globally(user, Action.VIEW_SYSTEM):
        return OutboundEmail.objects.all()
    mine = models.Q(recipient=user)
    if user.email:
        mine |= models.Q(to_address__iexact=user.email)
    return OutboundEmail.objects.filter(mine)


# --- What roles show, plus one's own (the API: a personal token sees both) ------------------


def visible_requests(principal: Any) -> models.QuerySet[AssignmentRequest]:
    """Requests the principal's roles show, and the person's own (as in My Access)."""
    shown = restrict(AssignmentRequest.objects.all(), principal, Action.VIEW)
    person = person_of(principal)
    return shown if person is None else shown | own_requests(person)


def visible_assignments(principal: Any) -> models.QuerySet[Assignment]:
    """Assignments the principal's roles show, and the person's own."""
    shown = restrict(Assignment.objects.all(), principal, Action.VIEW)
    person = person_of(principal)
    return shown if person is None else shown | own_assignments(person)


def visible_approvals(principal: Any) -> models.QuerySet[AssignmentRequest]:
    """Requests whose approval the principal may read: what :func:`visible_requests` shows,
    and those whose stages name the person as an approver, decided or not (a late approver
    must see "already decided by X", rule 4, not a 404). Who may *decide* is another
    question: :func:`approvable_requests` and the approval service."""
    person = person_of(principal)
    shown = visible_requests(principal)
    if person is None or not person.is_authenticated:
        return shown
    return shown | AssignmentRequest.objects.naming_approver(person)


class CancelAs(StrEnum):
    """Rule 3's two cancels: an administrator's (anything not yet delivered, no access
    left behind) and the requestor's (only while pending approval)."""

    ADMIN = "admin"
    REQUESTOR = "requestor"


def cancel_as(principal: Any, request: AssignmentRequest) -> CancelAs | None:
    """Which cancel the principal gets on a request: the administrator's where its roles
    allow cancelling, else the requestor's on the person's own request, else none."""
    if can(principal, Action.CANCEL, request):
        return CancelAs.ADMIN
    person = person_of(principal)
    if person is not None and person.is_authenticated and person.pk in (request.target_id, request.requestor_id):
        return CancelAs.REQUESTOR
    return None


# --- What a person may request (rules 9 and 11) and decide (rule 4) --------------------------


def requestable_packages(user: User) -> models.QuerySet[AccessPackage]:
    """Packages at least one enabled policy lets this person request (hidden ones too)."""
    if not getattr(user, "is_authenticated", False):
        return AccessPackage.objects.none()
    # Straight from the policies' package ids (not through requestable_by's policy rows):
    # the same answer, one index read per way of being admitted (DESIGN §8, 200,000 policies).
    return published_for(
        user, AccessPackage.objects.filter(pk__in=AssignmentPolicy.objects.requestable_package_ids(user))
    )


def discoverable_packages(user: User) -> models.QuerySet[AccessPackage]:
    """What My Access lists under Request access: requestable and not Hidden (rule 9)."""
    return requestable_packages(user).filter(is_hidden=False)


def package_by_link(user: User, package_id: Any) -> AccessPackage:
    """A package's direct link: hidden ones too, but only for people a policy allows."""
    try:
        package = requestable_packages(user).filter(pk=package_id).first()
    except (ValueError, ValidationError):
        package = None
    if package is None:
        known = _package_no_secret(user, package_id)
        if known is not None:
            raise NotRequestable("You can't request this package.", package=known)
        raise NotFound("Access package not found.")
    return package


def _package_no_secret(user: User, package_id: Any) -> AccessPackage | None:
    """A package this person may be told exists though no policy lets them request it: not
    Hidden (rule 9 keeps hidden ones a secret to everyone no policy allows), in a published
    catalog that, for an external user, is visible to external users."""
    if not getattr(user, "is_authenticated", False) or not is_uuid(package_id):
        return None
    packages = AccessPackage.objects.filter(
        pk=package_id, is_hidden=False, catalog__state=CatalogState.PUBLISHED
    ).select_related("catalog")
    if user.is_external:
        packages = packages.filter(catalog__is_externally_visible=True)
    return packages.first()


def approvable_requests(user: User) -> models.QuerySet[AssignmentRequest]:
    """Requests waiting in a stage this person approves (My Access > Approvals)."""
    if not getattr(user, "is_authenticated", False):
        return AssignmentRequest.objects.none()
    return AssignmentRequest.objects.awaiting_decision_by(user)


def approval_to_review(user: User, request_id: Any) -> AssignmentRequest:
    """A request whose approval this person may open (My Access > Approvals): one they
    approve, approved, or could have approved at any stage. A second approver must still
    see who decided first, so being an approver of some stage is enough to look; deciding
    is the approval service's call. Anything else is :class:`NotFound`."""
    try:
        found = (
            AssignmentRequest.objects.select_related("package", "policy", "target", "requestor")
            .filter(pk=request_id)
            .first()
        )
    except (ValueError, ValidationError):
        found = None
    if found is None or user.pk in (found.target_id, found.requestor_id) or found.policy is None:
        raise NotFound("Request not found.")
    if found.decisions.filter(approver=user).exists():
        return found
    if not any(
        user.pk in found.stage_approver_ids(stage) for stage in found.approval_stages().prefetch_related("approvers")
    ):
        raise NotFound("Request not found.")
    return found


# --- Access reviews (rule 14) -----------------------------------------------------------------


def reviewable_decisions(user: Any) -> models.QuerySet[AccessReviewDecision]:
    """The review decisions this person reviews (My Access > Access reviews): their
    reviewees only; anybody else's decision is out of reach (404)."""
    person = person_of(user)
    if person is None or not person.is_authenticated:
        return AccessReviewDecision.objects.none()
    return AccessReviewDecision.objects.reviewable_by(person)


def visible_review_decisions(principal: Any) -> models.QuerySet[AccessReviewDecision]:
    """What the API lists: the decisions the principal's roles show, and those it reviews."""
    shown = restrict(AccessReviewDecision.objects.all(), principal, Action.VIEW)
    return shown | reviewable_decisions(principal)


def get_for(principal: Any, action: Action | str, queryset: _Q, pk: Any, noun: str) -> Any:
    """Fetch one object for an action: 404 when the principal may not see it, 403 when they
    may see it but not take this action on it."""
    obj = restrict(queryset, principal, Action.VIEW).filter(pk=pk).first()
    if obj is None:
        raise NotFound(f"{noun.capitalize()} not found.")
    if not can(principal, action, obj):
        raise NotAllowed(f"You may not {ACTION_VERBS[Action(action)]} this {noun}.")
    return obj


ACTION_VERBS: dict[Action, str] = {
    Action.VIEW: "view",
    Action.MANAGE_CATALOG: "manage",
    Action.MANAGE: "change",
    Action.ASSIGN: "manage assignments of",
    Action.REPROCESS: "reprocess",
    Action.CANCEL: "cancel",
    Action.CREATE_CATALOG: "create catalogs in",
    Action.VIEW_CONNECTORS: "view",
    Action.MANAGE_CONNECTORS: "manage",
    Action.MANAGE_ORGANIZATIONS: "manage",
    Action.MANAGE_DIRECTORY: "manage",
    Action.VIEW_SYSTEM: "view",
    Action.ADD_ANY_RESOURCE: "add",
    Action.MANAGE_API_CLIENTS: "manage",
}
