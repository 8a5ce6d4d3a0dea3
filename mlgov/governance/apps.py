from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    name = "mlgov.governance"
    label = "governance"
    verbose_name = "Governance"
