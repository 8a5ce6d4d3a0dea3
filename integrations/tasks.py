"""Celery tasks. Each takes ids, calls one service, and owns its retries."""

from __future__ import annotations

import random
from typing import Any

from celery import shared_task
from django.conf import settings

from integrations.mlflow import MlflowUnreachable
from integrations.services import SyncAlreadyRunning
from integrations.sync import SyncNotQueued, mlflow_sync_execute, syncs_due_queue

BACKOFF_BASE_SECONDS = 5
BACKOFF_CAP_SECONDS = 300


def backoff_seconds(retries: int) -> float:
    """Exponential backoff with full jitter: uniform in [base, min(cap, base * 2**retries)]."""
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**retries)
    return random.uniform(BACKOFF_BASE_SECONDS, max(BACKOFF_BASE_SECONDS, ceiling))  # noqa: S311


@shared_task(
    bind=True, max_retries=settings.MLGOV_SYNC_MAX_RETRIES, acks_late=True, name="integrations.sync_mlflow_connection"
)
def sync_mlflow_connection(self, sync_run_id: int) -> dict[str, Any]:
    """Run one queued MLflow sync. Safe to run twice: a second delivery finds the run no longer queued."""
    final = self.request.retries >= self.max_retries
    try:
        run = mlflow_sync_execute(sync_run_id=sync_run_id, final_attempt=final)
    except SyncAlreadyRunning:
        return {"sync_run": sync_run_id, "status": "refused"}
    except SyncNotQueued:  # a second delivery: the run is running or finished already
        return {"sync_run": sync_run_id, "status": "not_queued"}
    except MlflowUnreachable as exc:
        if final:
            return {"sync_run": sync_run_id, "status": "failed", "error": str(exc)[:500]}
        raise self.retry(exc=exc, countdown=backoff_seconds(self.request.retries)) from exc
    return {"sync_run": sync_run_id, "status": run.status, "counts": run.counts}


@shared_task(name="integrations.dispatch_due_syncs")
def dispatch_due_syncs() -> list[int]:
    """Beat runs this every minute: queue a sync for each enabled connection whose interval has passed."""
    return [run.pk for run in syncs_due_queue()]


# Tasks that live beside their integration, imported here so Celery's autodiscovery registers them.
from integrations import git_tasks  # noqa: E402, F401
from integrations.ci import tasks as ci_tasks  # noqa: E402, F401
