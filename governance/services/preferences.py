"""A person's own settings: the language and time zone of their pages and emails."""

from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.utils.translation import gettext as _

from governance.errors import ValidationFailed
from governance.models import User


def set_preferences(user: User, *, language: str, time_zone: str) -> User:
    """Empty means "as my browser says" (Accept-Language, the browser's zone)."""
    if language and language not in dict(settings.LANGUAGES):
        raise ValidationFailed(_("Choose one of the languages offered."), field="preferred_language")
    if time_zone and time_zone not in zoneinfo.available_timezones():
        raise ValidationFailed(_("Choose a time zone such as Europe/Berlin."), field="time_zone")
    user.preferred_language = language
    user.time_zone = time_zone
    user.save(update_fields=["preferred_language", "time_zone"])
    return user
