"""Words My Access and its emails use for the things a package grants."""

from __future__ import annotations

from django import template
from django.conf import settings
from django.utils.translation import gettext as _

from governance.models import ResourceRole, ResourceType

register = template.Library()


@register.filter
def in_plain_words(role: ResourceRole) -> str:
    """ "Member of the group Developers", not "Developers · Member"."""
    resource = role.resource
    names = {"role": role.display_name, "resource": resource.display_name}
    if resource.resource_type == ResourceType.APPLICATION:
        return _("%(role)s role in the application %(resource)s") % names
    if resource.resource_type == ResourceType.SITE:
        return _("%(role)s of the site %(resource)s") % names
    if role.display_name.lower() == "member":
        return _("Member of the group %(resource)s") % names
    return _("%(role)s of the group %(resource)s") % names


@register.simple_tag
def mailbox_enabled() -> bool:
    """The development mailbox exists only with DEBUG on."""
    return bool(settings.DEBUG)
