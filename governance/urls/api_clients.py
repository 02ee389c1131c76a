"""API clients: the list of tokens, and revoking one."""

from django.urls import path

from governance.views.api_clients import api_client_list, api_client_revoke

app_name = "api_clients"

urlpatterns = [
    path("", api_client_list, name="list"),
    path("<uuid:pk>/revoke/", api_client_revoke, name="revoke"),
]
