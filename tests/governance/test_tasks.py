"""The governance tasks through a real Redis broker and a real Celery worker (the fixtures of
tests/integrations/test_tasks.py): the apply task queued on commit, retried with backoff while MLflow is
unreachable and then applied; a second delivery of it changing nothing; and a webhook retried after a 500
from a real local HTTP receiver, with the same delivery id."""

from __future__ import annotations

import json
import time

import pytest

from integrations.ci.signatures import signature_matches
from integrations.models import MlflowConnection
from mlgov.audit.models import AuditEvent
from mlgov.governance import services, tasks
from mlgov.governance.models import AliasChange, OutboundDelivery, PromotionRequest
from tests.governance.receiver import Receiver
from tests.governance.test_mlflow_e2e import org  # noqa: F401 (fixture)
from tests.integrations.conftest import mlflow_server, unique  # noqa: F401 (fixtures)
from tests.integrations.test_tasks import (  # noqa: F401 (fixtures)
    broker_messages,
    celery_broker,
    celery_worker,
    poll,
    redis_client,
)

pytestmark = [pytest.mark.redis, pytest.mark.mlflow, pytest.mark.slow]
APPLY = "governance.apply_promotion"


def _read_uncommitted(sender, connection, **kwargs) -> None:
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA read_uncommitted = 1")


@pytest.fixture(autouse=True)
def _sqlite_shared_cache_reads(transactional_db):
    """SQLite's in-memory test database is shared between threads in shared-cache mode, where a reader holds a
    table lock that makes a concurrent writer fail at once ("database table is locked") instead of waiting.
    Readers that do not take those locks (read_uncommitted, which only shared-cache mode honours) leave the
    worker's writes alone. PostgreSQL (CI) and a file database need nothing of the sort."""
    from django.db import connection
    from django.db.backends.signals import connection_created

    connection_created.connect(_read_uncommitted)
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        _read_uncommitted(None, connection)
    yield
    connection_created.disconnect(_read_uncommitted)


def settle(log, broker, quiet: float = 0.5, timeout: float = 30.0) -> None:
    """Wait until the worker has nothing queued or running (the apply asks for a sync, the sync for a drift
    check, decisions for emails), so the test's teardown never races a task."""
    deadline = time.monotonic() + timeout
    calm_since = None
    while time.monotonic() < deadline:
        started = [e for e in list(log.events) if e.phase == "pre"]
        finished = [e for e in list(log.events) if e.phase == "post"]
        idle = len(started) == len(finished) and broker_messages(broker) == 0
        if idle:
            calm_since = calm_since or time.monotonic()
            if time.monotonic() - calm_since >= quiet:
                return
        else:
            calm_since = None
        time.sleep(0.05)
    pytest.fail("the worker never went idle")


@pytest.fixture
def worker(celery_worker, celery_broker):  # noqa: F811
    yield celery_worker
    settle(celery_worker, celery_broker)


def _approved(org) -> PromotionRequest:  # noqa: F811
    users = org["users"]
    req = services.promotion_request_create(
        actor=users["requester"], version=org["v"]["2"], target="production", justification="worker"
    )
    services.promotion_approve(request=req, reviewer=users["rui"])
    return services.promotion_approve(request=req, reviewer=users["rosa"])  # the last approval queues the task


def _short_recorded_backoff(monkeypatch: pytest.MonkeyPatch, *, base: float, cap: float) -> list[float]:
    """Shrink the tasks' backoff to test scale and record each delay the real formula gives."""
    monkeypatch.setattr(tasks, "BACKOFF_BASE_SECONDS", base)
    monkeypatch.setattr(tasks, "BACKOFF_CAP_SECONDS", cap)
    delays: list[float] = []
    real_backoff = tasks.backoff_seconds

    def recorded(retries: int) -> float:
        delays.append(real_backoff(retries))
        return delays[-1]

    monkeypatch.setattr(tasks, "backoff_seconds", recorded)
    return delays


def test_the_apply_task_is_retried_with_backoff_while_mlflow_is_unreachable(
    org,  # noqa: F811
    worker,
    monkeypatch,
):
    delays = _short_recorded_backoff(monkeypatch, base=0.3, cap=0.6)
    conn = org["connection"]
    good = conn.tracking_uri
    MlflowConnection.objects.filter(pk=conn.pk).update(tracking_uri="http://127.0.0.1:9")
    req = _approved(org)
    # The worker tries, fails to reach MLflow, notes the error and schedules a retry.
    poll(lambda: PromotionRequest.objects.filter(pk=req.pk, error__startswith="retrying:").exists(), "a retry")
    held = PromotionRequest.objects.get(pk=req.pk)
    assert held.state == "applying"
    MlflowConnection.objects.filter(pk=conn.pk).update(tracking_uri=good)
    done = poll(lambda: PromotionRequest.objects.filter(pk=req.pk, state="applied").first(), "the apply")
    assert done.attempts >= 2
    assert done.error == ""
    assert delays
    assert all(0.3 <= d <= 0.6 for d in delays)
    finished = worker.wait(lambda: [e for e in worker.finished(name=APPLY) if e.state == "SUCCESS"], APPLY)
    assert finished[-1].retval == {"request": req.pk, "status": "applied", "state": "applied"}
    assert org["mlflow"].get_model_version_by_alias(org["name"], "production").version == "2"
    # One start event across the attempts, one applied event, one history entry.
    assert AuditEvent.objects.filter(action="promotion.apply_started", target_id=str(req.pk)).count() == 1
    assert AuditEvent.objects.filter(action="promotion.applied", target_id=str(req.pk)).count() == 1
    assert AliasChange.objects.filter(request=req).count() == 1


def test_a_second_delivery_of_the_apply_task_changes_nothing(org, worker):  # noqa: F811
    req = _approved(org)
    poll(lambda: PromotionRequest.objects.filter(pk=req.pk, state="applied").exists(), "the apply")
    tasks.apply_promotion.delay(req.pk)  # delivered again (a redelivery after a lost ack, say)

    def done() -> list:
        return [e for e in worker.finished(name=APPLY) if e.state == "SUCCESS"]

    runs = worker.wait(lambda: len(done()) >= 2 and done(), APPLY)
    # The two deliveries may finish in either order (an attempt that met a locked database was retried);
    # one applied, the other found nothing to do.
    assert sorted(r.retval["status"] for r in runs) == ["applied", "skipped"]
    assert {r.retval["state"] for r in runs} == {"applied"}
    assert AuditEvent.objects.filter(action="mlflow.alias_set", target_id=str(org["model"].pk)).count() == 1
    assert AliasChange.objects.filter(request=req).count() == 1


def test_a_webhook_is_retried_after_a_server_error_with_the_same_delivery_id(
    org,  # noqa: F811
    worker,
    monkeypatch,
):
    monkeypatch.setattr(tasks, "BACKOFF_BASE_SECONDS", 0.2)
    monkeypatch.setattr(tasks, "BACKOFF_CAP_SECONDS", 0.4)
    monkeypatch.setenv("MLGOV_TEST_HOOK_SECRET", "worker-secret")
    receiver = Receiver(statuses=[500, 502]).start()
    try:
        services.webhook_endpoint_create(
            actor="test",
            name="cd",
            url=receiver.url,
            secret_env_var="MLGOV_TEST_HOOK_SECRET",
            events=["promotion.requested"],
        )
        services.promotion_request_create(
            actor=org["users"]["requester"], version=org["v"]["1"], target="production", justification="hook"
        )
        got = receiver.wait_for(3)
        delivery = poll(lambda: OutboundDelivery.objects.filter(status="delivered").first(), "the delivery")
    finally:
        receiver.stop()
    assert (delivery.attempts, delivery.response_status) == (3, 200)
    ids = {r.headers["X-Mlgov-Delivery"] for r in got}
    assert ids == {str(delivery.delivery_id)}  # a receiver can drop repeats by this id
    assert len({r.body for r in got}) == 1  # the same signed body each time
    assert all(signature_matches("worker-secret", r.body, r.headers["X-Mlgov-Signature-256"]) for r in got)
    assert json.loads(got[0].body)["delivery_id"] == str(delivery.delivery_id)
    time.sleep(0.3)
    assert len(receiver.received) == 3  # nothing after the success


def test_a_notification_email_is_retried_with_backoff_then_dropped(
    org,  # noqa: F811
    worker,
    monkeypatch,
    settings,
):
    from tests.integrations.mlflow_server import free_port

    # Nothing listens on the SMTP port: every attempt is refused (an OSError).
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2
    delays = _short_recorded_backoff(monkeypatch, base=0.2, cap=0.4)
    monkeypatch.setattr(tasks.send_notification_email, "max_retries", 2)
    users = org["users"]
    users["rui"].email = "rui@example.com"
    users["rui"].save()
    req = services.promotion_request_create(
        actor=users["requester"], version=org["v"]["2"], target="production", justification="mail"
    )
    name = "governance.send_notification_email"
    runs = worker.wait(lambda: [e for e in worker.finished(name=name) if e.state == "SUCCESS"], name)
    attempts = worker.finished(name=name)
    assert [e.state for e in attempts] == ["RETRY", "RETRY", "SUCCESS"]  # bounded: max_retries, then given up
    assert all(e.args == ["promotion.requested", "promotion", req.pk, users["requester"].pk] for e in attempts)
    assert runs[0].retval == 0  # nothing sent, logged, and the request stands
    assert len(delays) == 2
    assert all(0.2 <= d <= 0.4 for d in delays)
    assert PromotionRequest.objects.get(pk=req.pk).state == "pending"
