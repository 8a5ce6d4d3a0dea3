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
