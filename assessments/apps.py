from django.apps import AppConfig


class AssessmentsConfig(AppConfig):
    name = "assessments"
    label = "assessments"
    verbose_name = "Maturity assessments"

    def ready(self) -> None:
        from assessments.constants import AUDIT_ACTIONS
        from mlgov.audit.registry import register_actions

        register_actions(AUDIT_ACTIONS)
