"""The git sync task path in eager mode (the Redis worker path is in test_git_worker.py).

Real repositories and a real cache; Celery runs tasks in-process (CELERY_TASK_ALWAYS_EAGER, the
default without a broker), so `delay_on_commit` runs the task when the transaction's callbacks run.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from integrations import git_tasks
from integrations.git_services import git_repository_create
from integrations.git_sync import git_sync_request, git_syncs_due_queue
from integrations.models import GitRepository, RepoSignal, SyncRun
from integrations.services import sync_run_queue
from mlgov.celery import app as celery_app
from tests import factories
from tests.integrations.mlflow_server import free_port

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(db):
    return factories.ProjectFactory()


@pytest.fixture(autouse=True)
def _eager():
    assert celery_app.conf.task_always_eager, "these tests use eager mode; the worker path is in test_git_worker.py"


def test_a_requested_sync_runs_on_commit(builder, git_cache, project, django_capture_on_commit_callbacks):
    builder.commit({"train.py": "", "Dockerfile": "FROM python\n"})
    repo = git_repository_create(actor="test", name="fraud", url=str(builder.path), project=project)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        run = git_sync_request(repository=repo, triggered_by="maya")
        assert run.status == "queued"  # nothing runs before the commit
    # the task, on the request's commit; the after-sync hook, on the sync's; the scoring task that hook queues
    assert len(callbacks) == 3
    run.refresh_from_db()
    assert (run.status, run.triggered_by, run.attempts) == ("succeeded", "maya", 1)
    assert set(RepoSignal.objects.values_list("kind", flat=True)) == {"training_code", "dockerfile"}


def test_a_waiting_sync_is_returned_rather_than_queued_twice(builder, git_cache, project):
    repo = git_repository_create(actor="test", name="fraud", url=str(builder.path), project=project)
    first = git_sync_request(repository=repo)  # callbacks not run: it stays queued
    assert git_sync_request(repository=repo).pk == first.pk
    assert SyncRun.objects.count() == 1


def test_the_task_is_safe_to_run_twice(builder, git_cache, project):
    builder.commit({"train.py": ""})
    repo = git_repository_create(actor="test", name="fraud", url=str(builder.path), project=project)
    run = sync_run_queue(target=repo.sync_target, kind="git")
    first = git_tasks.sync_git_repository.delay(run.pk).get()
    second = git_tasks.sync_git_repository.delay(run.pk).get()
    assert first["status"] == "succeeded"
    assert second == {"sync_run": run.pk, "status": "not_queued"}
    assert SyncRun.objects.get().attempts == 1


def test_an_unreachable_remote_is_retried_then_fails(git_cache, project, monkeypatch):
    # Eager mode re-runs a retried task at once (no countdown) unless it propagates the Retry.
    monkeypatch.setitem(celery_app.conf, "task_eager_propagates", False)
    repo = git_repository_create(
        actor="test", name="down", url=f"http://127.0.0.1:{free_port()}/acme/x.git", project=project
    )
    run = sync_run_queue(target=repo.sync_target, kind="git")
    outcome = git_tasks.sync_git_repository.delay(run.pk).get()
    assert outcome["status"] == "failed"
    run.refresh_from_db()
    assert run.status == "failed"
    assert run.attempts == settings.MLGOV_SYNC_MAX_RETRIES + 1
    retrying = [e for e in run.errors if e["message"].startswith("retrying:")]
    assert len(retrying) == settings.MLGOV_SYNC_MAX_RETRIES
    assert run.errors[0]["kind"] == "GitUnreachable"


def test_a_missing_branch_is_not_retried(builder, git_cache, project):
    builder.commit({"train.py": ""})
    repo = git_repository_create(actor="test", name="fraud", url=str(builder.path), branch="nope", project=project)
    run = sync_run_queue(target=repo.sync_target, kind="git")
    outcome = git_tasks.sync_git_repository.delay(run.pk).get()
    assert outcome["status"] == "failed"
    assert "couldn't find remote ref" in outcome["error"]
    assert SyncRun.objects.get().attempts == 1


def test_a_busy_repository_is_refused_by_the_task(builder, git_cache, project):
    repo = git_repository_create(actor="test", name="fraud", url=str(builder.path), project=project)
    SyncRun.objects.create(target=repo.sync_target, kind="git", status="running", started_at=timezone.now())
    run = sync_run_queue(target=repo.sync_target, kind="git")
    assert git_tasks.sync_git_repository.delay(run.pk).get() == {"sync_run": run.pk, "status": "refused"}


def test_due_repositories_are_queued_once(builder, git_cache, project):
    builder.commit({"train.py": ""})
    due = git_repository_create(actor="test", name="due", url=str(builder.path), project=project)
    git_repository_create(actor="test", name="off", url=str(builder.path), project=project, enabled=False)
    recent = git_repository_create(
        actor="test", name="recent", url=str(builder.path), project=project, sync_interval_minutes=60
    )
    SyncRun.objects.create(
        target=recent.sync_target, kind="git", status="succeeded", started_at=timezone.now() - timedelta(minutes=5)
    )
    queued = git_syncs_due_queue()
    assert [r.target for r in queued] == [due.sync_target]
    assert git_syncs_due_queue() == []  # the first is still waiting in the queue
    assert git_tasks.dispatch_due_git_syncs.delay().get() == []
    later = git_syncs_due_queue(now=timezone.now() + timedelta(hours=2))
    assert [r.target for r in later] == [recent.sync_target]
    assert GitRepository.objects.count() == 3


def test_the_beat_schedule_dispatches_git_syncs():
    entries = {e["task"] for e in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "integrations.dispatch_due_git_syncs" in entries
    assert "integrations.sync_git_repository" in celery_app.tasks
