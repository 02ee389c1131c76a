from django.apps import AppConfig


class MyAccessConfig(AppConfig):
    name = "myaccess"
    verbose_name = "My Access"
