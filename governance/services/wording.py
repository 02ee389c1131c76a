"""What services put into the messages people read, in the reader's language: times in their
format and zone (English keeps the ISO-like ``2026-12-07 14:30``)."""

from __future__ import annotations

from datetime import datetime

from django.utils import formats, timezone, translation


def local_time(value: datetime, *, zone: bool = False) -> str:
    local = timezone.localtime(value)
    if (translation.get_language() or "en").startswith("en"):
        text = f"{local:%Y-%m-%d %H:%M}"
    else:
        text = formats.date_format(local, "SHORT_DATETIME_FORMAT")
    return f"{text} {local.tzname()}" if zone else text
