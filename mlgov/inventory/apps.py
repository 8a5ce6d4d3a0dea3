from django.apps import AppConfig


class InventoryConfig(AppConfig):
    name = "mlgov.inventory"
    label = "inventory"
    verbose_name = "Inventory"

    def ready(self) -> None:
        from mlgov.audit.registry import register_actions
        from mlgov.inventory.constants import AUDIT_ACTIONS

        register_actions(AUDIT_ACTIONS)
