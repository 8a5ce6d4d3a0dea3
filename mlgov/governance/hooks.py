"""What governance registers in the lower layers' hooks (see apps.py)."""

from __future__ import annotations

from typing import Any

from integrations.hooks import SyncSucceeded


def after_sync(event: SyncSucceeded) -> None:
    """After an MLflow sync committed: queue the drift check of its aliases."""
    if event.kind != "mlflow":
        return
    from mlgov.governance.tasks import check_drift

    check_drift.delay_on_commit(event.sync_run_id)


def model_page_section(model: Any, user: Any) -> dict[str, Any]:
    """The model page's governance panel: open requests, open drift findings, recent alias history."""
    from mlgov.governance.selectors import model_governance

    return {"template": "governance/model_section.html", "context": {"model": model, **model_governance(model=model)}}
