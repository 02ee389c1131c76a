from django.urls import path

from myaccess import views

app_name = "myaccess"

urlpatterns = [
    path("", views.home, name="home"),
]
