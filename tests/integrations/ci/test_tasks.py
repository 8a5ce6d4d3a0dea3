"""CI poll scheduling: `ci_polls_due_queue` and the beat task `dispatch_due_ci_polls` queue a poll for
each enabled source once per MLGOV_CI_POLL_INTERVAL_MINUTES. The polls themselves are tested against
local HTTP servers in test_clients.py; here the queued SyncRuns stay queued (the test transaction never
commits, so `delay_on_commit` hands nothing to a worker)."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from integrations.ci.services import ci_polls_due_queue, poll_target
from integrations.ci.signatures import hmac_sha256_signature
from integrations.ci.tasks import dispatch_due_ci_polls
from integrations.models import CiSource, SyncRun, WebhookDelivery
from mlgov.celery import app as celery_app
from mlgov.inventory.models import PipelineRun
from tests.integrations.ci import payloads as p
from tests.integrations.test_tasks import (  # noqa: F401 (fixtures)
    TaskLog,
    broker_messages,
    celery_broker,
    celery_worker,
    poll,
    redis_client,
)

pytestmark = pytest.mark.django_db


def source(name: str, **fields) -> CiSource:
    return CiSource.objects.create(
        name=name, provider="github", base_url="https://api.github.com", target=f"acme/{name}", **fields
    )


def finish(runs: list[SyncRun], *, started) -> None:
    SyncRun.objects.filter(pk__in=[r.pk for r in runs]).update(status="succeeded", started_at=started)


def test_each_enabled_source_is_due_once_per_interval():
    interval = timedelta(minutes=settings.MLGOV_CI_POLL_INTERVAL_MINUTES)
    now = timezone.now()
    never = source("never")  # never polled: due at once
    stale = source("stale")
    recent = source("recent")
    SyncRun.objects.create(target=poll_target(stale), kind="ci", status="succeeded", started_at=now - interval)
    SyncRun.objects.create(
        target=poll_target(recent), kind="ci", status="succeeded", started_at=now - interval + timedelta(minutes=1)
    )

    queued = ci_polls_due_queue(now=now)
    assert sorted(r.target for r in queued) == sorted([poll_target(never), poll_target(stale)])
    assert {(r.kind, r.mode, r.status, r.triggered_by) for r in queued} == {("ci", "incremental", "queued", "schedule")}
    # Queued polls are waiting: asking again (the next beat tick) queues nothing more.
    assert ci_polls_due_queue(now=now) == []
    assert dispatch_due_ci_polls.delay().get() == []
    assert SyncRun.objects.filter(status="queued").count() == 2

    # The polls ran. Within the interval nothing is due; a minute later `recent` is; after one interval, all.
    finish(queued, started=now)
    assert ci_polls_due_queue(now=now + timedelta(seconds=30)) == []
    assert [r.target for r in ci_polls_due_queue(now=now + timedelta(minutes=1))] == [poll_target(recent)]
    finish(list(SyncRun.objects.filter(status="queued")), started=now + timedelta(minutes=1))
    again = ci_polls_due_queue(now=now + interval)
    assert sorted(r.target for r in again) == sorted([poll_target(never), poll_target(stale)])
    assert SyncRun.objects.filter(target=poll_target(never)).count() == 2  # once per interval, no more


def test_disabled_and_busy_sources_are_skipped():
    off = source("off", enabled=False)
    busy = source("busy")
    SyncRun.objects.create(target=poll_target(busy), kind="ci", status="running", started_at=timezone.now())
    assert ci_polls_due_queue() == []
    assert ci_polls_due_queue(now=timezone.now() + timedelta(days=1)) == []
    assert not SyncRun.objects.filter(target=poll_target(off)).exists()
    assert SyncRun.objects.filter(target=poll_target(busy)).count() == 1


def test_the_beat_task_returns_the_queued_sync_runs():
    first = source("first")
    assert celery_app.conf.task_always_eager
    ids = dispatch_due_ci_polls.delay().get()
    assert ids == [SyncRun.objects.get(target=poll_target(first)).pk]


def test_the_beat_schedule_dispatches_ci_polls_every_minute():
    entries = {e["task"]: e["schedule"] for e in settings.CELERY_BEAT_SCHEDULE.values()}
    assert entries["integrations.ci.dispatch_due_ci_polls"] == 60.0
    assert "integrations.ci.dispatch_due_ci_polls" in celery_app.tasks


# --- webhook processing through a real Redis broker and worker ---


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_signed_webhook_is_processed_by_the_worker_once(
    client,
    settings,
    celery_worker: TaskLog,  # noqa: F811
    celery_broker,  # noqa: F811
):
    settings.MLGOV_GITHUB_WEBHOOK_SECRET = "gh-worker-secret"
    body = json.dumps(p.gh_workflow_run_event()).encode()
    headers = {
        "X-Hub-Signature-256": hmac_sha256_signature("gh-worker-secret", body),
        "X-GitHub-Event": "workflow_run",
        "X-GitHub-Delivery": "worker-delivery-1",
    }
    response = client.post("/hooks/github/", data=body, content_type="application/json", headers=headers)
    assert response.status_code == 202
    delivery = WebhookDelivery.objects.get(provider="github", delivery_key="worker-delivery-1")
    # The view answered; the worker, fed from Redis, applies the delivery.
    done = poll(
        lambda: WebhookDelivery.objects.filter(pk=delivery.pk, status__in=["processed", "failed"]).first(),
        "the delivery to be processed",
    )
    assert done.status == "processed", done.error
    run = PipelineRun.objects.get(pk=done.pipeline_run_id)
    assert (run.status, run.commit_sha) == ("success", p.SHA)
    (finished,) = celery_worker.wait(
        lambda: celery_worker.finished(delivery.pk, name="integrations.ci.process_webhook_delivery"),
        "the delivery task",
    )
    assert finished.state == "SUCCESS"
    assert finished.retval["status"] == "processed"
    # A replay of the same delivery is acknowledged but queues nothing: still one delivery, one run.
    again = client.post("/hooks/github/", data=body, content_type="application/json", headers=headers)
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    time.sleep(0.5)
    assert WebhookDelivery.objects.filter(provider="github").count() == 1
    assert PipelineRun.objects.count() == 1
    assert len(celery_worker.finished(name="integrations.ci.process_webhook_delivery")) == 1
    assert broker_messages(celery_broker) == 0
