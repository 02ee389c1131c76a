"""Django admin: a superuser's window onto the data, not a way around the rules.

Governed models (catalogs, packages, policies and their stages, requests, decisions,
assignments, grants, attempts, role operations, resources and their roles, connectors,
connected organizations, API clients, approval links, bulk reprocessing, the outbox and the
audit trail) are read-only here: they change only through the services, which check the
rules and the transition tables and write the audit rows, from the portal, the API or
the workers. A change made here would skip all three.

What has no other place to be edited stays editable, and each addition, change or deletion
also writes an audit row naming the person and what changed (the admin's own history is
not the audit trail):

* people: local accounts (break-glass administrators), passwords, sign-in allowed or not;
* directory roles: who is a global, user or identity-governance administrator;
* built-in directory groups, with their members and owners (rule 17). Groups synced from
  LDAP or an identity provider are read-only: their directory owns them, and the next sync
  would undo an edit.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import Model, QuerySet
from django.http import HttpRequest

from governance import models as m
from governance.audit import log_action


class GovernedAdmin(admin.ModelAdmin):
    """Looked at here; changed only through the services (and so the audit trail)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


class GovernedInline(admin.TabularInline):
    extra = 0

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


class AuditedAdmin(admin.ModelAdmin):
    """Editable here for want of another place: each addition, change (a password too) and
    deletion also writes an audit row, ``<model>.<added|changed|deleted>_in_admin``, with
    the admin's description of what changed (field and inline names, never values)."""

    def _audit(self, request: HttpRequest, obj: Model, what: str, change: Any = None) -> None:
        log_action(request.user, f"{obj._meta.model_name}.{what}_in_admin", obj, change=change)

    def log_addition(self, request: HttpRequest, obj: Model, message: Any) -> Any:
        self._audit(request, obj, "added", message)
        return super().log_addition(request, obj, message)

    def log_change(self, request: HttpRequest, obj: Model, message: Any) -> Any:
        self._audit(request, obj, "changed", message)
        return super().log_change(request, obj, message)

    def log_deletions(self, request: HttpRequest, queryset: QuerySet[Any]) -> Any:
        for obj in queryset:
            self._audit(request, obj, "deleted")
        return super().log_deletions(request, queryset)


# --- Directory: editable here, audited ------------------------------------------------------


@admin.register(m.User)
class UserAdmin(AuditedAdmin, DjangoUserAdmin):
    list_display = ("username", "display_name", "email", "user_type", "connected_organization", "is_active")
    list_filter = ("user_type", "is_active", "is_superuser")
    search_fields = ("username", "display_name", "email", "user_principal_name")
    autocomplete_fields = ("manager", "sponsor")
    fieldsets = (
        *(DjangoUserAdmin.fieldsets or ()),
        (
            "Directory",
            {
                "fields": (
                    "display_name",
                    "user_principal_name",
                    "user_type",
                    "connected_organization",
                    "manager",
                    "sponsor",
                )
            },
        ),
    )


@admin.register(m.DirectoryRoleAssignment)
class DirectoryRoleAssignmentAdmin(AuditedAdmin):
    list_display = ("user", "role", "created_at")
    list_filter = ("role",)
    autocomplete_fields = ("user",)


class BuiltinGroupInline(admin.TabularInline):
    """Members and owners of a built-in group; read-only for a synced one."""

    extra = 0
    autocomplete_fields = ("user",)

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return _is_builtin(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return _is_builtin(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return _is_builtin(obj) and super().has_delete_permission(request, obj)


def _is_builtin(group: Model | None) -> bool:
    return group is None or getattr(group, "source", None) == m.GroupSource.BUILTIN


class MembershipInline(BuiltinGroupInline):
    model = m.GroupMembership


class OwnershipInline(BuiltinGroupInline):
    """Rule 17: a group's owners may add it to their catalogs. The directory sync keeps the
    owners of LDAP groups (from ``owner``)."""

    model = m.GroupOwnership
    verbose_name = "owner"


@admin.register(m.DirectoryGroup)
class DirectoryGroupAdmin(AuditedAdmin):
    list_display = ("display_name", "source", "mail")
    list_filter = ("source",)
    search_fields = ("display_name", "external_id")
    # Groups made here are built-in ones; the sync makes the others.
    readonly_fields = ("source", "external_id")
    inlines = [OwnershipInline, MembershipInline]

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return _is_builtin(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return _is_builtin(obj) and super().has_delete_permission(request, obj)


# --- Governed: read-only ----------------------------------------------------------------------


class DomainInline(GovernedInline):
    model = m.OrganizationDomain


@admin.register(m.ConnectedOrganization)
class ConnectedOrganizationAdmin(GovernedAdmin):
    list_display = ("display_name", "state", "created_at")
    search_fields = ("display_name", "domains__domain")
    inlines = [DomainInline]


class CatalogRoleInline(GovernedInline):
    model = m.CatalogRoleAssignment


@admin.register(m.Catalog)
class CatalogAdmin(GovernedAdmin):
    list_display = ("display_name", "state", "is_externally_visible", "created_at")
    search_fields = ("display_name",)
    inlines = [CatalogRoleInline]


@admin.register(m.Connector)
class ConnectorAdmin(GovernedAdmin):
    """Secrets are never shown (``encrypted_secrets`` is not a form field)."""

    list_display = ("display_name", "kind", "drift_mode", "enabled")
    list_filter = ("kind", "enabled")


class ResourceRoleInline(GovernedInline):
    model = m.ResourceRole


@admin.register(m.Resource)
class ResourceAdmin(GovernedAdmin):
    list_display = ("display_name", "catalog", "connector", "resource_type", "origin_id")
    list_filter = ("resource_type", "connector")
    search_fields = ("display_name", "origin_id")
    inlines = [ResourceRoleInline]


class PackageRoleInline(GovernedInline):
    model = m.PackageResourceRole


@admin.register(m.AccessPackage)
class AccessPackageAdmin(GovernedAdmin):
    list_display = ("display_name", "catalog", "is_hidden", "created_at")
    list_filter = ("catalog", "is_hidden")
    search_fields = ("display_name",)
    inlines = [PackageRoleInline]


class StageApproverInline(GovernedInline):
    model = m.StageApprover


@admin.register(m.ApprovalStage)
class ApprovalStageAdmin(GovernedAdmin):
    list_display = ("policy", "order", "timeout_days")
    inlines = [StageApproverInline]


@admin.register(m.AssignmentPolicy)
class AssignmentPolicyAdmin(GovernedAdmin):
    list_display = ("display_name", "package", "allowed_target_scope", "requires_approval", "enabled")
    list_filter = ("allowed_target_scope", "requires_approval", "enabled")
    search_fields = ("display_name", "package__display_name")


@admin.register(m.AssignmentRequest)
class AssignmentRequestAdmin(GovernedAdmin):
    list_display = ("package", "target", "request_type", "state", "created_at", "completed_at")
    list_filter = ("state", "request_type")
    search_fields = ("target__username", "package__display_name")
    date_hierarchy = "created_at"


@admin.register(m.ApprovalDecision)
class ApprovalDecisionAdmin(GovernedAdmin):
    list_display = ("request", "stage_order", "decision", "approver_label", "decided_at")


@admin.register(m.Assignment)
class AssignmentAdmin(GovernedAdmin):
    list_display = ("package", "target", "state", "start_at", "end_at")
    list_filter = ("state",)
    search_fields = ("target__username", "package__display_name")


@admin.register(m.RoleGrant)
class RoleGrantAdmin(GovernedAdmin):
    list_display = ("resource_role", "subject", "state", "attempts", "updated_at")
    list_filter = ("state",)


@admin.register(m.DeliveryAttempt)
class DeliveryAttemptAdmin(GovernedAdmin):
    list_display = ("grant", "operation", "outcome", "error_code", "started_at")
    list_filter = ("operation", "outcome")


@admin.register(m.RoleOperation)
class RoleOperationAdmin(GovernedAdmin):
    list_display = ("package", "role_label", "kind", "state", "total", "created_at")


@admin.register(m.BulkReprocess)
class BulkReprocessAdmin(GovernedAdmin):
    list_display = ("kind", "state", "matched", "created_at")


@admin.register(m.AuditEvent)
class AuditEventAdmin(GovernedAdmin):
    list_display = ("created_at", "actor_label", "action", "object_type", "object_repr")
    list_filter = ("action", "object_type")
    search_fields = ("actor_label", "object_repr", "object_id")


@admin.register(m.OutboundEmail)
class OutboundEmailAdmin(GovernedAdmin):
    list_display = ("kind", "to_address", "subject", "created_at", "sent_at", "attempts")
    list_filter = ("kind",)


@admin.register(m.ExpiryReminder)
class ExpiryReminderAdmin(GovernedAdmin):
    list_display = ("assignment", "days_before", "end_at", "sent_at")


@admin.register(m.ApprovalLink)
class ApprovalLinkAdmin(GovernedAdmin):
    list_display = ("request", "approver", "stage_order", "expires_at", "used_at")


@admin.register(m.ApiClient)
class ApiClientAdmin(GovernedAdmin):
    """The token's hash is not a form field, so it is never shown; its first characters are."""

    list_display = ("name", "role", "catalog", "user", "token_prefix", "last_used_at", "revoked_at")
