"""Celery tasks for CI webhooks and polling (registered through integrations.tasks).

Each takes ids, calls one service and owns its retries (exponential backoff with full jitter, bounded by
MLGOV_SYNC_MAX_RETRIES). Each is safe to run twice: a delivery or a poll that is no longer queued is left alone.

Without a broker (eager mode) a task runs inside the caller and is never retried: its first attempt is its
last, so a request never loops or sleeps on an unreachable CI server.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import OperationalError

from integrations.ci.services import (
    PipelineRunUnknown,
    PollNotQueued,
    PollRetry,
    ci_polls_due_queue,
    ci_source_poll_execute,
    webhook_delivery_fail,
    webhook_delivery_process,
)
from integrations.models import CiSource
from integrations.services import SyncAlreadyRunning


def _final(task: Any) -> bool:
    return bool(task.request.is_eager) or task.request.retries >= task.max_retries


def _backoff(retries: int) -> float:
    from integrations.tasks import backoff_seconds  # integrations.tasks imports this module at its end

    return backoff_seconds(retries)


@shared_task(
    bind=True,
    max_retries=settings.MLGOV_SYNC_MAX_RETRIES,
    acks_late=True,
    name="integrations.ci.process_webhook_delivery",
)
def process_webhook_delivery(self, delivery_id: int) -> dict[str, Any]:
    """Apply one stored webhook delivery to the inventory.

    A job event can overtake its run's event (two workers, or GitHub's order of delivery): the task retries
    with backoff until the run is recorded, and after the last retry the delivery ends failed. A database
    error (a lock timeout) is retried the same way.
    """
    final = _final(self)
    try:
        delivery = webhook_delivery_process(delivery_id=delivery_id)
    except (PipelineRunUnknown, OperationalError) as exc:
        message = getattr(exc, "message", str(exc))
        if final:
            webhook_delivery_fail(delivery_id=delivery_id, error=message)
            return {"delivery": delivery_id, "status": "failed", "error": message[:500]}
        raise self.retry(exc=exc, countdown=_backoff(self.request.retries)) from exc
    return {"delivery": delivery_id, "status": delivery.status, "pipeline_run": delivery.pipeline_run_id}


@shared_task(
    bind=True,
    max_retries=settings.MLGOV_SYNC_MAX_RETRIES,
    acks_late=True,
    name="integrations.ci.poll_ci_source",
)
def poll_ci_source(self, source_id: int, sync_run_id: int | None = None) -> dict[str, Any]:
    """Poll one CI source for runs (backfill and missed webhooks). Retried while the server is unreachable,
    waiting at least as long as a rate limit asks."""
    final = _final(self)
    try:
        run = ci_source_poll_execute(source_id=source_id, sync_run_id=sync_run_id, final_attempt=final)
    except CiSource.DoesNotExist:
        return {"source": source_id, "status": "gone"}
    except SyncAlreadyRunning:
        return {"source": source_id, "status": "refused"}
    except PollNotQueued:  # a second delivery of the task: the poll is running or finished already
        return {"source": source_id, "status": "not_queued"}
    except PollRetry as exc:
        countdown = max(_backoff(self.request.retries), min(exc.retry_after or 0, 3600))
        raise self.retry(
            exc=exc, countdown=countdown, kwargs={"source_id": source_id, "sync_run_id": exc.sync_run_id}
        ) from exc
    return {"source": source_id, "sync_run": run.pk, "status": run.status, "counts": run.counts}


@shared_task(name="integrations.ci.dispatch_due_ci_polls")
def dispatch_due_ci_polls() -> list[int]:
    """Beat runs this every minute: queue a poll for each enabled source whose interval has passed."""
    return [run.pk for run in ci_polls_due_queue()]
