from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    name = "governance"
    verbose_name = "Identity governance"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers the system checks: sign-in and directory sync, connector secrets.
        from governance import checks  # noqa: F401
        from governance.identity import checks as identity_checks  # noqa: F401
