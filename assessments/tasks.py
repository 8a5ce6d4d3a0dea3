"""Celery tasks for scoring. Each takes ids, calls one service, and owns its retries (a database error is
retried with exponential backoff and jitter, up to MLGOV_SYNC_MAX_RETRIES). Each is safe to run twice: a
scoring run that is no longer queued is left alone."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.conf import settings

from assessments.choices import ScoringTrigger
from assessments.services import (
    ScoringNotQueued,
    ScoringRetry,
    scoring_after_sync,
    scoring_run_create,
    scoring_run_execute,
)


def _backoff(retries: int) -> float:
    from integrations.tasks import backoff_seconds

    return backoff_seconds(retries)


@shared_task(bind=True, max_retries=settings.MLGOV_SYNC_MAX_RETRIES, acks_late=True, name="assessments.score_projects")
def score_projects(self, scoring_run_id: int) -> dict[str, Any]:
    """Run one queued scoring run."""
    final = bool(self.request.is_eager) or self.request.retries >= self.max_retries
    try:
        run = scoring_run_execute(scoring_run_id=scoring_run_id, final_attempt=final)
    except ScoringNotQueued:
        return {"scoring_run": scoring_run_id, "status": "not_queued"}
    except ScoringRetry as exc:
        raise self.retry(exc=exc, countdown=_backoff(self.request.retries)) from exc
    return {"scoring_run": run.pk, "status": run.status, "counts": run.counts}


@shared_task(acks_late=True, name="assessments.score_after_sync")
def score_after_sync(sync_run_id: int) -> dict[str, Any]:
    """Score the projects whose sources a succeeded sync touched (queued by the after-sync hook)."""
    run = scoring_after_sync(sync_run_id=sync_run_id)
    if run is None:
        return {"sync_run": sync_run_id, "status": "nothing_to_score"}
    return {"sync_run": sync_run_id, "scoring_run": run.pk, "status": run.status, "counts": run.counts}


@shared_task(name="assessments.score_nightly")
def score_nightly() -> int:
    """Celery beat runs this every night (MLGOV_SCORING_NIGHTLY_HOUR): queue a scoring run of every project."""
    run = scoring_run_create(trigger=ScoringTrigger.NIGHTLY, triggered_by="nightly")
    score_projects.delay_on_commit(run.pk)
    return run.pk
