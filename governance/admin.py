"""Django admin for every model: a superuser's backstop, not the portal.

State fields are read-only here: states change only through the services (and so the
audit trail); the admin is for looking and for fixing reference data.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from governance import models as m


@admin.register(m.User)
class UserAdmin(DjangoUserAdmin):
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


class DomainInline(admin.TabularInline):
    model = m.OrganizationDomain
    extra = 1


@admin.register(m.ConnectedOrganization)
class ConnectedOrganizationAdmin(admin.ModelAdmin):
    list_display = ("display_name", "state", "created_at")
    search_fields = ("display_name", "domains__domain")
    inlines = [DomainInline]


@admin.register(m.DirectoryRoleAssignment)
class DirectoryRoleAssignmentAdmin(admin.ModelAdmin):
    list_display = ("user", "role", "created_at")
    list_filter = ("role",)
    autocomplete_fields = ("user",)


class MembershipInline(admin.TabularInline):
    model = m.GroupMembership
    extra = 0
    autocomplete_fields = ("user",)


class OwnershipInline(admin.TabularInline):
    """Rule 17: a group's owners may add it to their catalogs. The directory sync keeps the
    owners of LDAP groups (from ``owner``); edits to those last until the next sync."""

    model = m.GroupOwnership
    extra = 0
    autocomplete_fields = ("user",)
    verbose_name = "owner"


@admin.register(m.DirectoryGroup)
class DirectoryGroupAdmin(admin.ModelAdmin):
    list_display = ("display_name", "source", "mail")
    list_filter = ("source",)
    search_fields = ("display_name", "external_id")
    inlines = [OwnershipInline, MembershipInline]


class CatalogRoleInline(admin.TabularInline):
    model = m.CatalogRoleAssignment
    extra = 0
    autocomplete_fields = ("user",)


@admin.register(m.Catalog)
class CatalogAdmin(admin.ModelAdmin):
    list_display = ("display_name", "state", "is_externally_visible", "created_at")
    search_fields = ("display_name",)
    inlines = [CatalogRoleInline]


@admin.register(m.Connector)
class ConnectorAdmin(admin.ModelAdmin):
    list_display = ("display_name", "kind", "drift_mode", "enabled")
    list_filter = ("kind", "enabled")


class ResourceRoleInline(admin.TabularInline):
    model = m.ResourceRole
    extra = 0


@admin.register(m.Resource)
class ResourceAdmin(admin.ModelAdmin):
    list_display = ("display_name", "catalog", "connector", "resource_type", "origin_id")
    list_filter = ("resource_type", "connector")
    search_fields = ("display_name", "origin_id")
    inlines = [ResourceRoleInline]


class PackageRoleInline(admin.TabularInline):
    model = m.PackageResourceRole
    extra = 0


@admin.register(m.AccessPackage)
class AccessPackageAdmin(admin.ModelAdmin):
    list_display = ("display_name", "catalog", "is_hidden", "created_at")
    list_filter = ("catalog", "is_hidden")
    search_fields = ("display_name",)
    inlines = [PackageRoleInline]


class StageApproverInline(admin.TabularInline):
    model = m.StageApprover
    extra = 0


@admin.register(m.ApprovalStage)
class ApprovalStageAdmin(admin.ModelAdmin):
    list_display = ("policy", "order", "timeout_days")
    inlines = [StageApproverInline]


@admin.register(m.AssignmentPolicy)
class AssignmentPolicyAdmin(admin.ModelAdmin):
    list_display = ("display_name", "package", "allowed_target_scope", "requires_approval", "enabled")
    list_filter = ("allowed_target_scope", "requires_approval", "enabled")
    search_fields = ("display_name", "package__display_name")
    filter_horizontal = ("specific_users", "specific_groups", "specific_organizations")


class ReadOnlyStateAdmin(admin.ModelAdmin):
    """Requests, assignments, grants: looked at here, changed only through the services."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(m.AssignmentRequest)
class AssignmentRequestAdmin(ReadOnlyStateAdmin):
    list_display = ("package", "target", "request_type", "state", "created_at", "completed_at")
    list_filter = ("state", "request_type")
    search_fields = ("target__username", "package__display_name")
    date_hierarchy = "created_at"


@admin.register(m.ApprovalDecision)
class ApprovalDecisionAdmin(ReadOnlyStateAdmin):
    list_display = ("request", "stage_order", "decision", "approver_label", "decided_at")


@admin.register(m.Assignment)
class AssignmentAdmin(ReadOnlyStateAdmin):
    list_display = ("package", "target", "state", "start_at", "end_at")
    list_filter = ("state",)
    search_fields = ("target__username", "package__display_name")


@admin.register(m.RoleGrant)
class RoleGrantAdmin(ReadOnlyStateAdmin):
    list_display = ("resource_role", "subject", "state", "attempts", "updated_at")
    list_filter = ("state",)


@admin.register(m.DeliveryAttempt)
class DeliveryAttemptAdmin(ReadOnlyStateAdmin):
    list_display = ("grant", "operation", "outcome", "error_code", "started_at")
    list_filter = ("operation", "outcome")


@admin.register(m.RoleOperation)
class RoleOperationAdmin(ReadOnlyStateAdmin):
    list_display = ("package", "role_label", "kind", "state", "total", "created_at")


@admin.register(m.AuditEvent)
class AuditEventAdmin(ReadOnlyStateAdmin):
    list_display = ("created_at", "actor_label", "action", "object_type", "object_repr")
    list_filter = ("action", "object_type")
    search_fields = ("actor_label", "object_repr", "object_id")

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(m.OutboundEmail)
class OutboundEmailAdmin(ReadOnlyStateAdmin):
    list_display = ("kind", "to_address", "subject", "created_at", "sent_at", "attempts")
    list_filter = ("kind",)


@admin.register(m.ExpiryReminder)
class ExpiryReminderAdmin(ReadOnlyStateAdmin):
    list_display = ("assignment", "days_before", "end_at", "sent_at")
