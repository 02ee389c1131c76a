from django.urls import path

from governance.views.home import dashboard

app_name = "governance"

urlpatterns = [
    path("", dashboard, name="dashboard"),
]
