"""The audit trail: one row per state change, kept when the object is gone."""

from __future__ import annotations

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from governance.models.querysets import CatalogScoped


class AuditEvent(CatalogScoped, models.Model):
    catalog_path = "catalog_id"

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # Indexed only where a person acted (audit_actor): the system's rows (delivery, expiry:
    # most of the trail) cost that index nothing. Deleting a person nulls theirs through it.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_index=False
    )
    actor_label = models.CharField(max_length=256)
    # One index (audit_action) for the log's filters: = and IN (Activity) and a prefix
    # (?action=request.), which pattern_ops serves alone; db_index made two.
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=512)
    # Where it happened, kept as plain ids so the trail outlives deletions.
    catalog_id = models.UUIDField(null=True, blank=True, db_index=True)
    package_id = models.UUIDField(null=True, blank=True, db_index=True)
    data = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["object_type", "object_id"], name="audit_object"),
            models.Index(fields=["action"], name="audit_action", opclasses=["varchar_pattern_ops"]),
            models.Index(fields=["actor"], name="audit_actor", condition=models.Q(actor__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_label} {self.action} {self.object_repr}"

    @property
    def activity(self) -> str:
        return activity_name(self.action)

    @property
    def object_kind(self) -> str:
        return object_kind(self.object_type)

    @property
    def who(self) -> str:
        """The person by display name (the stored label keeps their username)."""
        return str(self.actor) if self.actor_id and self.actor is not None else self.actor_label


# What the audit log calls each action, in words (the stored action stays the stable key).
ACTIVITY_NAMES: dict[str, str] = {
    "request.submitted": "Request submitted",
    "request.await_approval": "Request sent for approval",
    "request.stage_started": "Approval stage started",
    "request.stage_approved": "Request approved",
    "request.stage_denied": "Request denied",
    "request.advance_stage": "Request moved to the next approval stage",
    "request.deny": "Request denied",
    "request.schedule": "Request scheduled",
    "request.start_delivery": "Delivery started",
    "request.delivered": "Request delivered",
    "request.partiallyDelivered": "Request partially delivered",
    "request.deliveryFailed": "Request delivery failed",
    "request.deliver": "Request delivered",
    "request.deliver_partially": "Request partially delivered",
    "request.fail_delivery": "Request delivery failed",
    "request.cancel_by_admin": "Request canceled by an administrator",
    "request.cancel_by_requestor": "Request canceled by the requestor",
    "request.time_out": "Request timed out",
    "request.reprocess": "Request reprocessed",
    "request.supersede": "Request superseded",
    "request.approval_link_used": "Approval link used",
    "request.reprocess_all": "Requests reprocessed in bulk",
    "assignment.created": "Assignment created",
    "assignment.delivering": "Assignment delivering",
    "assignment.delivered": "Assignment delivered",
    "assignment.partiallyDelivered": "Assignment partially fulfilled",
    "assignment.deliveryFailed": "Assignment delivery failed",
    "assignment.expired": "Assignment expired",
    "assignment.removed": "Assignment removed",
    "assignment.extended": "Assignment extended",
    "assignment.reminder_sent": "Expiry reminder sent",
    "assignment.reprocessed": "Assignment reprocessed",
    "assignment.reprocess_all": "Assignments reprocessed in bulk",
    "grant.created": "Resource role grant created",
    "grant.granted": "Resource role granted",
    "grant.failed": "Resource role grant failed",
    "grant.retrying": "Resource role grant retried",
    "grant.drifted": "Resource role found missing",
    "grant.revoking": "Resource role being revoked",
    "grant.revoked": "Resource role revoked",
    "grant.restored": "Resource role granted again",
    "catalog.created": "Catalog created",
    "catalog.updated": "Catalog changed",
    "catalog.deleted": "Catalog deleted",
    "catalog.role_added": "Catalog role added",
    "catalog.role_removed": "Catalog role removed",
    "package.created": "Access package created",
    "package.updated": "Access package changed",
    "package.deleted": "Access package deleted",
    "package.link_shared": "Access package link emailed",
    "package.role_added": "Resource role added to a package",
    "package.role_removed": "Resource role removed from a package",
    "policy.created": "Policy created",
    "policy.updated": "Policy changed",
    "policy.deleted": "Policy deleted",
    "policy.enabled": "Policy enabled",
    "policy.disabled": "Policy disabled",
    "resource.added": "Resource added to a catalog",
    "resource.deleted": "Resource removed from a catalog",
    "organization.created": "Connected organization added",
    "organization.proposed": "Connected organization proposed",
    "organization.updated": "Connected organization changed",
    "organization.deleted": "Connected organization deleted",
    "connector.created": "Connector added",
    "connector.updated": "Connector changed",
    "connector.deleted": "Connector deleted",
    "connector.secrets_imported": "Connector secrets imported",
    "connector.secrets_reencrypted": "Connector secrets re-encrypted",
    "api_client.created": "API client created",
    "api_client.revoked": "API client revoked",
    "directory.sync_requested": "Directory sync requested",
    "group.created": "Group created",
    "user.created": "Person added",
    "user.renamed": "Person renamed",
    "user.linked_to_directory": "Person linked to the directory",
    "user.linked_to_sign_in": "Person linked to single sign-on",
    "user.updated_from_directory": "Person updated from the directory",
    "user.updated_from_sign_in": "Person updated at sign-in",
    "user.groups_from_sign_in": "Groups updated at sign-in",
    "user.disabled_in_directory": "Person disabled in the directory",
    "user.enabled_in_directory": "Person enabled in the directory",
    "user.deleted_from_directory": "Person deleted from the directory",
    "user.sign_in_unblocked": "Sign-in unblocked",
    "user.removal_canceled": "Account removal canceled",
}

# What the audit log calls the kinds of object (the model's name is the stored key).
OBJECT_KINDS: dict[str, str] = {
    "accesspackage": "Access package",
    "assignment": "Assignment",
    "assignmentrequest": "Request",
    "assignmentpolicy": "Policy",
    "rolegrant": "Resource role grant",
    "catalog": "Catalog",
    "resource": "Resource",
    "connector": "Connector",
    "connectedorganization": "Connected organization",
    "apiclient": "API client",
    "bulkreprocess": "Bulk reprocess",
    "user": "Person",
    "directorygroup": "Group",
}


def activity_name(action: str) -> str:
    """An action as words: "request.stage_approved" is "Request approved"; an action without
    a name of its own reads as its parts ("user.changed_in_admin": "User changed in admin")."""
    if action in ACTIVITY_NAMES:
        return ACTIVITY_NAMES[action]
    return action.replace(".", " ").replace("_", " ").strip().capitalize()


def object_kind(object_type: str) -> str:
    return OBJECT_KINDS.get(object_type, object_type.capitalize())
