from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from governance.views import signin
from portal.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/sso/", signin.oidc_start, name="oidc_start"),
    path("accounts/sso/callback/", signin.oidc_callback, name="oidc_callback"),
    path("django-admin/", admin.site.urls),
    path("governance/connectors/", include("governance.connector_urls")),
    path("governance/identity/", include("governance.identity_urls")),
    path("governance/", include("governance.urls")),
    path("myaccess/", include("myaccess.urls")),
    path("", include("governance.home_urls")),
]
