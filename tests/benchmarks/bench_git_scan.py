"""Benchmark: scanning a Git repository of 5,000 files and 10,000 commits.

The repository is built once with `git fast-import` (a few seconds) and cached under
var/bench-cache/; a later run reuses it. It looks like an ML monorepo: 3,000 Python modules, 1,000
tests, DVC pointers, Kubernetes manifests, Terraform, docs, five workflows, a Feast repo, lock files;
25 authors; 10,000 commits over two years, each touching one file.

What is timed (median of several runs, wall clock; printed, never asserted):

- the first fetch into an empty cache (a clone of the branch, by path);
- the scan of the head without the database: list the tree, run every detector (which reads every
  Python and YAML file), parse the CI files, read the activity; and each of those phases;
- the whole sync with the database: first sync (clone + scan + writes), a sync with the head
  unchanged (fetch, nothing rescanned), and a sync after one new commit;
- the baseline: a plain `git ls-files` and `git log` of the same repository (a checkout), as
  subprocesses. The ratio scan / baseline says what the detectors and reads cost on top of git itself.

    make bench BENCH_ARGS=tests/benchmarks/bench_git_scan.py

Results are recorded in docs/performance.md ("Git scan").
"""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import git
import pytest
from django.conf import settings

from integrations.detectors import clear_caches, is_ci_config, read_hint, run_detectors
from integrations.git import GitSource
from integrations.git_services import git_repository_create
from integrations.git_sync import git_sync_now, pipeline_rows, scan_repository, scope_paths
from integrations.models import GitRepository, RepoSignal
from tests import factories

FILES = 5_000
COMMITS = 10_000
AUTHORS = 25
RUNS = int(os.environ.get("MLGOV_BENCH_GIT_RUNS", "5"))
CACHE = settings.BASE_DIR / "var" / "bench-cache" / f"git-{FILES}f-{COMMITS}c-v1.git"

pytestmark = pytest.mark.django_db


# --- the repository ---


def layout() -> dict[str, str]:
    """5,000 paths and their first contents."""
    files: dict[str, str] = {}
    for pkg in range(50):
        for mod in range(60):
            imports = "import numpy as np\nimport pandas as pd\n"
            if mod == 0 and pkg % 10 == 0:
                imports += "from evidently.report import Report\n"
            if mod == 1 and pkg % 10 == 0:
                imports += "import pandera as pa\n"
            files[f"src/pkg{pkg:02}/mod{mod:02}.py"] = (
                f'"""Module {pkg}.{mod}."""\n{imports}\n\ndef f{mod}(x):\n    return np.asarray(x) * {mod}\n' * 3
            )
    for pkg in range(50):
        for t in range(20):
            files[f"tests/pkg{pkg:02}/test_mod{t:02}.py"] = (
                f"from pkg{pkg:02}.mod{t:02} import f{t}\n\ndef test_f():\n    assert f{t}(1) == {t}\n"
            )
    for i in range(200):
        files[f"data/raw/part{i:03}.csv.dvc"] = f"outs:\n- md5: {i:032x}\n  path: part{i:03}.csv\n"
    for i in range(200):
        files[f"deploy/k8s/app{i:03}.yaml"] = f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app{i}\n"
    for i in range(50):
        files[f"infra/modules/m{i:02}/main.tf"] = f'resource "aws_s3_bucket" "b{i}" {{}}\n'
    for i in range(5):
        files[f".github/workflows/wf{i}.yml"] = (
            f"name: wf{i}\non:\n  push: {{branches: [main]}}\n  schedule: [{{cron: '0 {i} * * *'}}]\n"
            f"jobs:\n  train:\n    runs-on: ubuntu-latest\n    steps: [{{run: python train.py}}]\n"
        )
    for i in range(10):
        files[f"feature_repo/views{i}.py"] = (
            f"from feast import FeatureView\nv{i} = FeatureView(name='view_{i}', entities=[])\n"
        )
    files |= {
        "feature_repo/feature_store.yaml": "project: bench\nprovider: local\n",
        "train.py": "def main(): ...\n",
        "serving/predict.py": "def score(x): ...\n",
        "Dockerfile": "FROM python:3.11-slim\n",
        "requirements.txt": "numpy==1.26.4\npandas==2.2.2\n",
        "poetry.lock": "[[package]]\n",
        "dvc.yaml": "stages:\n  train:\n    cmd: python train.py\n",
        "monitoring/rules.yml": "groups:\n- name: m\n  rules:\n  - alert: Drift\n    expr: drift > 0.3\n",
    }
    i = 0
    while len(files) < FILES:
        files[f"docs/page{i:04}.md"] = f"# Page {i}\n\nSome documentation.\n"
        i += 1
    assert len(files) == FILES
    return files


def fast_import_stream(files: dict[str, str], end: datetime) -> bytes:
    paths = sorted(files)
    start = end - timedelta(days=730)
    step = (end - start) / COMMITS
    out: list[bytes] = []

    def data(text: str) -> None:
        raw = text.encode()
        out.append(f"data {len(raw)}\n".encode() + raw + b"\n")

    def commit(n: int, changes: list[tuple[str, str]]) -> None:
        who = n % AUTHORS
        ts = int((start + step * n).timestamp())
        out.append(b"commit refs/heads/main\n")
        out.append(f"mark :{n + 1}\n".encode())
        person = f"Author {who:02} <author{who:02}@example.com> {ts} +0000\n"
        out.append(f"author {person}committer {person}".encode())
        data(f"change {n}")
        if n:
            out.append(f"from :{n}\n".encode())
        for path, content in changes:
            out.append(f"M 100644 inline {path}\n".encode())
            data(content)

    commit(0, [(p, files[p]) for p in paths])
    churn = [p for p in paths if p.startswith(("src/", "tests/", "docs/"))]
    for n in range(1, COMMITS):
        path = churn[(n * 7919) % len(churn)]
        commit(n, [(path, files[path] + f"# revision {n}\n")])
    out.append(b"done\n")
    return b"".join(out)


def bench_repository() -> Path:
    """The cached bare repository, built on first use (atomically: built aside, then renamed)."""
    if (CACHE / "mlgov-bench-complete").exists():
        return CACHE
    building = CACHE.with_suffix(f".building-{os.getpid()}")
    shutil.rmtree(building, ignore_errors=True)
    git.Repo.init(building, bare=True, initial_branch="main")
    started = time.perf_counter()
    stream = fast_import_stream(layout(), datetime.now(UTC).replace(microsecond=0))
    subprocess.run(
        ["git", "fast-import", "--quiet", "--done"],
        input=stream,
        cwd=building,
        check=True,
    )
    subprocess.run(["git", "gc", "--quiet"], cwd=building, check=True)
    (building / "mlgov-bench-complete").write_text(f"built in {time.perf_counter() - started:.1f} s\n")
    shutil.rmtree(CACHE, ignore_errors=True)
    building.rename(CACHE)
    return CACHE


# --- measurement ---


def timed(fn: Callable[[], object], runs: int = RUNS) -> tuple[float, object]:
    samples, result = [], None
    for _ in range(runs):
        clear_caches()  # every run is a cold scan: no path facts remembered from the previous one
        started = time.perf_counter()
        result = fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples), result


def run_git(args: list[str], cwd: Path) -> bytes:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True).stdout


def test_git_scan(tmp_path, settings):
    started = time.perf_counter()
    remote = bench_repository()
    prepared = time.perf_counter() - started
    head = run_git(["rev-parse", "main"], remote).decode().strip()
    assert int(run_git(["rev-list", "--count", "main"], remote)) == COMMITS
    assert len(run_git(["ls-tree", "-r", "--name-only", "main"], remote).splitlines()) == FILES

    # Clone (first fetch into an empty cache).
    def clone() -> str:
        source = GitSource(tmp_path / f"c{time.perf_counter_ns()}", "bench")
        with source.locked():
            return source.fetch(str(remote), "main")

    t_clone, fetched = timed(clone, runs=3)
    assert fetched == head

    # The scan, no database, on a warm cache.
    source = GitSource(tmp_path / "warm", "bench")
    repository = GitRepository(name="bench", url=str(remote), branch="main")
    with source.locked():
        source.fetch(str(remote), "main")
        t_fetch_noop, _ = timed(lambda: source.fetch(str(remote), "main"))
        t_scan, scan = timed(lambda: scan_repository(source, repository, head))
        t_files, files = timed(lambda: source.files(head))
        paths = [f.path for f in files]

        def detectors():
            read = source.reader(files)
            scope = scope_paths(paths, "", read)
            read.prefetch([p for p in scope if read_hint(p)])
            return run_detectors(scope, read), read

        t_detect, (signals, read) = timed(detectors)

        def pipelines():
            read = source.reader(files)
            return pipeline_rows([p for p in paths if is_ci_config(p)], read, None)

        t_pipes, _ = timed(pipelines)
        t_activity, activity = timed(lambda: source.activity(head))
    assert len(paths) == FILES
    assert activity.total_commits == COMMITS
    assert len(scan.pipelines) == 5
    assert sum(w.commits for w in activity.commits_per_week) > 0

    # The whole sync, with the database.
    settings.MLGOV_GIT_CACHE_DIR = tmp_path / "sync-cache"
    project = factories.ProjectFactory()
    repo = git_repository_create(actor="bench", name="bench", url=str(remote), project=project)
    t0 = time.perf_counter()
    first = git_sync_now(repository=repo)
    t_sync_first = time.perf_counter() - t0
    assert first.status == "succeeded"
    n_signals = RepoSignal.objects.filter(repository=repo).count()
    t_sync_same, same = timed(lambda: git_sync_now(repository=GitRepository.objects.get(pk=repo.pk)))
    assert same.counts["reposignal"]["created"] == 0

    work = tmp_path / "work"
    git.Repo.clone_from(str(remote), work)
    run_git(["-c", "user.name=b", "-c", "user.email=b@x", "commit", "--allow-empty", "-qm", "one more"], work)
    run_git(["push", "-q", "origin", "main"], work)
    try:
        t0 = time.perf_counter()
        new = git_sync_now(repository=GitRepository.objects.get(pk=repo.pk))
        t_sync_new = time.perf_counter() - t0
        assert new.status == "succeeded"
        assert GitRepository.objects.get(pk=repo.pk).head_sha != head
    finally:
        # Put the cached repository back as it was built.
        run_git(["update-ref", "refs/heads/main", head], remote)

    # The baseline: plain git on a checkout of the same repository.
    t_ls, _ = timed(lambda: run_git(["ls-files"], work))
    t_log, _ = timed(lambda: run_git(["log", "--format=%H %ct %aN %aE", "main"], work))
    t_baseline = t_ls + t_log

    print()
    print(f"Git scan benchmark: {FILES} files, {COMMITS} commits, {AUTHORS} authors ({platform.platform()})")
    print(f"  repository built with git fast-import (or reused): {prepared:.1f} s  [{CACHE}]")
    print(f"  clone into an empty cache (fetch by path)        : {t_clone * 1000:8.0f} ms")
    print(f"  fetch, nothing new                                : {t_fetch_noop * 1000:8.0f} ms")
    print(f"  scan of the head (no database)                    : {t_scan * 1000:8.0f} ms")
    print(f"    list the tree (ls-tree)                         : {t_files * 1000:8.0f} ms")
    print(
        f"    read + detectors ({len(signals)} signals, {read.reads} files, {read.bytes_read // 1024} KiB)"
        f" : {t_detect * 1000:4.0f} ms"
    )
    print(f"    CI files parsed into pipelines                  : {t_pipes * 1000:8.0f} ms")
    print(f"    activity (26 weeks, committers, total)          : {t_activity * 1000:8.0f} ms")
    print(f"  sync, first (clone + scan + {n_signals} signals written): {t_sync_first * 1000:8.0f} ms")
    print(f"  sync, head unchanged                              : {t_sync_same * 1000:8.0f} ms")
    print(f"  sync, one new commit                              : {t_sync_new * 1000:8.0f} ms")
    print(f"  baseline: git ls-files {t_ls * 1000:.0f} ms + git log {t_log * 1000:.0f} ms = {t_baseline * 1000:.0f} ms")
    print(f"  ratio scan / baseline                             : {t_scan / t_baseline:8.1f}x")
