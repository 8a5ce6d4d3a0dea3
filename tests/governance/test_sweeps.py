"""The beat sweep: pending requests past their age limit expire, applies abandoned by a dead worker fail,
and the beat entries name registered tasks."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from mlgov.audit.models import AuditEvent
from mlgov.celery import app as celery_app
from mlgov.errors import Conflict
from mlgov.governance import services, tasks
from mlgov.governance.models import PromotionRequest

pytestmark = pytest.mark.django_db


def _request(world, version: str) -> PromotionRequest:
    return services.promotion_request_create(
        actor=world.u("requester"), version=world.v(version), target="production", justification="Better recall."
    )


def test_the_sweep_expires_pending_requests_past_their_age_limit(world):
    old, fresh = _request(world, "2"), _request(world, "3")
    assert fresh.expires_at > timezone.now() + timedelta(hours=47)  # the policy's max_age_hours=48
    PromotionRequest.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(minutes=1))

    assert tasks.expire_promotions.delay().get() == 1  # the beat task: ids=None, every request

    old.refresh_from_db()
    fresh.refresh_from_db()
    assert old.state == "expired"
    assert old.decided_at is not None
    assert fresh.state == "pending"
    event = AuditEvent.objects.get(action="promotion.expired")
    assert (event.target_id, event.actor_name) == (str(old.pk), "system")
    assert services.promotions_expire() == 0  # a second sweep changes nothing
    assert AuditEvent.objects.filter(action="promotion.expired").count() == 1
    # An expired request cannot be approved.
    with pytest.raises(Conflict) as refused:
        services.promotion_approve(request=old, reviewer=world.u("rui"), comment="late")
    assert refused.value.code == "invalid_state"
    assert refused.value.details["state"] == "expired"


def test_the_sweep_fails_an_apply_abandoned_by_its_worker(world):
    stale_minutes = settings.MLGOV_PROMOTION_APPLY_STALE_MINUTES
    abandoned, running = _request(world, "2"), _request(world, "3")
    now = timezone.now()
    # A worker took each apply (approved -> applying) and the first one died long ago.
    PromotionRequest.objects.filter(pk=abandoned.pk).update(
        state="applying", apply_started_at=now - timedelta(minutes=stale_minutes + 1)
    )
    PromotionRequest.objects.filter(pk=running.pk).update(
        state="applying", apply_started_at=now - timedelta(minutes=stale_minutes - 1)
    )

    services.promotions_expire(ids=[abandoned.pk])  # the per-request check never touches applies
    abandoned.refresh_from_db()
    assert abandoned.state == "applying"

    assert services.promotions_expire() == 0  # nothing expired: the count is of expirations

    abandoned.refresh_from_db()
    running.refresh_from_db()
    assert abandoned.state == "failed"
    assert abandoned.error.startswith("abandoned:")
    assert running.state == "applying"
    event = AuditEvent.objects.get(action="promotion.failed")
    assert event.target_id == str(abandoned.pk)
    assert event.before == {"state": "applying"}
    assert event.after["error"].startswith("abandoned:")


def test_the_beat_entries_name_registered_tasks():
    celery_app.loader.import_default_modules()  # what a worker and beat do at startup: autodiscover the tasks
    schedule = settings.CELERY_BEAT_SCHEDULE
    assert schedule["expire-promotions"]["task"] == "governance.expire_promotions"
    assert schedule["score-nightly"]["task"] == "assessments.score_nightly"
    for entry in ("expire-promotions", "score-nightly"):
        assert schedule[entry]["task"] in celery_app.tasks, entry
    assert celery_app.tasks["governance.expire_promotions"].run is tasks.expire_promotions.run


def test_the_drift_check_is_queued_when_the_sync_commits(world, django_capture_on_commit_callbacks):
    from integrations.hooks import SyncSucceeded
    from integrations.models import SyncRun
    from mlgov.governance.hooks import after_sync
    from mlgov.governance.models import DriftFinding
    from mlgov.inventory.models import ModelAlias

    ModelAlias.objects.create(model=world.model, alias="production", version=world.v("4"))
    run = SyncRun.objects.create(
        target=world.model.external_source, kind="mlflow", status="succeeded", finished_at=timezone.now()
    )
    with django_capture_on_commit_callbacks(execute=False) as queued:
        after_sync(SyncSucceeded(sync_run_id=run.pk, target=run.target, kind="mlflow"))
        after_sync(SyncSucceeded(sync_run_id=run.pk, target="git:x", kind="git"))  # not an MLflow sync
        assert not DriftFinding.objects.exists()  # nothing runs before the commit
    assert len(queued) == 1
    queued[0]()
    assert DriftFinding.objects.get().observed_number == "4"


def test_the_notification_tasks_retry_a_bounded_number_of_times():
    assert tasks.check_drift.max_retries == settings.MLGOV_SYNC_MAX_RETRIES
    assert tasks.send_notification_email.max_retries == settings.MLGOV_NOTIFY_MAX_RETRIES
    assert tasks.check_drift.acks_late
    assert tasks.send_notification_email.acks_late
    for retries in range(10):
        assert tasks.BACKOFF_BASE_SECONDS <= tasks.backoff_seconds(retries) <= tasks.BACKOFF_CAP_SECONDS


def test_an_unreachable_mail_server_without_a_broker_does_not_fail_the_change(
    world, settings, caplog, django_capture_on_commit_callbacks
):
    from tests.integrations.mlflow_server import free_port

    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2
    world.u("rui").email = "rui@example.com"
    world.u("rui").save()
    with django_capture_on_commit_callbacks(execute=True):
        req = _request(world, "2")  # the email task runs in the caller (eager): its first attempt is its last
    assert PromotionRequest.objects.get(pk=req.pk).state == "pending"
    assert "notification email for promotion.requested promotion" in caplog.text
