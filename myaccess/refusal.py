"""Why a person cannot request a package, in plain words (the "You can't request this
package" page of a package's link). Only for packages that are no secret to them
(:class:`governance.errors.NotRequestable`); a Hidden package stays a plain 404."""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from governance.models import AccessPackage, AssignmentPolicy, TargetScope, User

ORGANIZATION_SCOPES = {TargetScope.SPECIFIC_ORGANIZATIONS, TargetScope.ALL_ORGANIZATIONS, TargetScope.ALL_EXTERNAL}


def _names(items: list[str], limit: int = 3) -> str:
    shown = items[:limit]
    if len(items) > limit:
        more = len(items) - limit
        shown.append(ngettext("%(count)s more", "%(count)s more", more) % {"count": more})
    if len(shown) == 1:
        return shown[0]
    return _("%(names)s or %(last)s") % {"names": ", ".join(shown[:-1]), "last": shown[-1]}


def _why_not_through(policy: AssignmentPolicy, user: User) -> str:
    scope = policy.allowed_target_scope
    if scope == TargetScope.NO_ONE:
        return _("An administrator gives this access directly; nobody requests it.")
    if scope == TargetScope.SPECIFIC_USERS:
        groups = sorted(str(group) for group in policy.specific_groups.all())
        if groups:
            return _("Only named people and members of %(groups)s may request it, and you are not one of them.") % {
                "groups": _names(groups)
            }
        return _("Only named people may request it, and you are not one of them.")
    if scope == TargetScope.ALL_MEMBERS:
        return _("Only members of the organization may request it; you are signed in as an external user.")
    if scope in ORGANIZATION_SCOPES and not user.is_external:
        return _("Only people from partner organizations may request it.")
    if scope == TargetScope.SPECIFIC_ORGANIZATIONS:
        organizations = sorted(str(o) for o in policy.specific_organizations.all())
        if organizations:
            return _("Only people from %(organizations)s may request it.") % {"organizations": _names(organizations)}
    if scope == TargetScope.ALL_ORGANIZATIONS:
        return _("Only people from connected organizations that are set up may request it.")
    return _("Its policy does not include you.")


def reasons_for(user: User, package: AccessPackage) -> list[str]:
    """One sentence per distinct reason, most telling first."""
    policies = list(
        package.policies.prefetch_related("specific_groups", "specific_organizations").order_by("created_at")
    )
    if not policies:
        return [_("Nobody can request it yet: it has no policy that says who may.")]
    enabled = [policy for policy in policies if policy.enabled]
    if not enabled:
        return [_("It is not taking requests right now: every policy of it is turned off.")]
    if user.is_external and not package.catalog.is_externally_visible:
        return [_("It is only for members of the organization; you are signed in as an external user.")]
    return list(dict.fromkeys(_why_not_through(policy, user) for policy in enabled))
