from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "mlgov.accounts"
    label = "accounts"
    verbose_name = "Accounts and roles"

    def ready(self) -> None:
        from mlgov.accounts import schema, signals  # noqa: F401  (OpenAPI scheme; login failures -> audit)
        from mlgov.accounts.constants import AUDIT_ACTIONS
        from mlgov.audit.registry import register_actions

        register_actions(AUDIT_ACTIONS)
