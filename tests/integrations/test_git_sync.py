"""The git sync end to end: real repositories (GitPython, tmp_path), a real cache, the database.

Covers the first scan, incremental syncs (unchanged head, new commits), bare remotes by path and
file:// URL, https credentials through a real smart-HTTP server, broken CI files, failures that leave
the previous scan whole, the one-running-per-target lock, monorepos, and `manage.py sync --source git`.
"""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import git
import pytest
from django.core.management import CommandError, call_command

from integrations import git_services
from integrations.git import GitAuthFailed, GitCacheBusy, GitRefNotFound, GitUnreachable, cache_key
from integrations.git_services import git_repository_create, git_repository_delete, git_repository_update
from integrations.git_sync import git_sync_now, source_for
from integrations.models import GitRepository, RepoFinding, RepoSignal, SyncRun
from integrations.services import SyncAlreadyRunning, sync_run_queue
from mlgov.audit.models import AuditEvent
from mlgov.inventory.models import Pipeline
from tests import factories
from tests.integrations.git_http import GitHttpServer
from tests.integrations.gitrepos import GRACE, bare_remote
from tests.integrations.mlflow_server import free_port

# Portable: the atomic scan write, row locks and rollbacks behave the same on SQLite and PostgreSQL.
pytestmark = [pytest.mark.django_db, pytest.mark.portable]

TRAIN_WORKFLOW = """name: train
on:
  schedule: [{cron: "0 3 * * 1"}]
  push: {branches: [main]}
jobs:
  train:
    runs-on: ubuntu-latest
    steps: [{run: python train.py}]
"""
FILES = {
    "train.py": "def main(): ...\n",
    "serving/predict.py": "def score(x):\n    return 0.5\n",
    "tests/test_serving.py": "from serving.predict import score\n\ndef test_score():\n    assert score(1)\n",
    ".github/workflows/train.yml": TRAIN_WORKFLOW,
    ".github/workflows/broken.yml": "name: broken\non: [push\n",
    "requirements.txt": "numpy==1.26.4\n",
}


@pytest.fixture
def project(db):
    return factories.ProjectFactory(slug="card-fraud")


def make_repository(url: str, project, **values) -> GitRepository:
    return git_repository_create(actor="test", name=values.pop("name", "fraud"), url=url, project=project, **values)


def signals(repo: GitRepository) -> set[tuple[str, str]]:
    return set(RepoSignal.objects.filter(repository=repo).values_list("kind", "path"))


def test_first_sync_records_signals_findings_activity_and_pipelines(builder, git_cache, project):
    head = builder.commit(FILES, author=GRACE)
    repo = make_repository(str(builder.path), project, web_url="https://github.com/acme/fraud")
    run = git_sync_now(repository=repo, triggered_by="test")

    assert (run.status, run.kind, run.target, run.mode) == ("succeeded", "git", "git:fraud", "full")
    assert signals(repo) == {
        ("training_code", "train.py"),
        ("scoring_code", "serving/predict.py"),
        ("test_file", "tests/test_serving.py"),
        ("scoring_test", "tests/test_serving.py"),
        ("ci_config", ".github/workflows/train.yml"),
        ("ci_config", ".github/workflows/broken.yml"),
        ("dependency_lock", "requirements.txt"),
    }
    assert set(RepoSignal.objects.values_list("commit_sha", flat=True)) == {head}
    assert list(RepoFinding.objects.values_list("kind", "path", "commit_sha")) == [
        ("broken_yaml", ".github/workflows/broken.yml", head)
    ]
    repo.refresh_from_db()
    assert repo.head_sha == head
    assert repo.scanned_at is not None
    assert repo.activity["last_commit_sha"] == head
    assert repo.activity["committers"] == [{"name": "Grace Hopper", "email": "grace@example.com", "commits": 1}]

    pipeline = Pipeline.objects.get()
    assert (pipeline.external_source, pipeline.external_id) == (
        "repo:github.com/acme/fraud",
        ".github/workflows/train.yml",
    )
    assert (pipeline.provider, pipeline.config_path, pipeline.project) == (
        "github",
        ".github/workflows/train.yml",
        project,
    )
    assert all(set(t) == {"type", "detail"} for t in pipeline.triggers)
    assert all(set(j) == {"name", "kind", "stage"} for j in pipeline.jobs)

    assert run.counts == {
        "reposignal": {"created": 7, "updated": 0, "unchanged": 0, "removed": 0},
        "repofinding": {"created": 1, "updated": 0, "unchanged": 0, "removed": 0},
        "pipeline": {"created": 1, "updated": 0, "unchanged": 0, "removed": 0},
    }
    actions = list(AuditEvent.objects.filter(actor_name="sync:git:fraud").values_list("action", flat=True))
    assert sorted(actions) == ["gitrepository.scanned", "pipeline.created"]
    scanned = AuditEvent.objects.get(action="gitrepository.scanned")
    assert scanned.after["head_sha"] == head
    assert scanned.after["findings"] == 1
    assert scanned.source == "sync"


def test_unchanged_head_rescans_nothing_and_a_new_commit_is_picked_up(builder, git_cache, project):
    builder.commit(FILES)
    repo = make_repository(str(builder.path), project)
    git_sync_now(repository=repo)
    rows = list(RepoSignal.objects.order_by("pk").values_list("pk", "observed_at"))
    events = AuditEvent.objects.count()

    again = git_sync_now(repository=GitRepository.objects.get(pk=repo.pk))
    assert (again.status, again.mode) == ("succeeded", "incremental")
    zero = {"created": 0, "updated": 0, "unchanged": 0, "removed": 0}
    assert again.counts == {"reposignal": zero, "repofinding": zero, "pipeline": zero}
    assert any("unchanged" in e["message"] for e in again.errors)
    assert list(RepoSignal.objects.order_by("pk").values_list("pk", "observed_at")) == rows  # not rewritten
    new_actions = AuditEvent.objects.order_by("seq").values_list("action", flat=True)[events:]
    assert list(new_actions) == ["sync.started", "sync.succeeded"]

    head = builder.commit(
        {"Dockerfile": "FROM python:3.11-slim\n", ".github/workflows/train.yml": None, "requirements.txt": "numpy\n"}
    )
    third = git_sync_now(repository=GitRepository.objects.get(pk=repo.pk))
    assert third.counts["reposignal"] == {"created": 1, "updated": 0, "unchanged": 5, "removed": 2}
    assert third.counts["pipeline"]["removed"] == 1
    assert ("dockerfile", "Dockerfile") in signals(repo)
    assert ("ci_config", ".github/workflows/train.yml") not in signals(repo)
    assert set(RepoSignal.objects.values_list("commit_sha", flat=True)) == {head}
    assert Pipeline.objects.get().removed_at is not None
    assert AuditEvent.objects.filter(action="pipeline.removed").count() == 1


def test_full_mode_rescans_an_unchanged_head(builder, git_cache, project):
    builder.commit(FILES)
    repo = make_repository(str(builder.path), project)
    git_sync_now(repository=repo)
    full = git_sync_now(repository=GitRepository.objects.get(pk=repo.pk), mode="full")
    assert full.mode == "full"
    assert full.counts["reposignal"] == {"created": 0, "updated": 0, "unchanged": 7, "removed": 0}
    assert full.counts["pipeline"] == {"created": 0, "updated": 0, "unchanged": 1, "removed": 0}


@pytest.mark.parametrize("form", ["path", "file-url"])
def test_a_bare_remote_is_cloned_by_url_then_fetched(builder, git_cache, project, tmp_path, form):
    builder.commit({"train.py": ""})
    remote = bare_remote(tmp_path / "remote.git", builder)
    url = str(remote) if form == "path" else remote.as_uri()
    repo = make_repository(url, project)

    first = git_sync_now(repository=repo)
    assert first.status == "succeeded"
    cache = git_cache / f"{cache_key('fraud', url)}.git"
    assert git.Repo(cache).bare
    assert signals(repo) == {("training_code", "train.py")}

    head = builder.commit({"serving/predict.py": "", "tests/test_predict.py": ""})
    builder.push(remote)
    second = git_sync_now(repository=GitRepository.objects.get(pk=repo.pk))
    assert second.mode == "incremental"
    assert GitRepository.objects.get(pk=repo.pk).head_sha == head
    assert signals(repo) == {
        ("training_code", "train.py"),
        ("scoring_code", "serving/predict.py"),
        ("test_file", "tests/test_predict.py"),
        ("scoring_test", "tests/test_predict.py"),
    }
    assert second.counts["reposignal"]["created"] == 3


def test_a_broken_workflow_keeps_the_pipeline_it_had_and_says_why(builder, git_cache, project):
    builder.commit({".github/workflows/train.yml": TRAIN_WORKFLOW})
    repo = make_repository(str(builder.path), project)
    git_sync_now(repository=repo)
    pipeline = Pipeline.objects.get()

    builder.commit({".github/workflows/train.yml": TRAIN_WORKFLOW + "  oops: [\n"})
    run = git_sync_now(repository=GitRepository.objects.get(pk=repo.pk))
    assert run.status == "succeeded"
    assert list(RepoFinding.objects.values_list("kind", "path")) == [("broken_yaml", ".github/workflows/train.yml")]
    pipeline.refresh_from_db()
    assert pipeline.removed_at is None  # the file is still there; the last good parse stands

    builder.commit({".github/workflows/train.yml": TRAIN_WORKFLOW})
    fixed = git_sync_now(repository=GitRepository.objects.get(pk=repo.pk))
    assert fixed.counts["repofinding"] == {"created": 0, "updated": 0, "unchanged": 0, "removed": 1}
    assert not RepoFinding.objects.exists()


def test_a_failed_fetch_leaves_the_previous_scan_whole(builder, git_cache, project, tmp_path):
    builder.commit(FILES)
    remote = bare_remote(tmp_path / "remote.git", builder)
    repo = make_repository(str(remote), project)
    git_sync_now(repository=repo)
    before = (signals(repo), list(RepoFinding.objects.values_list("pk", flat=True)), Pipeline.objects.get().fingerprint)

    git.Repo(remote).git.branch("-m", "main", "trunk")  # the branch disappears from the remote
    with pytest.raises(GitRefNotFound):
        git_sync_now(repository=GitRepository.objects.get(pk=repo.pk))
    failed = SyncRun.objects.order_by("-id").first()
    assert failed.status == "failed"
    assert failed.errors[0]["kind"] == "GitRefNotFound"
    assert "couldn't find remote ref" in failed.errors[0]["message"]
    after = (signals(repo), list(RepoFinding.objects.values_list("pk", flat=True)), Pipeline.objects.get().fingerprint)
    assert after == before


def test_a_failure_while_writing_rolls_the_whole_scan_back(builder, git_cache, project, monkeypatch):
    builder.commit(FILES)
    repo = make_repository(str(builder.path), project)
    git_sync_now(repository=repo)
    before = signals(repo)
    head = GitRepository.objects.get(pk=repo.pk).head_sha
    builder.commit({"Dockerfile": "FROM x\n", "train.py": None})

    def explode(**kwargs):
        raise RuntimeError("the database went away")

    # Fault injection at the last write of the transaction: signals and findings were already replaced.
    monkeypatch.setattr(git_services, "synced_mark_removed_ids", explode)
    with pytest.raises(RuntimeError):
        git_sync_now(repository=GitRepository.objects.get(pk=repo.pk))
    assert signals(repo) == before
    assert GitRepository.objects.get(pk=repo.pk).head_sha == head
    assert not AuditEvent.objects.filter(action="gitrepository.scanned").exclude(after__head_sha=head).exists()
    assert SyncRun.objects.order_by("-id").first().status == "failed"


def test_an_unreachable_remote_fails_the_sync_with_a_typed_error(git_cache, project):
    repo = make_repository(f"http://127.0.0.1:{free_port()}/acme/fraud.git", project)
    with pytest.raises(GitUnreachable):
        git_sync_now(repository=repo)
    run = SyncRun.objects.get()
    assert (run.status, run.errors[0]["kind"]) == ("failed", "GitUnreachable")
    assert not RepoSignal.objects.exists()


def test_https_credentials_travel_through_askpass_and_are_never_stored(
    builder, git_cache, project, tmp_path, monkeypatch
):
    builder.commit({"train.py": ""})
    root = tmp_path / "served"
    bare_remote(root / "fraud.git", builder)
    token = "ghp_s3cr3t-t0ken-value"
    with GitHttpServer(root, username="x-access-token", password=token) as server:
        url = f"{server.url}/fraud.git"
        repo = make_repository(url, project, credentials_env_var="FRAUD_GIT_TOKEN")

        monkeypatch.delenv("FRAUD_GIT_TOKEN", raising=False)
        with pytest.raises(GitAuthFailed):
            git_sync_now(repository=repo)
        denied = SyncRun.objects.get()
        assert denied.errors[0]["kind"] == "GitAuthFailed"
        assert any("FRAUD_GIT_TOKEN is not set" in e["message"] for e in denied.errors)

        monkeypatch.setenv("FRAUD_GIT_TOKEN", "wrong-token")
        with pytest.raises(GitAuthFailed):
            git_sync_now(repository=GitRepository.objects.get(pk=repo.pk))

        monkeypatch.setenv("FRAUD_GIT_TOKEN", token)
        ok = git_sync_now(repository=GitRepository.objects.get(pk=repo.pk))
        assert ok.status == "succeeded"
        assert signals(repo) == {("training_code", "train.py")}
        assert server.expected in server.authorizations  # the token reached the server...

    # ...and nowhere else: not the cache's config, not a sync run, not the audit trail, not the row.
    cache = git_cache / f"{cache_key('fraud', url)}.git"
    stored = [p.read_bytes() for p in cache.rglob("*") if p.is_file()]
    assert not any(token.encode() in blob for blob in stored)
    assert token not in str(list(SyncRun.objects.values_list("errors", flat=True)))
    assert token not in str(list(AuditEvent.objects.values_list("before", "after")))
    assert token not in str(GitRepository.objects.filter(pk=repo.pk).values().get())


def test_a_second_sync_of_a_running_repository_is_refused(builder, git_cache, project):
    builder.commit({"train.py": ""})
    repo = make_repository(str(builder.path), project)
    SyncRun.objects.create(target=repo.sync_target, kind="git", status="running", started_at=repo.created_at)
    # Keep the running row fresh so it is not expired as abandoned.
    SyncRun.objects.filter(status="running").update(started_at=SyncRun.objects.get().created_at)
    with pytest.raises(SyncAlreadyRunning):
        git_sync_now(repository=repo)
    refused = SyncRun.objects.filter(status="failed").get()
    assert "already running" in refused.errors[0]["message"]
    assert AuditEvent.objects.filter(action="sync.refused").count() == 1


def test_the_cache_lock_keeps_two_processes_apart(builder, git_cache, project):
    builder.commit({"train.py": ""})
    repo = make_repository(str(builder.path), project)
    with source_for(repo).locked(), pytest.raises(GitCacheBusy):
        git_sync_now(repository=repo)
    assert SyncRun.objects.get().errors[0]["kind"] == "GitCacheBusy"
    assert git_sync_now(repository=repo).status == "succeeded"  # released


def test_monorepo_repositories_share_pipelines_without_retiring_each_other(builder, git_cache, db):
    fraud, churn = factories.ProjectFactory(slug="fraud"), factories.ProjectFactory(slug="churn")
    builder.commit(
        {
            "services/fraud/train.py": "",
            "services/churn/train.py": "",
            ".github/workflows/fraud.yml": TRAIN_WORKFLOW.replace("branches: [main]", "paths: [services/fraud/**]"),
            ".github/workflows/churn.yml": TRAIN_WORKFLOW.replace("branches: [main]", "paths: [services/churn/**]"),
        }
    )
    url = str(builder.path)
    a = make_repository(
        url, fraud, name="fraud", subdirectory="services/fraud/", web_url="https://gitlab.com/acme/mono"
    )
    b = make_repository(url, churn, name="churn", subdirectory="services/churn", web_url="https://gitlab.com/acme/mono")
    assert a.subdirectory == "services/fraud"
    git_sync_now(repository=a)
    git_sync_now(repository=b)
    git_sync_now(repository=GitRepository.objects.get(pk=a.pk), mode="full")
    pipelines = {p.config_path: (p.project.slug, p.removed_at) for p in Pipeline.objects.select_related("project")}
    assert pipelines == {".github/workflows/fraud.yml": ("fraud", None), ".github/workflows/churn.yml": ("churn", None)}
    assert signals(a) == {("training_code", "services/fraud/train.py"), ("ci_config", ".github/workflows/fraud.yml")}


def test_changing_what_is_scanned_forces_a_rescan_and_deleting_retires_pipelines(
    builder, git_cache, project, django_capture_on_commit_callbacks
):
    builder.commit({".github/workflows/train.yml": TRAIN_WORKFLOW})
    repo = make_repository(str(builder.path), project, web_url="https://github.com/acme/fraud")
    git_sync_now(repository=repo)
    repo.refresh_from_db()
    repo, changed = git_repository_update(actor="test", repository=repo, sync_interval_minutes=5)
    assert changed
    assert repo.head_sha
    repo, changed = git_repository_update(actor="test", repository=repo, branch="main", subdirectory="")
    assert not changed
    repo, changed = git_repository_update(actor="test", repository=repo, web_url="https://github.com/acme/fraud2")
    assert changed
    assert repo.head_sha == ""
    assert Pipeline.objects.get(external_source="repo:github.com/acme/fraud").removed_at is not None
    git_sync_now(repository=repo)
    cache = git_cache / f"{cache_key('fraud', repo.url)}.git"
    assert cache.exists()
    with django_capture_on_commit_callbacks(execute=True):
        git_repository_delete(actor="test", repository=GitRepository.objects.get(pk=repo.pk))
    assert not cache.exists()
    assert Pipeline.objects.get(external_source="repo:github.com/acme/fraud2").removed_at is not None
    assert not RepoSignal.objects.exists()
    assert AuditEvent.objects.filter(action="gitrepository.deleted").count() == 1


# --- manage.py sync --source git ---


def test_sync_command_prints_progress_and_counts(builder, git_cache, project):
    builder.commit(FILES)
    make_repository(str(builder.path), project)
    out = StringIO()
    call_command("sync", "--source", "git", "--repository", "fraud", stdout=out)
    text = out.getvalue()
    assert "\r  fetch" in text
    assert "\r  write" in text
    assert "] 1/6" in text  # fetch, the first of the git sync's phases
    assert f"[{'#' * 24}] 6/6" in text  # write, the last
    assert "succeeded (full)" in text
    assert "reposignal       created      7" in text
    run = SyncRun.objects.get()
    assert (run.triggered_by, run.kind) == ("cli", "git")
    out = StringIO()
    call_command("sync", "--source", "git", stdout=out)  # every enabled repository
    assert "unchanged: nothing rescanned" in out.getvalue()


def test_sync_command_errors(git_cache, project):
    with pytest.raises(CommandError, match="No Git repository named 'nope'"):
        call_command("sync", "--source", "git", "--repository", "nope", stdout=StringIO())
    with pytest.raises(CommandError, match="--connection is for --source mlflow"):
        call_command("sync", "--source", "git", "--connection", "x", stdout=StringIO())
    make_repository(f"http://127.0.0.1:{free_port()}/x.git", project, name="down")
    err = StringIO()
    with pytest.raises(CommandError, match="1 sync"):
        call_command("sync", "--source", "git", stdout=StringIO(), stderr=err)
    assert "failed" in err.getvalue()


def test_a_queued_sync_of_a_deleted_repository_fails_cleanly(builder, git_cache, project):
    from integrations.git_sync import git_sync_execute

    repo = make_repository(str(builder.path), project)
    run = sync_run_queue(target=repo.sync_target, kind="git")
    git_repository_delete(actor="test", repository=repo)
    result = git_sync_execute(sync_run_id=run.pk)
    assert result.status == "failed"
    assert "no longer exists" in result.errors[0]["message"]


def test_cache_lives_under_the_setting(builder, git_cache, project):
    builder.commit({"train.py": ""})
    repo = make_repository(str(builder.path), project)
    git_sync_now(repository=repo)
    assert [p.name for p in Path(git_cache).glob("*.git")] == [f"{cache_key('fraud', repo.url)}.git"]
