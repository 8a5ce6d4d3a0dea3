"""The git sync task through a real Redis broker and a real Celery worker (the worker fixtures of
test_tasks.py): a requested sync is sent on commit, the worker scans a real repository made in tmp_path,
and the beat dispatch queues and runs due repositories from inside the worker."""

from __future__ import annotations

import time

import pytest
import redis
from django.db import transaction

from integrations.git_services import git_repository_create
from integrations.git_sync import git_sync_request
from integrations.models import RepoSignal, SyncRun
from tests import factories
from tests.integrations.test_tasks import (  # noqa: F401 (fixtures)
    TaskLog,
    broker_messages,
    celery_broker,
    celery_worker,
    poll,
    redis_client,
)

GIT_TASK = "integrations.sync_git_repository"

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def finished(sync_run_id: int):
    return SyncRun.objects.filter(pk=sync_run_id, status__in=["succeeded", "failed"]).first()


def test_a_requested_git_sync_is_sent_on_commit_and_run_by_the_worker(
    builder,
    git_cache,
    celery_worker: TaskLog,  # noqa: F811
    celery_broker: redis.Redis,  # noqa: F811
):
    builder.commit({"train.py": "", "Dockerfile": "FROM python\n", "tests/test_score.py": "def test(): pass\n"})
    repo = git_repository_create(
        actor="test", name="fraud-worker", url=str(builder.path), project=factories.ProjectFactory()
    )
    with transaction.atomic():
        run = git_sync_request(repository=repo, triggered_by="maya")
        time.sleep(0.3)  # time for a message sent too early to reach the worker
        assert broker_messages(celery_broker) == 0, "the task was sent before the transaction committed"
    done = poll(lambda: finished(run.pk), "the git sync to finish")
    assert done.status == "succeeded", done.errors
    assert (done.attempts, done.triggered_by) == (1, "maya")
    assert {"training_code", "dockerfile"} <= set(RepoSignal.objects.values_list("kind", flat=True))
    (event,) = celery_worker.wait(lambda: celery_worker.finished(run.pk, name=GIT_TASK), "the git task")
    assert event.state == "SUCCESS"
    assert event.retval["status"] == "succeeded"
    # Asked again with the head unchanged: the worker runs it, and nothing is rescanned.
    again = git_sync_request(repository=repo, triggered_by="maya")
    second = poll(lambda: finished(again.pk), "the second git sync")
    assert second.status == "succeeded", second.errors
    assert second.mode == "incremental"  # decided from the stored head, though `repo` predates the scan
    assert any("unchanged: nothing rescanned" in e["message"] for e in second.errors), second.errors
    for kind in ("reposignal", "repofinding", "pipeline"):  # the same head: nothing written
        assert (second.counts[kind]["created"], second.counts[kind]["updated"], second.counts[kind]["removed"]) == (
            0,
            0,
            0,
        )
    assert SyncRun.objects.filter(target=repo.sync_target).count() == 2


def test_beat_dispatch_through_the_worker_queues_and_runs_due_repositories(
    builder,
    git_cache,
    celery_worker: TaskLog,  # noqa: F811
):
    from integrations.git_tasks import dispatch_due_git_syncs

    builder.commit({"train.py": ""})
    project = factories.ProjectFactory()
    due = git_repository_create(actor="test", name="due-worker", url=str(builder.path), project=project)
    git_repository_create(actor="test", name="off-worker", url=str(builder.path), project=project, enabled=False)
    dispatch_due_git_syncs.delay()
    (dispatched,) = celery_worker.wait(
        lambda: celery_worker.finished(name="integrations.dispatch_due_git_syncs"), "the dispatch task"
    )
    assert dispatched.state == "SUCCESS"
    run = SyncRun.objects.get(target=due.sync_target)
    assert dispatched.retval == [run.pk]  # only the enabled repository
    done = poll(lambda: finished(run.pk), "the dispatched git sync")
    assert (done.status, done.triggered_by) == ("succeeded", "schedule")
