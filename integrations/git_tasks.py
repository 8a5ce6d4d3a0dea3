"""Celery tasks for Git repositories (registered through integrations.tasks)."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.conf import settings

from integrations.git import GitError
from integrations.services import SyncAlreadyRunning


@shared_task(
    bind=True, max_retries=settings.MLGOV_SYNC_MAX_RETRIES, acks_late=True, name="integrations.sync_git_repository"
)
def sync_git_repository(self, sync_run_id: int) -> dict[str, Any]:
    """Run one queued git sync. Safe to run twice: a second delivery finds the run no longer queued,
    and the one-running-per-target constraint (plus a lock on the cache) keeps two from overlapping.
    An unreachable remote is retried with backoff and jitter; other git errors fail the run at once."""
    from integrations.git_sync import git_sync_execute
    from integrations.sync import SyncNotQueued
    from integrations.tasks import backoff_seconds

    final = self.request.retries >= self.max_retries
    try:
        run = git_sync_execute(sync_run_id=sync_run_id, final_attempt=final)
    except SyncAlreadyRunning:
        return {"sync_run": sync_run_id, "status": "refused"}
    except SyncNotQueued:
        return {"sync_run": sync_run_id, "status": "not_queued"}
    except GitError as exc:
        if exc.retryable and not final:
            raise self.retry(exc=exc, countdown=backoff_seconds(self.request.retries)) from exc
        return {"sync_run": sync_run_id, "status": "failed", "error": str(exc)[:500]}
    return {"sync_run": sync_run_id, "status": run.status, "counts": run.counts}


@shared_task(name="integrations.dispatch_due_git_syncs")
def dispatch_due_git_syncs() -> list[int]:
    """Beat runs this every minute: queue a sync for each enabled repository whose interval has passed."""
    from integrations.git_sync import git_syncs_due_queue

    return [run.pk for run in git_syncs_due_queue()]
