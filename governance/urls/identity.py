"""Sign-in and directory: single sign-on, the directory sync, external users' lifecycle."""

from django.urls import path

from governance.views import identity

app_name = "identity"

urlpatterns = [
    path("", identity.identity_overview, name="overview"),
    path("test-sign-in/", identity.test_sign_in, name="test_sign_in"),
    path("sync/", identity.sync_now, name="sync_now"),
    path("organizations/<uuid:pk>/", identity.organization_lifecycle, name="lifecycle"),
]
