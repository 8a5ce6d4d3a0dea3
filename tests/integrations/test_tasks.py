"""The Celery task path: a real Redis broker and a real Celery worker (threads pool, in this process).

What runs for real: Redis (a dedicated db, flushed before and after), the kombu transport, a
`celery.worker.WorkController` consuming from it, the mlflow server, and the database the worker threads
share with the test (committed rows only: `django_db(transaction=True)`). The worker runs in threads of
this process, so monkeypatching a module (the backoff, the MLflow source) reaches the worker too.
"""

from __future__ import annotations

import itertools
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from unittest import mock

import kombu.pools
import pytest
import redis
from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun, task_prerun
from django.conf import settings
from django.db import OperationalError, connections, transaction
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st
from mlflow import MlflowClient

from integrations import sync as sync_module
from integrations import tasks
from integrations.mlflow import MlflowSource
from integrations.models import MlflowConnection, SyncRun
from integrations.services import sync_run_queue
from integrations.sync import mlflow_sync_request, syncs_due_queue
from integrations.tasks import backoff_seconds, dispatch_due_syncs, sync_mlflow_connection
from mlgov.audit.models import AuditEvent
from mlgov.celery import app as celery_app
from mlgov.inventory.models import ModelVersion, RegisteredModel, TrainingRun
from tests.conftest import require_service
from tests.integrations.mlflow_server import MlflowServer, free_port
from tests.integrations.seed import seed_project
from tests.integrations.test_mlflow_sync import PausingSource

# A db of its own, flushed before and after each test (MLGOV_TEST_REDIS_URL moves it, e.g. for two checkouts at once).
REDIS_URL = os.environ.get("MLGOV_TEST_REDIS_URL", "redis://127.0.0.1:6379/14")
WAIT = 30.0  # the bound on every wait for the worker; a passing run needs a fraction of it
SYNC_TASK = "integrations.sync_mlflow_connection"


# --- fixtures ---


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5, socket_timeout=5)
    try:
        reachable, reason = bool(client.ping()), ""
    except redis.RedisError as exc:
        reachable, reason = False, f"PING {REDIS_URL} failed: {exc}"
    require_service("Redis", reachable, reason or "PING did not answer PONG")
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def celery_broker(redis_client: redis.Redis) -> Iterator[redis.Redis]:
    """Point the project's Celery app at the test Redis db and turn eager mode off, then put it back.
    Django settings were read at import, so the app's conf is changed directly."""
    conf = celery_app.conf
    wanted = {
        "broker_url": REDIS_URL,
        "task_always_eager": False,
        "result_backend": None,  # outcomes are read from the database and from task_postrun
        "worker_hijack_root_logger": False,  # leave pytest's logging alone
        "broker_connection_retry_on_startup": False,
    }
    saved = {key: conf[key] for key in wanted}
    forget_broker_connections()
    conf.update(wanted)
    yield redis_client
    forget_broker_connections()
    conf.update(saved)


def forget_broker_connections() -> None:
    """Drop the pooled broker connections, which stay bound to the broker_url in force when they were made
    (even an eager `delay()` makes them). `app.close()` leaves the producer pool, so this closes kombu's
    pools and clears what Celery itself clears after a fork (`Celery._after_fork`)."""
    kombu.pools.reset()
    celery_app._pool = None
    if "amqp" in celery_app.__dict__:
        celery_app.amqp._producer_pool = None


@dataclass
class TaskEvent:
    name: str
    args: list[Any]
    phase: str  # "pre" or "post"
    state: str | None = None
    retval: Any = None
    at: float = field(default_factory=time.monotonic)


class TaskLog:
    """Every task the worker starts and finishes, recorded from Celery's own signals."""

    def __init__(self) -> None:
        self.events: list[TaskEvent] = []
        self._changed = threading.Condition()

    def add(self, event: TaskEvent) -> None:
        with self._changed:
            self.events.append(event)
            self._changed.notify_all()

    def finished(self, sync_run_id: int | None = None, name: str = SYNC_TASK) -> list[TaskEvent]:
        return [
            e
            for e in list(self.events)
            if e.phase == "post" and e.name == name and (sync_run_id is None or e.args == [sync_run_id])
        ]

    def started(self, sync_run_id: int) -> list[TaskEvent]:
        return [e for e in list(self.events) if e.phase == "pre" and e.name == SYNC_TASK and e.args == [sync_run_id]]

    def settle(self, broker: redis.Redis, timeout: float = WAIT) -> None:
        """Wait until no task is running, queued or held for a later attempt (Redis's `unacked`), for half a
        second in a row."""
        deadline, quiet_since = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            phases = [e.phase for e in list(self.events)]
            busy = phases.count("pre") != phases.count("post") or broker.llen("celery") or broker.hlen("unacked")
            now = time.monotonic()
            if busy:
                quiet_since = None
            elif quiet_since is None:
                quiet_since = now
            elif now - quiet_since >= 0.5:
                return
            time.sleep(0.05)
        pytest.fail(f"the worker was still busy after {timeout}s; task events: {self.events}")

    def wait(self, ready: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not (result := ready()):
                left = deadline - time.monotonic()
                if left <= 0:
                    pytest.fail(f"timed out after {timeout}s waiting for {what}; task events: {self.events}")
                self._changed.wait(min(left, 0.2))
        return result


@pytest.fixture
def celery_worker(celery_broker: redis.Redis) -> Iterator[TaskLog]:
    """A real worker consuming from Redis: threads pool, two slots, so two tasks can overlap."""
    log = TaskLog()

    def on_prerun(sender=None, args=None, **_: Any) -> None:
        log.add(TaskEvent(name=sender.name, args=list(args or ()), phase="pre"))

    def on_postrun(sender=None, args=None, state=None, retval=None, **_: Any) -> None:
        # The worker threads open their own database connections; close them like the Django fixup
        # of a real `celery worker` does after each task (and so PostgreSQL can drop the test db).
        connections.close_all()
        log.add(TaskEvent(name=sender.name, args=list(args or ()), phase="post", state=state, retval=retval))

    task_prerun.connect(on_prerun, weak=False)
    task_postrun.connect(on_postrun, weak=False)
    try:
        with start_worker(
            celery_app, pool="threads", concurrency=2, perform_ping_check=False, shutdown_timeout=30, loglevel="WARNING"
        ):
            try:
                yield log
            finally:
                # Tasks queue follow-on tasks (a sync queues scoring and the drift check): let them all end
                # before the worker stops and the test database is flushed under them.
                log.settle(celery_broker)
    finally:
        task_prerun.disconnect(on_prerun)
        task_postrun.disconnect(on_postrun)


def connection_for(url: str, name: str) -> MlflowConnection:
    return MlflowConnection.objects.create(name=name.strip("-")[:60], tracking_uri=url)


def poll(read: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    """Read the database until `read()` returns something truthy, within a bound.

    On SQLite the test database is in memory with a shared cache, where a read that meets another
    connection's open write transaction fails at once ("database table is locked") instead of waiting: a
    worker thread may be writing (the scoring task the after-sync hook queues runs beside the sync). Such a
    read is tried again, within the same bound."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = read()
        except OperationalError as exc:
            if "locked" not in str(exc):
                raise
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def broker_messages(client: redis.Redis) -> int:
    """Messages waiting in the default queue plus those delivered to a worker and not yet acknowledged."""
    return client.llen("celery") + client.hlen("unacked")


# --- the task path through Redis and the worker ---


@pytest.mark.redis
@pytest.mark.mlflow
@pytest.mark.django_db(transaction=True)
def test_request_is_sent_on_commit_and_the_worker_runs_the_sync(
    celery_worker: TaskLog, celery_broker: redis.Redis, mlflow_server: MlflowServer, unique: str
):
    seeded = seed_project(MlflowClient(mlflow_server.url), prefix=unique, project=None, n_models=1, n_versions=2)
    conn = connection_for(mlflow_server.url, f"{unique}e2e")

    with transaction.atomic():
        run = mlflow_sync_request(connection=conn, triggered_by="test")
        # One waiting sync per connection: asking again returns it rather than queueing another.
        assert mlflow_sync_request(connection=conn, triggered_by="test").pk == run.pk
        time.sleep(0.3)  # time for a message sent too early to reach the worker
        assert broker_messages(celery_broker) == 0, "the task was sent before the transaction committed"
        assert celery_worker.events == []
    # Committed: the message goes to Redis and the worker picks it up.
    done = poll(
        lambda: SyncRun.objects.filter(pk=run.pk, status__in=["succeeded", "failed"]).first(), "the sync to finish"
    )
    assert done.status == "succeeded", done.errors
    assert (done.attempts, done.triggered_by, done.mode) == (1, "test", "full")
    assert done.started_at is not None
    assert done.finished_at is not None
    assert done.counts["registeredmodel"]["created"] >= 1
    assert done.counts["modelversion"]["created"] >= 2
    assert RegisteredModel.objects.filter(external_source=conn.external_source, name=seeded.models[0]).exists()
    assert ModelVersion.objects.filter(external_source=conn.external_source, model__name=seeded.models[0]).count() == 2
    assert set(seeded.runs) <= set(
        TrainingRun.objects.filter(external_source=conn.external_source).values_list("external_id", flat=True)
    )
    # It was the worker that ran it, exactly once, and the task reported the outcome.
    (finished,) = celery_worker.wait(lambda: celery_worker.finished(run.pk), "task_postrun")
    assert finished.state == "SUCCESS"
    assert finished.retval["status"] == "succeeded"
    assert finished.retval["counts"] == done.counts
    assert SyncRun.objects.filter(target=conn.external_source).count() == 1


@pytest.mark.redis
@pytest.mark.mlflow
@pytest.mark.django_db(transaction=True)
def test_beat_dispatch_through_the_worker_queues_and_runs_due_syncs(
    celery_worker: TaskLog, mlflow_server: MlflowServer, unique: str
):
    conn = connection_for(mlflow_server.url, f"{unique}beat")
    MlflowConnection.objects.create(name=f"{unique}off", tracking_uri=mlflow_server.url, enabled=False)

    dispatch_due_syncs.delay()
    (dispatched,) = celery_worker.wait(
        lambda: celery_worker.finished(name="integrations.dispatch_due_syncs"), "the dispatch task"
    )
    assert dispatched.state == "SUCCESS"
    run = SyncRun.objects.get(target=conn.external_source)
    assert dispatched.retval == [run.pk]  # only the enabled connection
    # The dispatch queued the sync from inside the worker; the worker then ran it.
    (synced,) = celery_worker.wait(lambda: celery_worker.finished(run.pk), "the sync the dispatch queued")
    assert synced.state == "SUCCESS"
    run.refresh_from_db()
    assert (run.status, run.triggered_by) == ("succeeded", "schedule")
    assert not SyncRun.objects.exclude(target=conn.external_source).exists()


@pytest.mark.redis
@pytest.mark.mlflow
@pytest.mark.django_db(transaction=True)
def test_overlapping_syncs_of_one_connection_in_the_worker_only_one_runs(
    celery_worker: TaskLog, mlflow_server: MlflowServer, unique: str, monkeypatch: pytest.MonkeyPatch
):
    """Two worker slots really overlap: the first sync is held inside MLflow reads (a pausing source)
    while a second queued sync of the same connection, and a second delivery of the first, arrive."""
    conn = connection_for(mlflow_server.url, f"{unique}busy")
    entered, release = threading.Event(), threading.Event()
    real_source = sync_module.connection_source
    sources: list[str] = []

    def source_for(connection: MlflowConnection):
        sources.append(connection.name)
        if len(sources) == 1:
            return PausingSource(connection.tracking_uri, entered, release)
        return real_source(connection)

    monkeypatch.setattr(sync_module, "connection_source", source_for)
    first = sync_run_queue(target=conn.external_source, kind="mlflow", mode="full", triggered_by="test")
    second = sync_run_queue(target=conn.external_source, kind="mlflow", mode="full", triggered_by="test")
    try:
        sync_mlflow_connection.delay(first.pk)
        assert entered.wait(WAIT), "the first sync never started in the worker"
        sync_mlflow_connection.delay(second.pk)  # the other queued sync of this connection
        sync_mlflow_connection.delay(first.pk)  # the same task delivered twice
        (refused,) = celery_worker.wait(lambda: celery_worker.finished(second.pk), "the second sync to be refused")
        (duplicate,) = celery_worker.wait(lambda: celery_worker.finished(first.pk), "the duplicate delivery")
        # Both were handled while the first sync was held in the other worker slot: a real overlap.
        held = SyncRun.objects.get(pk=first.pk)
    finally:
        release.set()
        # Let the first sync end before any assertion can fail, so teardown never races the worker.
        celery_worker.wait(lambda: len(celery_worker.finished(first.pk)) == 2, "the first sync to finish")

    assert (held.status, held.attempts) == ("running", 1)
    assert (refused.state, refused.retval) == ("SUCCESS", {"sync_run": second.pk, "status": "refused"})
    second.refresh_from_db()
    assert second.status == "failed"
    assert "already running" in second.errors[0]["message"]
    assert second.attempts == 0  # refused before it started
    assert (duplicate.state, duplicate.retval) == ("SUCCESS", {"sync_run": first.pk, "status": "not_queued"})

    last = celery_worker.finished(first.pk)[-1]
    assert (last.state, last.retval["status"]) == ("SUCCESS", "succeeded")
    first.refresh_from_db()
    assert first.status == "succeeded", first.errors
    assert first.attempts == 1  # the duplicate delivery did not start it again
    assert sources == [conn.name]  # MLflow was read by one sync only
    statuses = dict(SyncRun.objects.filter(target=conn.external_source).values_list("pk", "status"))
    assert statuses == {first.pk: "succeeded", second.pk: "failed"}
    actions = list(
        AuditEvent.objects.filter(action__startswith="sync.").order_by("seq").values_list("action", "target_id")
    )
    assert actions == [
        ("sync.started", str(first.pk)),
        ("sync.refused", str(second.pk)),
        ("sync.succeeded", str(first.pk)),
    ]


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_unreachable_mlflow_is_retried_with_backoff_then_the_sync_fails(
    celery_worker: TaskLog, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(tasks, "BACKOFF_BASE_SECONDS", 0.3)
    monkeypatch.setattr(tasks, "BACKOFF_CAP_SECONDS", 0.5)
    monkeypatch.setattr(sync_mlflow_connection, "max_retries", 2)
    delays: list[tuple[int, float]] = []

    def recorded_backoff(retries: int) -> float:
        delays.append((retries, backoff_seconds(retries)))
        return delays[-1][1]

    monkeypatch.setattr(tasks, "backoff_seconds", recorded_backoff)
    conn = connection_for(f"http://127.0.0.1:{free_port()}", "down")
    run = sync_run_queue(target=conn.external_source, kind="mlflow", mode="full", triggered_by="test")

    sync_mlflow_connection.delay(run.pk)
    attempts = celery_worker.wait(
        lambda: (done := celery_worker.finished(run.pk)) and done[-1].state != "RETRY" and done, "the last attempt"
    )
    assert [a.state for a in attempts] == ["RETRY", "RETRY", "SUCCESS"]  # max_retries + 1 attempts, then it stops
    assert attempts[-1].retval["status"] == "failed"
    assert attempts[-1].retval["error"]
    # Backoff: one delay per retry, within [base, cap], and the worker really waited it out.
    assert [r for r, _ in delays] == [0, 1]
    assert all(0.3 <= d <= 0.5 for _, d in delays)
    starts = [e.at for e in celery_worker.started(run.pk)]
    assert len(starts) == 3
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert all(gap >= d - 0.05 for gap, (_, d) in zip(gaps, delays, strict=True)), (gaps, delays)

    run.refresh_from_db()
    assert run.status == "failed"
    assert run.attempts == 3
    assert run.finished_at is not None
    # The error that ended it first, then one warning per retry.
    assert [e["level"] for e in run.errors] == ["error", "warning", "warning"], run.errors
    assert run.errors[0]["kind"] == "MlflowUnreachable"
    assert conn.tracking_uri in run.errors[0]["message"]  # it names the server it could not reach
    assert all(e["message"].startswith("retrying: ") for e in run.errors[1:])
    assert run.progress == {"phase": "failed"}


@pytest.mark.redis
@pytest.mark.mlflow
@pytest.mark.django_db(transaction=True)
def test_a_retry_that_reaches_mlflow_succeeds_and_keeps_the_retry_on_record(
    celery_worker: TaskLog, mlflow_server: MlflowServer, unique: str, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(tasks, "BACKOFF_BASE_SECONDS", 0.1)
    monkeypatch.setattr(tasks, "BACKOFF_CAP_SECONDS", 0.2)
    real_source = sync_module.connection_source
    calls: list[int] = []

    def down_once(connection: MlflowConnection):
        calls.append(1)
        if len(calls) == 1:  # MLflow is down for the first attempt only
            return MlflowSource(f"http://127.0.0.1:{free_port()}")
        return real_source(connection)

    monkeypatch.setattr(sync_module, "connection_source", down_once)
    conn = connection_for(mlflow_server.url, f"{unique}flaky")
    with transaction.atomic():
        run = mlflow_sync_request(connection=conn, triggered_by="test")

    attempts = celery_worker.wait(
        lambda: (done := celery_worker.finished(run.pk)) and done[-1].state != "RETRY" and done, "the retry"
    )
    assert [(a.state, a.retval["status"] if a.state == "SUCCESS" else None) for a in attempts] == [
        ("RETRY", None),
        ("SUCCESS", "succeeded"),
    ]
    run.refresh_from_db()
    assert (run.status, run.attempts) == ("succeeded", 2)
    # The retry is on record first; what follows are the pass's own warnings (the shared server's mapping notes).
    assert run.errors[0]["level"] == "warning"
    assert run.errors[0]["message"].startswith("retrying: ")
    assert [e for e in run.errors if e["message"].startswith("retrying: ")] == run.errors[:1]
    assert all(e["level"] == "warning" for e in run.errors)


# --- eager mode: no broker ---


def test_the_app_runs_tasks_eagerly_exactly_when_no_broker_is_configured():
    # Without CELERY_BROKER_URL / REDIS_URL (the default), tasks run in-process and errors propagate.
    # (tests/conftest.py forces eager mode for every test that does not ask for the Redis worker, so the
    # settings are checked here, and the app's reading of them in a subprocess in tests/test_settings.py.)
    assert settings.CELERY_TASK_ALWAYS_EAGER is (not settings.CELERY_BROKER_URL)
    assert settings.CELERY_TASK_EAGER_PROPAGATES is True


@pytest.mark.mlflow
def test_eager_request_runs_the_sync_in_process_on_commit(
    db, mlflow_server: MlflowServer, unique: str, django_capture_on_commit_callbacks
):
    seeded = seed_project(MlflowClient(mlflow_server.url), prefix=unique, project=None, n_models=1, n_versions=1)
    conn = connection_for(mlflow_server.url, f"{unique}eager")

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        run = mlflow_sync_request(connection=conn, triggered_by="test")
        assert SyncRun.objects.get(pk=run.pk).status == "queued"  # nothing runs before the commit
        assert not RegisteredModel.objects.filter(external_source=conn.external_source).exists()
    # the task, on the request's commit; then, on the sync's, the after-sync hook, and the tasks the apps above
    # queue from it: scoring (assessments) and the drift check (governance)
    queued = [c.func.__self__.name for c in callbacks if hasattr(getattr(c, "func", None), "__self__")]
    assert queued[0] == "integrations.sync_mlflow_connection", queued
    assert sorted(queued[1:]) == ["assessments.score_after_sync", "governance.check_drift"], queued
    run.refresh_from_db()
    assert run.status == "succeeded", run.errors
    assert run.attempts == 1
    assert RegisteredModel.objects.filter(external_source=conn.external_source, name=seeded.models[0]).exists()


# --- units: no broker ---


@given(retries=st.integers(min_value=0, max_value=10_000))
def test_backoff_is_within_base_and_cap_for_any_retry_count(retries: int):
    value = backoff_seconds(retries)
    assert tasks.BACKOFF_BASE_SECONDS <= value <= tasks.BACKOFF_CAP_SECONDS
    assert value <= tasks.BACKOFF_BASE_SECONDS * 2**retries


@given(base=st.integers(1, 60), extra=st.integers(0, 600), retries=st.integers(0, 64))
def test_backoff_bounds_hold_for_other_settings(base: int, extra: int, retries: int):
    with (
        mock.patch.object(tasks, "BACKOFF_BASE_SECONDS", base),
        mock.patch.object(tasks, "BACKOFF_CAP_SECONDS", base + extra),
    ):
        assert base <= backoff_seconds(retries) <= min(base + extra, base * 2**retries)


def test_backoff_is_jittered_and_grows_to_the_cap():
    with mock.patch.object(tasks, "random", random.Random(1234)):  # seeded, without touching the global one
        assert backoff_seconds(0) == tasks.BACKOFF_BASE_SECONDS  # the first retry waits the base
        third = {backoff_seconds(3) for _ in range(50)}
        late = [backoff_seconds(30) for _ in range(200)]
    assert len(third) > 40  # full jitter: retries do not fire in lockstep
    assert max(third) <= tasks.BACKOFF_BASE_SECONDS * 8
    assert max(late) <= tasks.BACKOFF_CAP_SECONDS
    assert max(late) > tasks.BACKOFF_CAP_SECONDS / 2  # the range opens up to the cap


def test_due_syncs_are_queued_once_per_interval_for_enabled_connections(db, django_capture_on_commit_callbacks):
    t0 = timezone.now()
    due = MlflowConnection.objects.create(name="due", tracking_uri="http://127.0.0.1:1", sync_interval_minutes=15)
    MlflowConnection.objects.create(name="off", tracking_uri="http://127.0.0.1:1", enabled=False)
    hourly = MlflowConnection.objects.create(name="hourly", tracking_uri="http://127.0.0.1:1", sync_interval_minutes=60)

    with django_capture_on_commit_callbacks() as sent:
        queued = syncs_due_queue(now=t0)
    assert sorted(r.target for r in queued) == ["mlflow:due", "mlflow:hourly"]  # never synced: both due
    assert all((r.status, r.triggered_by, r.mode) == ("queued", "schedule", "full") for r in queued)
    assert len(sent) == 2  # one task each, sent on commit
    runs = {r.target: r for r in queued}

    # Never a second one while one is queued or running, however late it gets.
    with django_capture_on_commit_callbacks() as sent:
        assert syncs_due_queue(now=t0 + timedelta(days=1)) == []
    for run in queued:
        SyncRun.objects.filter(pk=run.pk).update(status="running", started_at=t0)
    with django_capture_on_commit_callbacks() as sent_running:
        assert syncs_due_queue(now=t0 + timedelta(days=1)) == []
    assert sent == sent_running == []
    SyncRun.objects.filter(pk__in=[r.pk for r in queued]).update(status="succeeded", finished_at=t0)

    # The interval counts from the last start, per connection.
    assert syncs_due_queue(now=t0 + timedelta(minutes=14, seconds=59)) == []
    with django_capture_on_commit_callbacks() as sent:
        (again,) = syncs_due_queue(now=t0 + timedelta(minutes=15))
    assert again.target == due.external_source
    assert again.pk != runs["mlflow:due"].pk
    assert len(sent) == 1
    SyncRun.objects.filter(pk=again.pk).update(status="succeeded", started_at=t0 + timedelta(minutes=15))
    assert syncs_due_queue(now=t0 + timedelta(minutes=29)) == []  # 14 and 29 minutes since their starts
    later = syncs_due_queue(now=t0 + timedelta(minutes=60))
    assert sorted(r.target for r in later) == [due.external_source, hourly.external_source]
    assert not SyncRun.objects.filter(target="mlflow:off").exists()


@pytest.mark.django_db
def test_a_queued_run_whose_task_was_lost_does_not_block_its_connection(settings):
    """The broker was down at commit: the row stayed queued with no message. After the stale limit the next
    request fails it (audited) and queues a fresh run instead of returning the orphan forever."""
    from datetime import timedelta

    from django.utils import timezone

    from integrations.models import MlflowConnection, SyncRun
    from integrations.sync import mlflow_sync_request
    from mlgov.audit.models import AuditEvent

    conn = MlflowConnection.objects.create(name="orphaned", tracking_uri="https://m.example")
    orphan = SyncRun.objects.create(target=conn.external_source, kind="mlflow", status="queued")
    SyncRun.objects.filter(pk=orphan.pk).update(
        created_at=timezone.now() - timedelta(minutes=settings.MLGOV_SYNC_STALE_MINUTES + 1)
    )
    fresh = mlflow_sync_request(connection=conn, triggered_by="test")  # on-commit: never sent under `db`
    orphan.refresh_from_db()
    assert fresh.pk != orphan.pk
    assert orphan.status == "failed"
    assert "never started" in orphan.errors[-1]["message"]
    assert AuditEvent.objects.filter(action="sync.failed", target_id=str(orphan.pk)).exists()
