"""Words My Access and its emails use for the things a package grants."""

from __future__ import annotations

from typing import Any

from django import template
from django.conf import settings
from django.utils.html import escape
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _

from governance.models import ResourceRole, ResourceType
from governance.services.explain import join_and

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


@register.simple_tag
def if_ended_sentence(outcome: Any) -> str:
    """ "If this access ends, you lose A and B; you keep C through D." in the reader's language."""
    lost = join_and([str(escape(role.label)) for role in outcome.loses])
    kept = "; ".join(
        _("%(role)s through %(packages)s") % {"role": escape(role.label), "packages": escape(role.through)}
        for role in outcome.keeps
    )
    if lost and kept:
        sentence = _("If this access ends, you lose %(lost)s; you keep %(kept)s.") % {"lost": lost, "kept": kept}
    elif lost:
        sentence = _("If this access ends, you lose %(lost)s.") % {"lost": lost}
    elif kept:
        sentence = _("If this access ends, you keep %(kept)s.") % {"kept": kept}
    else:
        sentence = _("If this access ends.")
    return mark_safe(sentence)  # every name in it is escaped above
