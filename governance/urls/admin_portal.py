"""The admin portal (Identity Governance): catalogs, packages and their policies, requests,
assignments, the audit log, connected organizations."""

from django.urls import path

from governance.views import (
    assignments,
    audit,
    catalogs,
    chat,
    choices,
    directory,
    extensions,
    health,
    home,
    live,
    organizations,
    packages,
    people,
    policies,
    reprocess_all,
    requests,
    reviews,
    separation,
)

app_name = "governance"

urlpatterns = [
    path("", home.dashboard, name="dashboard"),
    path("system/", health.system_health_page, name="system_health"),
    # Catalogs
    path("catalogs/", catalogs.catalog_list, name="catalog_list"),
    path("catalogs/new/", catalogs.catalog_create, name="catalog_create"),
    path("catalogs/<uuid:pk>/", catalogs.catalog_detail, name="catalog_detail"),
    path("catalogs/<uuid:pk>/edit/", catalogs.catalog_edit, name="catalog_edit"),
    path("catalogs/<uuid:pk>/delete/", catalogs.catalog_delete, name="catalog_delete"),
    path("catalogs/<uuid:pk>/roles/add/", catalogs.catalog_role_add, name="catalog_role_add"),
    path("catalogs/<uuid:pk>/roles/<uuid:role_pk>/remove/", catalogs.catalog_role_remove, name="catalog_role_remove"),
    path("catalogs/<uuid:pk>/resources/add/", catalogs.catalog_resource_add, name="catalog_resource_add"),
    path(
        "catalogs/<uuid:pk>/resources/<uuid:resource_pk>/remove/",
        catalogs.catalog_resource_remove,
        name="catalog_resource_remove",
    ),
    # A catalog's custom extensions (rule 16)
    path("catalogs/<uuid:pk>/extensions/", extensions.extension_list, name="extension_list"),
    path("catalogs/<uuid:pk>/extensions/add/", extensions.extension_create, name="extension_create"),
    path("catalogs/<uuid:pk>/extensions/<uuid:extension_pk>/", extensions.extension_edit, name="extension_edit"),
    path(
        "catalogs/<uuid:pk>/extensions/<uuid:extension_pk>/delete/",
        extensions.extension_delete,
        name="extension_delete",
    ),
    # A catalog's chat channels
    path("catalogs/<uuid:pk>/chat/", chat.channel_list, name="chat_channel_list"),
    path("catalogs/<uuid:pk>/chat/add/", chat.channel_create, name="chat_channel_create"),
    path("catalogs/<uuid:pk>/chat/<uuid:channel_pk>/delete/", chat.channel_delete, name="chat_channel_delete"),
    # Access packages and their tabs
    path("packages/", packages.package_list, name="package_list"),
    path("packages/new/", packages.package_create, name="package_create"),
    path("packages/<uuid:pk>/", packages.package_overview, name="package_overview"),
    path("packages/<uuid:pk>/edit/", packages.package_edit, name="package_edit"),
    path("packages/<uuid:pk>/delete/", packages.package_delete, name="package_delete"),
    path("packages/<uuid:pk>/share/", packages.package_share, name="package_share"),
    path("packages/<uuid:pk>/roles/", packages.package_roles, name="package_roles"),
    path("packages/<uuid:pk>/roles/progress/", packages.package_role_progress, name="package_role_progress"),
    path("packages/<uuid:pk>/roles/add/", packages.package_role_add, name="package_role_add"),
    path("packages/<uuid:pk>/roles/<uuid:role_pk>/remove/", packages.package_role_remove, name="package_role_remove"),
    # Overview > Separation of duties (rule 13)
    path("packages/<uuid:pk>/separation/", separation.separation_of_duties, name="package_separation"),
    path(
        "packages/<uuid:pk>/separation/packages/add/",
        separation.incompatible_package_add,
        name="incompatible_package_add",
    ),
    path(
        "packages/<uuid:pk>/separation/packages/<uuid:other_pk>/remove/",
        separation.incompatible_package_remove,
        name="incompatible_package_remove",
    ),
    path("packages/<uuid:pk>/separation/groups/add/", separation.incompatible_group_add, name="incompatible_group_add"),
    path(
        "packages/<uuid:pk>/separation/groups/<uuid:group_pk>/remove/",
        separation.incompatible_group_remove,
        name="incompatible_group_remove",
    ),
    path("packages/<uuid:pk>/separation/held-both/", separation.held_both_report, name="package_held_both"),
    path(
        "packages/<uuid:pk>/separation/held-both/download/",
        separation.held_both_download,
        name="package_held_both_download",
    ),
    path("packages/<uuid:pk>/policies/", policies.policy_list, name="policy_list"),
    path("packages/<uuid:pk>/policies/new/", policies.policy_create, name="policy_create"),
    path("packages/<uuid:pk>/policies/<uuid:policy_pk>/", policies.policy_edit, name="policy_edit"),
    path(
        "packages/<uuid:pk>/policies/<uuid:policy_pk>/enabled/", policies.policy_set_enabled, name="policy_set_enabled"
    ),
    path("packages/<uuid:pk>/policies/<uuid:policy_pk>/delete/", policies.policy_delete, name="policy_delete"),
    path("packages/<uuid:pk>/assignments/", assignments.package_assignments, name="package_assignments"),
    path("packages/<uuid:pk>/assignments/new/", assignments.assignment_create, name="assignment_create"),
    path(
        "packages/<uuid:pk>/assignments/download/",
        assignments.package_assignments_download,
        name="package_assignments_download",
    ),
    path("packages/<uuid:pk>/requests/", requests.package_requests, name="package_requests"),
    path("packages/<uuid:pk>/requests/download/", requests.package_requests_download, name="package_requests_download"),
    path("packages/<uuid:pk>/reviews/", reviews.review_list, name="package_reviews"),
    path("packages/<uuid:pk>/reviews/<uuid:instance_pk>/", reviews.review_detail, name="package_review"),
    path("packages/<uuid:pk>/reviews/<uuid:instance_pk>/stop/", reviews.review_stop, name="package_review_stop"),
    path("packages/<uuid:pk>/reviews/<uuid:instance_pk>/apply/", reviews.review_apply, name="package_review_apply"),
    path(
        "packages/<uuid:pk>/reviews/<uuid:instance_pk>/download/",
        reviews.review_download,
        name="package_review_download",
    ),
    path(
        "packages/<uuid:pk>/requests/reprocess-all/",
        reprocess_all.package_requests_reprocess_all,
        name="package_requests_reprocess_all",
    ),
    path(
        "packages/<uuid:pk>/assignments/reprocess-all/",
        reprocess_all.package_assignments_reprocess_all,
        name="package_assignments_reprocess_all",
    ),
    # Requests
    path("requests/", requests.request_list, name="request_list"),
    path("requests/download/", requests.request_download, name="request_download"),
    path("requests/reprocess/", requests.request_reprocess_selected, name="request_reprocess_selected"),
    path("requests/reprocess-all/", reprocess_all.request_reprocess_all, name="request_reprocess_all"),
    path("requests/<uuid:pk>/", requests.request_detail, name="request_detail"),
    path("requests/<uuid:pk>/errors/", requests.request_errors, name="request_errors"),
    path("requests/<uuid:pk>/reprocess/", requests.request_reprocess, name="request_reprocess"),
    path("requests/<uuid:pk>/cancel/", requests.request_cancel, name="request_cancel"),
    # Assignments
    path("assignments/", assignments.assignment_list, name="assignment_list"),
    path("assignments/download/", assignments.assignment_download, name="assignment_download"),
    path("assignments/reprocess/", assignments.assignment_reprocess_selected, name="assignment_reprocess_selected"),
    path("assignments/reprocess-all/", reprocess_all.assignment_reprocess_all, name="assignment_reprocess_all"),
    path("assignments/remove/", assignments.assignment_remove_selected, name="assignment_remove_selected"),
    path("assignments/<uuid:pk>/", assignments.assignment_detail, name="assignment_detail"),
    path("assignments/<uuid:pk>/reprocess/", assignments.assignment_reprocess, name="assignment_reprocess"),
    path("assignments/<uuid:pk>/remove/", assignments.assignment_remove, name="assignment_remove"),
    path("assignments/<uuid:pk>/end/", assignments.assignment_update_end, name="assignment_update_end"),
    # "Reprocess all matching": an operation's progress
    path("reprocess/<uuid:pk>/", reprocess_all.bulk_reprocess_detail, name="bulk_reprocess_detail"),
    # A person and a resource explained (issue 22)
    path("people/<uuid:pk>/", people.person_detail, name="person_detail"),
    path("people/<uuid:pk>/download/", people.person_download, name="person_download"),
    path("resources/<uuid:pk>/", people.resource_detail, name="resource_detail"),
    path("resources/<uuid:pk>/download/", people.resource_download, name="resource_download"),
    # Audit log
    path("audit/", audit.audit_list, name="audit_list"),
    path("audit/download/", audit.audit_download, name="audit_download"),
    # Connected organizations
    path("organizations/", organizations.organization_list, name="organization_list"),
    path("organizations/new/", organizations.organization_create, name="organization_create"),
    path("organizations/collaboration/", organizations.organization_collaboration, name="organization_collaboration"),
    path("organizations/<uuid:pk>/", organizations.organization_edit, name="organization_edit"),
    path("organizations/<uuid:pk>/delete/", organizations.organization_delete, name="organization_delete"),
    # Status that updates itself: a list's in-flight badges
    path("live/", live.live_states, name="live_states"),
    # The directory picker's live search
    path("directory/search/", directory.directory_search, name="directory_search"),
    # A list filter's search box (policy, access package)
    path("filters/choices/", choices.filter_choices, name="filter_choices"),
]
