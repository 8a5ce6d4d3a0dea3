"""Celery tasks of governance. Each takes ids, calls one service, and owns its retries (exponential
backoff with full jitter, bounded). Without a broker (eager mode) a task runs in the caller and its first
attempt is its last."""

from __future__ import annotations

import logging
import random
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import OperationalError

from integrations.mlflow import MlflowUnreachable

logger = logging.getLogger(__name__)
BACKOFF_BASE_SECONDS = 5.0
BACKOFF_CAP_SECONDS = 300.0


def backoff_seconds(retries: int) -> float:
    """Uniform in [base, min(cap, base * 2**retries)]."""
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**retries)
    return random.uniform(BACKOFF_BASE_SECONDS, max(BACKOFF_BASE_SECONDS, ceiling))  # noqa: S311


def _final(task: Any) -> bool:
    return bool(task.request.is_eager) or task.request.retries >= task.max_retries


@shared_task(
    bind=True, max_retries=settings.MLGOV_PROMOTION_APPLY_MAX_RETRIES, acks_late=True, name="governance.apply_promotion"
)
def apply_promotion(self, request_id: int) -> dict[str, Any]:
    """Move the alias in MLflow for an approved request. Safe to run twice (see `promotion_apply`), so an
    unreachable MLflow and a database error (a lock timeout, a deadlock, a lost connection: the attempt's
    transaction rolled back) are both retried. A request left applying by a last failed attempt is failed
    by the stale-apply sweep (`promotions_expire`)."""
    from mlgov.governance.services import promotion_apply

    try:
        outcome = promotion_apply(request_id=request_id, final_attempt=_final(self))
    except MlflowUnreachable as exc:
        raise self.retry(exc=exc, countdown=backoff_seconds(self.request.retries)) from exc
    except OperationalError as exc:
        if _final(self):
            raise
        raise self.retry(exc=exc, countdown=backoff_seconds(self.request.retries)) from exc
    return {"request": request_id, "status": outcome.status, "state": outcome.request.state}


@shared_task(bind=True, max_retries=settings.MLGOV_SYNC_MAX_RETRIES, acks_late=True, name="governance.check_drift")
def check_drift(self, sync_run_id: int) -> dict[str, Any]:
    """After an MLflow sync: compare its aliases with the approved promotions. Safe to run twice (a known
    finding is left alone); a database error (a lock timeout, a deadlock, a lost connection) is retried."""
    from mlgov.governance.services import drift_check

    try:
        result = drift_check(sync_run_id=sync_run_id)
    except OperationalError as exc:
        if _final(self):
            raise
        raise self.retry(exc=exc, countdown=backoff_seconds(self.request.retries)) from exc
    return {
        "sync_run": sync_run_id,
        "checked": result.checked,
        "detected": list(result.detected),
        "cleared": list(result.cleared),
    }


@shared_task(
    bind=True, max_retries=settings.MLGOV_PROMOTION_APPLY_MAX_RETRIES, acks_late=True, name="governance.revert_drift"
)
def revert_drift(self, finding_id: int) -> dict[str, Any]:
    from integrations.mlflow import MlflowError
    from mlgov.governance.services import drift_revert

    try:
        finding = drift_revert(finding_id=finding_id)
    except MlflowUnreachable as exc:
        if _final(self):
            return {"finding": finding_id, "status": "failed", "error": str(exc)[:500]}
        raise self.retry(exc=exc, countdown=backoff_seconds(self.request.retries)) from exc
    except MlflowError as exc:
        return {"finding": finding_id, "status": "failed", "error": str(exc)[:500]}
    return {"finding": finding_id, "status": finding.status}


@shared_task(name="governance.expire_promotions")
def expire_promotions() -> int:
    """Beat: expire pending requests past their policy's age limit; fail abandoned applies."""
    from mlgov.governance.services import promotions_expire

    return promotions_expire()


@shared_task(
    bind=True, max_retries=settings.MLGOV_NOTIFY_MAX_RETRIES, acks_late=True, name="governance.deliver_webhook"
)
def deliver_webhook(self, delivery_id: int) -> dict[str, Any]:
    """POST one signed delivery; retried on network errors, 5xx, 408 and 429."""
    from mlgov.governance.notifications import DeliveryRetry, outbound_delivery_attempt

    try:
        delivery = outbound_delivery_attempt(delivery_id=delivery_id, final_attempt=_final(self))
    except DeliveryRetry as exc:
        raise self.retry(exc=exc, countdown=backoff_seconds(self.request.retries)) from exc
    return {"delivery": delivery_id, "status": delivery.status, "attempts": delivery.attempts}


@shared_task(
    bind=True, max_retries=settings.MLGOV_NOTIFY_MAX_RETRIES, acks_late=True, name="governance.send_notification_email"
)
def send_notification_email(self, event: str, kind: str, object_id: int, actor_id: int | None = None) -> int:
    """Email the people an event concerns. An SMTP or network error is retried; after the last attempt (the
    only one without a broker) it is logged and dropped: the change it reports has committed already."""
    from mlgov.governance.notifications import notification_email_send

    try:
        return notification_email_send(event=event, kind=kind, object_id=object_id, actor_id=actor_id)
    except OSError as exc:  # smtplib.SMTPException is an OSError
        if _final(self):
            logger.warning("notification email for %s %s #%s not sent: %s", event, kind, object_id, exc)
            return 0
        raise self.retry(exc=exc, countdown=backoff_seconds(self.request.retries)) from exc
