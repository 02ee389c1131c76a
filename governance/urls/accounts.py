"""Signing in and out: Django's login form, and single sign-on when ``OIDC_ISSUER`` is set."""

from django.contrib.auth import views as auth_views
from django.urls import path

from governance.views import signin

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("sso/", signin.oidc_start, name="oidc_start"),
    path("sso/callback/", signin.oidc_callback, name="oidc_callback"),
]
