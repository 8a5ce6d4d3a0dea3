from django.apps import AppConfig


def _queue_scoring_after_sync(event) -> None:  # type: ignore[no-untyped-def]
    """After-sync hook: score the projects the sync touched, in a task (queued when the transaction commits)."""
    from assessments.tasks import score_after_sync

    score_after_sync.delay_on_commit(event.sync_run_id)


class AssessmentsConfig(AppConfig):
    name = "assessments"
    label = "assessments"
    verbose_name = "Maturity assessments"

    def ready(self) -> None:
        from assessments.constants import AUDIT_ACTIONS
        from assessments.demo import score_demo
        from integrations.hooks import register_after_sync, register_demo_step
        from mlgov.audit.registry import register_actions

        register_actions(AUDIT_ACTIONS)
        register_after_sync(_queue_scoring_after_sync)
        register_demo_step("Maturity scores", score_demo)
