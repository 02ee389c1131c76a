"""Connectors: the target systems access is delivered into."""

from django.urls import path

from governance.views import connectors

app_name = "connectors"

urlpatterns = [
    path("", connectors.connector_list, name="list"),
    path("new/", connectors.connector_new, name="new"),
    path("<uuid:pk>/", connectors.connector_detail, name="detail"),
    path("<uuid:pk>/test/", connectors.connector_test, name="test"),
    path("<uuid:pk>/delete/", connectors.connector_delete, name="delete"),
]
