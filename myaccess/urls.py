from django.urls import path

from myaccess.views import access, approval_link, approvals, catalog, mailbox, requests

app_name = "myaccess"

urlpatterns = [
    path("", catalog.request_access, name="home"),
    path("packages/<uuid:package_id>/", catalog.package, name="package"),
    path("packages/<uuid:package_id>/request/", catalog.request_form, name="request_form"),
    path("access/", access.access_list, name="access"),
    path("access/<uuid:assignment_id>/", access.access_detail, name="access_detail"),
    path("access/<uuid:assignment_id>/extend/", access.extend, name="extend"),
    path("access/<uuid:assignment_id>/remove/", access.remove, name="remove"),
    path("requests/", requests.request_list, name="requests"),
    path("requests/<uuid:request_id>/", requests.request_detail, name="request"),
    path("requests/<uuid:request_id>/cancel/", requests.cancel, name="cancel"),
    path(
        "requests/<uuid:request_id>/request-again/", requests.cancel_and_request_again, name="cancel_and_request_again"
    ),
    path("approvals/", approvals.approval_list, name="approvals"),
    path("approvals/<uuid:request_id>/", approvals.approval_detail, name="approval"),
    path("approvals/<uuid:request_id>/link/<str:token>/", approval_link.approval_link, name="approval_link"),
    path("mailbox/", mailbox.mailbox, name="mailbox"),
    path("mailbox/<uuid:email_id>/", mailbox.email_detail, name="mailbox_email"),
    path("mailbox/<uuid:email_id>/html/", mailbox.email_html, name="mailbox_html"),
]
