"""Where people come from: single sign-on identities, the LDAP directory sync, and the
lifecycle of external users (connected organizations)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from governance.models.identity import ConnectedOrganization


class IdentityProvider(models.TextChoices):
    OIDC = "oidc", "OpenID Connect"
    LDAP = "ldap", "LDAP directory"


class ExternalIdentity(models.Model):
    """A person's stable identifier in a source outside Portcullis.

    OpenID Connect: the issuer and the ``sub`` claim. LDAP: the sync source and the entry's
    ``entryUUID`` (so a renamed entry is still the same person), with its current DN for
    ``manager`` and group ``member`` lookups. People are matched by these, never by email.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="external_identities")
    provider = models.CharField(max_length=8, choices=IdentityProvider.choices)
    issuer = models.CharField(max_length=512)
    subject = models.CharField(max_length=512)
    # LDAP only: the entry's DN, lower-cased, as of the last sync.
    dn = models.CharField(max_length=1024, blank=True, db_index=True)
    # LDAP only: the directory said the account is disabled (so the sync, not someone
    # else, deactivated it and may activate it again).
    disabled = models.BooleanField(default=False)
    missing_since = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "external identities"
        constraints = [
            models.UniqueConstraint(fields=["provider", "issuer", "subject"], name="unique_external_identity"),
        ]

    def __str__(self) -> str:
        return f"{self.get_provider_display()} {self.subject} → {self.user_id}"


class SyncMode(models.TextChoices):
    FULL = "full", "Full"
    INCREMENTAL = "incremental", "Incremental"


class SyncOutcome(models.TextChoices):
    NEVER = "never", "Never run"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class DirectorySyncState(models.Model):
    """One row per directory source: the claim that keeps two syncs apart, the
    high-water mark of incremental syncs, and what the last run did."""

    source = models.CharField(max_length=512, unique=True)
    running_since = models.DateTimeField(null=True, blank=True)
    # The directory's own clock (``modifyTimestamp``, LDAP generalized time) of the newest
    # change seen; empty when the server does not report one (then every sync is full).
    high_water = models.CharField(max_length=32, blank=True)
    last_full_at = models.DateTimeField(null=True, blank=True)
    last_started_at = models.DateTimeField(null=True, blank=True)
    last_finished_at = models.DateTimeField(null=True, blank=True)
    last_mode = models.CharField(max_length=16, choices=SyncMode.choices, blank=True)
    last_outcome = models.CharField(max_length=16, choices=SyncOutcome.choices, default=SyncOutcome.NEVER)
    last_error = models.TextField(blank=True)
    last_counts = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return f"{self.source}: {self.get_last_outcome_display()}"


class ExternalUserLifecycle(models.Model):
    """What happens to a connected organization's users once their last assignment ends
    (Entra's "Manage the lifecycle of external users"). Without a row, the defaults from
    settings apply."""

    organization = models.OneToOneField(ConnectedOrganization, on_delete=models.CASCADE, related_name="lifecycle")
    block_sign_in = models.BooleanField(
        "Block external user from signing in",
        default=True,
        help_text="When their last assignment ends, the account can no longer sign in.",
    )
    remove_account = models.BooleanField(
        "Remove external user",
        default=True,
        help_text="Delete the account some days after their last assignment ended.",
    )
    remove_after_days = models.PositiveIntegerField(
        "Number of days before removing external user",
        default=30,
    )
    modified_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Lifecycle of {self.organization}"


class ExternalUserOffboarding(models.Model):
    """An external user whose last assignment ended: when their sign-in was blocked and
    when the account goes. Deleted again if they get new access meanwhile."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="offboarding")
    last_assignment_ended_at = models.DateTimeField()
    blocked_at = models.DateTimeField(null=True, blank=True)
    remove_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Offboarding of {self.user_id}"
