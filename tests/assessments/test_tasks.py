"""Scoring after syncs: the after-sync hook queues a task on commit; the task scores the projects the sync
touched. Eager (no broker), and through a real Redis broker and Celery worker."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from assessments.models import Assessment, ScoringRun
from assessments.services import projects_touched_by_sync, scoring_after_sync
from assessments.tasks import score_after_sync, score_projects
from integrations.git_services import git_repository_create
from integrations.git_sync import git_sync_request
from integrations.models import GitRepository, SyncRun
from tests import factories
from tests.integrations.conftest import builder, git_cache  # noqa: F401
from tests.integrations.test_tasks import TaskLog, celery_broker, celery_worker, poll, redis_client  # noqa: F401

FILES = {
    "train.py": "def main(): ...\n",
    "serving/predict.py": "def score(x):\n    return 0.5\n",
    "tests/test_predict.py": "from serving.predict import score\n\ndef test_score():\n    assert score(1)\n",
    ".github/workflows/ci.yml": "name: ci\non: [push]\njobs:\n  test:\n    runs-on: ubuntu-latest\n"
    "    steps: [{run: pytest}]\n",
}


def _sync_run(target: str, kind: str, minutes_ago: int = 5) -> SyncRun:
    now = timezone.now()
    return SyncRun.objects.create(
        target=target,
        kind=kind,
        status="succeeded",
        started_at=now - timedelta(minutes=minutes_ago),
        finished_at=now + timedelta(seconds=1),
    )


@pytest.mark.django_db
def test_the_projects_an_mlflow_sync_touched():
    touched, untouched, elsewhere = factories.ProjectFactory.create_batch(3)
    old = timezone.now() - timedelta(days=1)
    run = factories.TrainingRunFactory(experiment__project=untouched)
    type(run).objects.filter(pk=run.pk).update(updated_at=old)
    type(run.experiment).objects.filter(pk=run.experiment.pk).update(updated_at=old)
    sync = _sync_run("mlflow:test", "mlflow")
    factories.ModelVersionFactory(model__project=touched)  # written during the sync (updated_at now)
    factories.TrainingRunFactory(experiment__project=elsewhere, external_source="mlflow:other")
    type(run.experiment).objects.filter(project=elsewhere).update(external_source="mlflow:other")
    assert projects_touched_by_sync(sync_run=sync) == [touched.pk]


@pytest.mark.django_db
def test_the_projects_a_git_sync_and_a_ci_poll_touched():
    project, other = factories.ProjectFactory.create_batch(2)
    repo = GitRepository.objects.create(name="fraud", url="/srv/fraud.git", project=project)
    sync = _sync_run("git:fraud", "git")
    assert projects_touched_by_sync(sync_run=sync) == []  # head unchanged: not rescanned
    GitRepository.objects.filter(pk=repo.pk).update(scanned_at=timezone.now())
    assert projects_touched_by_sync(sync_run=sync) == [project.pk]
    poll = _sync_run("ci:github-acme", "ci")
    factories.PipelineRunFactory(pipeline__project=other)
    assert projects_touched_by_sync(sync_run=poll) == [other.pk]
    assert projects_touched_by_sync(sync_run=SyncRun(target="x:y", kind="x", started_at=timezone.now())) == []
    assert scoring_after_sync(sync_run_id=999_999) is None


@pytest.mark.django_db
def test_an_eager_git_sync_scores_its_project_after_commit(builder, git_cache, django_capture_on_commit_callbacks):  # noqa: F811
    project = factories.ProjectFactory()
    factories.ProjectFactory()  # not touched: not scored
    builder.commit(FILES)
    repo = git_repository_create(actor="test", name="fraud", url=str(builder.path), project=project)
    with django_capture_on_commit_callbacks(execute=True):
        sync = git_sync_request(repository=repo, triggered_by="maya")
    sync.refresh_from_db()
    assert sync.status == "succeeded", sync.errors
    run = ScoringRun.objects.get(sync_run_id=sync.pk)
    assert (run.trigger, run.triggered_by, run.project_ids, run.status) == (
        "sync",
        "sync:git:fraud",
        [project.pk],
        "succeeded",
    )
    assessment = Assessment.objects.get(project=project)
    assert assessment.trigger == "sync"
    tests = next(
        c for d in assessment.scorecard["dimensions"] for c in d["criteria"] if c["id"] == "integration.unit-tests"
    )
    assert tests["status"] == "met"
    assert tests["evidence"][0]["source"] == "git:fraud"


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_through_the_worker_a_sync_queues_scoring_on_commit(celery_worker: TaskLog, builder, git_cache):  # noqa: F811
    project = factories.ProjectFactory()
    builder.commit(FILES)
    repo = git_repository_create(actor="test", name="fraud", url=str(builder.path), project=project)
    with transaction.atomic():
        sync = git_sync_request(repository=repo, triggered_by="maya")
    (synced,) = celery_worker.wait(
        lambda: celery_worker.finished(sync.pk, name="integrations.sync_git_repository"), "the git sync"
    )
    assert synced.state == "SUCCESS"
    (scored,) = celery_worker.wait(
        lambda: celery_worker.finished(sync.pk, name="assessments.score_after_sync"), "the scoring the hook queued"
    )
    assert scored.state == "SUCCESS"
    assert scored.retval["status"] == "succeeded"
    run = ScoringRun.objects.get(pk=scored.retval["scoring_run"])
    assert (run.trigger, run.sync_run_id, run.project_ids) == ("sync", sync.pk, [project.pk])
    assert Assessment.objects.filter(project=project, is_latest=True, trigger="sync").count() == 1

    # A queued scoring run, run by the worker; a second delivery of the same task does nothing.
    from assessments.services import scoring_run_create

    queued = scoring_run_create(trigger="api", triggered_by="test", project_ids=[project.pk])
    score_projects.delay(queued.pk)
    (first,) = celery_worker.wait(lambda: celery_worker.finished(queued.pk, name="assessments.score_projects"), "run")
    assert first.retval["status"] == "succeeded"
    score_projects.delay(queued.pk)
    celery_worker.wait(lambda: len(celery_worker.finished(queued.pk, name="assessments.score_projects")) == 2, "again")
    second = celery_worker.finished(queued.pk, name="assessments.score_projects")[1]
    assert second.retval == {"scoring_run": queued.pk, "status": "not_queued"}
    assert poll(lambda: ScoringRun.objects.get(pk=queued.pk).status == "succeeded", "the run to be succeeded")
    assert score_after_sync.name == "assessments.score_after_sync"
