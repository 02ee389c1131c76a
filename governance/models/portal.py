"""What the admin portal itself needs to remember (not part of the domain)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class FormSubmission(models.Model):
    """One submission of a form that creates something.

    Every such form carries a fresh token; the row is written in the same transaction as
    the creation, so a second submission of the same form (a double click, a reload after
    POST) finds it and goes where the first went instead of creating a twin.
    """

    token = models.UUIDField(unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    result_url = models.CharField(max_length=512, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return f"{self.token} → {self.result_url}"
