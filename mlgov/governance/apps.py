"""Model governance: promotion policies, requests, reviews, alias history and drift findings."""

from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    name = "mlgov.governance"
    label = "governance"
    verbose_name = "Governance"

    def ready(self) -> None:
        from assessments.hooks import register_evidence_provider
        from integrations import hooks as integration_hooks
        from mlgov.audit.registry import register_actions
        from mlgov.governance import config, demo, evidence, hooks
        from mlgov.governance.constants import AUDIT_ACTIONS
        from mlgov.inventory import hooks as inventory_hooks

        register_actions(AUDIT_ACTIONS)
        integration_hooks.register_after_sync(hooks.after_sync)
        integration_hooks.register_config_section("policies", config.parse_policies, config.apply_policies)
        integration_hooks.register_demo_step("Promotions", demo.seed_promotions)
        inventory_hooks.register_model_page_section(hooks.model_page_section)
        register_evidence_provider(evidence.governance_evidence)
