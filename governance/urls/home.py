"""The front page: each person goes to the portal they use."""

from django.urls import path

from governance.views.home import home

urlpatterns = [path("", home, name="home")]
