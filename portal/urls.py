from csp.constants import SELF, UNSAFE_INLINE
from csp.decorators import csp_update
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView

from portal.metrics import metrics_view
from portal.views import healthz

# Redoc (the API reference) styles itself with injected <style> elements and searches in a
# blob: worker; only this page's policy allows those. Its scripts still come only from us.
api_docs = csp_update({"style-src": [UNSAFE_INLINE], "worker-src": [SELF, "blob:"]})(
    SpectacularRedocView.as_view(url_name="api-schema")
)

handler500 = "portal.faults.server_error"

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics_view, name="metrics"),
    path("accounts/", include("governance.urls.accounts")),
    path("django-admin/", admin.site.urls),
    path("governance/connectors/", include("governance.urls.connectors")),
    path("governance/api-clients/", include("governance.urls.api_clients")),
    path("governance/identity/", include("governance.urls.identity")),
    path("governance/", include("governance.urls.admin_portal")),
    path("myaccess/", include("myaccess.urls")),
    path("v1.0/", include("governance.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", api_docs, name="api-docs"),
    path("", include("governance.urls.home")),
]
