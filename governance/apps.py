from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    name = "governance"
    verbose_name = "Identity governance"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers the sign-in and directory sync system checks.
        from governance.identity import checks  # noqa: F401
