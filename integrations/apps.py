from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    label = "integrations"
    verbose_name = "Integrations"

    def ready(self) -> None:
        from integrations.constants import AUDIT_ACTIONS
        from mlgov.audit.registry import register_actions

        register_actions(AUDIT_ACTIONS)

        from integrations.selectors import sync_history_for
        from mlgov.inventory.hooks import register_sync_history

        register_sync_history(sync_history_for)

        from integrations.git_selectors import project_commit_url
        from mlgov.inventory.hooks import register_commit_link

        register_commit_link(project_commit_url)

        from integrations.hooks import register_demo_step
        from integrations.lineage_demo import send_demo_lineage

        register_demo_step("OpenLineage ETL events", send_demo_lineage)
