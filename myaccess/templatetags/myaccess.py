"""Words My Access and its emails use for the things a package grants."""

from __future__ import annotations

from django import template
from django.conf import settings

from governance.models import ResourceRole, ResourceType

register = template.Library()


@register.filter
def in_plain_words(role: ResourceRole) -> str:
    """ "Member of the group Developers", not "Developers · Member"."""
    resource = role.resource
    if resource.resource_type == ResourceType.APPLICATION:
        return f"{role.display_name} role in the application {resource.display_name}"
    if resource.resource_type == ResourceType.SITE:
        return f"{role.display_name} of the site {resource.display_name}"
    if role.display_name.lower() == "member":
        return f"Member of the group {resource.display_name}"
    return f"{role.display_name} of the group {resource.display_name}"


@register.simple_tag
def mailbox_enabled() -> bool:
    """The development mailbox exists only with DEBUG on."""
    return bool(settings.DEBUG)
