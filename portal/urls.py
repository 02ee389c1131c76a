from csp.constants import SELF, UNSAFE_INLINE
from csp.decorators import csp_update
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView

from governance.views import signin
from portal.views import healthz

# Redoc (the API reference) styles itself with injected <style> elements and searches in a
# blob: worker; only this page's policy allows those. Its scripts still come only from us.
api_docs = csp_update({"style-src": [UNSAFE_INLINE], "worker-src": [SELF, "blob:"]})(
    SpectacularRedocView.as_view(url_name="api-schema")
)

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/sso/", signin.oidc_start, name="oidc_start"),
    path("accounts/sso/callback/", signin.oidc_callback, name="oidc_callback"),
    path("django-admin/", admin.site.urls),
    path("governance/connectors/", include("governance.connector_urls")),
    path("governance/api-clients/", include("governance.api_client_urls")),
    path("governance/identity/", include("governance.identity_urls")),
    path("governance/", include("governance.urls")),
    path("myaccess/", include("myaccess.urls")),
    path("v1.0/", include("governance.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", api_docs, name="api-docs"),
    path("", include("governance.home_urls")),
]
