"""Sync one Git repository: fetch its branch into the cache, scan the head, apply the results.

A sync whose branch head is the commit already scanned rescans nothing (the SyncRun records success
with zero counts), unless it is a full sync. A scan lists the head's tree, runs the detectors
(integrations/detectors.py) over the files in scope, parses the CI files in scope into pipelines
(integrations/ci/parsers.py), and reads the commit activity; then `git_repository_scan_apply` replaces
the repository's signals and findings and upserts its pipelines in one transaction.

Scope: the whole tree, or for a monorepo subdirectory the files under it plus the CI files at other
places (CI providers read them at the root) whose text names the subdirectory.
"""

from __future__ import annotations

import logging
import os
import re
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from integrations import git as gitsrc
from integrations.choices import SyncMode, SyncStatus
from integrations.ci.contracts import CiFinding
from integrations.detectors import DETECTORS, Detector, Signal, is_ci_config, read_hint, run_detectors
from integrations.git_services import ScanResult, git_repository_scan_apply
from integrations.models import GitRepository, SyncRun
from integrations.services import (
    SyncAlreadyRunning,
    sync_run_finish,
    sync_run_progress,
    sync_run_queue,
    sync_run_refuse,
    sync_run_requeue,
    sync_run_start,
)
from integrations.sync import SyncNotQueued
from mlgov.context import acting
from mlgov.errors import Conflict
from mlgov.inventory.choices import PipelineKind, PipelineProvider

logger = logging.getLogger(__name__)

KIND = "git"
MAX_SIGNALS_PER_KIND = 200
MAX_PATH = 1000
ZERO = {"created": 0, "updated": 0, "unchanged": 0, "removed": 0}


def repository_credentials(repository: GitRepository) -> tuple[str | None, str | None, list[dict[str, Any]]]:
    """(token, username, warnings) from the environment variable the repository names.
    The variable holds a token, or `username:token`."""
    if not repository.credentials_env_var:
        return None, None, []
    value = os.environ.get(repository.credentials_env_var, "")
    if not value:
        warning = f"the environment variable {repository.credentials_env_var} is not set; fetching without credentials"
        return None, None, [{"level": "warning", "kind": "credentials", "message": warning}]
    if ":" in value:
        username, token = value.split(":", 1)
        return token, username, []
    return value, None, []


def source_for(repository: GitRepository) -> gitsrc.GitSource:
    return gitsrc.GitSource(
        settings.MLGOV_GIT_CACHE_DIR,
        gitsrc.cache_key(repository.name, repository.url),
        timeout=settings.MLGOV_GIT_TIMEOUT_SECONDS,
    )


# --- the scan ---


def scope_paths(paths: list[str], subdirectory: str, read: gitsrc.BlobReader | Callable) -> list[str]:
    """The files a scan looks at: every file, or those under the subdirectory plus CI files elsewhere
    that name it (a root workflow with `paths: [services/fraud/**]`, a GitLab `include:`)."""
    if not subdirectory:
        return paths
    prefix = subdirectory + "/"
    inside = [p for p in paths if p.startswith(prefix)]
    # "services/fraud" names the subdirectory; "services/fraud-legacy" does not.
    named = re.compile(re.escape(subdirectory) + r"(?![\w.-])")
    outside_ci = [p for p in paths if not p.startswith(prefix) and is_ci_config(p) and named.search(read(p) or "")]
    return sorted(inside + outside_ci)


def _bounded(signals: list[Signal]) -> tuple[list[Signal], list[CiFinding]]:
    """At most MAX_SIGNALS_PER_KIND signals per kind (by path), and no path too long to store."""
    findings = [
        CiFinding(s.path[:MAX_PATH], "path_too_long", f"{s.kind}: the path is longer than {MAX_PATH} characters")
        for s in signals
        if len(s.path) > MAX_PATH
    ]
    signals = [s for s in signals if len(s.path) <= MAX_PATH]
    per_kind = Counter(s.kind for s in signals)
    kept: list[Signal] = []
    seen: Counter[str] = Counter()
    for s in sorted(signals, key=lambda s: (s.kind, s.path)):
        seen[s.kind] += 1
        if seen[s.kind] <= MAX_SIGNALS_PER_KIND:
            kept.append(s)
    for kind, n in sorted(per_kind.items()):
        if n > MAX_SIGNALS_PER_KIND:
            findings.append(
                CiFinding(
                    "", "signals_truncated", f"{n} {kind} signals found; the first {MAX_SIGNALS_PER_KIND} are kept"
                )
            )
    return kept, findings


def pipeline_rows(
    ci_files: list[str], read: Callable[[str], str | None], project: Any
) -> tuple[list[dict[str, Any]], list[CiFinding], set[str]]:
    """Parse each CI file into pipeline rows. Returns (rows, findings, paths that parsed cleanly).
    A parser error or an unreadable file is a finding, never a failed scan."""
    from integrations.ci.parsers import parse_ci_file

    rows: list[dict[str, Any]] = []
    findings: list[CiFinding] = []
    parsed: set[str] = set()
    for path in ci_files:
        text = read(path)
        if text is None:
            findings.append(CiFinding(path, "unreadable", "binary, or too large to read"))
            continue
        try:
            pipelines, found = parse_ci_file(path, text)
        except Exception as exc:  # a parser bug must not fail the scan; the finding says what happened
            logger.exception("CI parser failed on %s", path)
            findings.append(CiFinding(path, "parser_error", f"{type(exc).__name__}: {exc}"[:2000]))
            continue
        findings.extend(found)
        if pipelines or not found:
            parsed.add(path)
        for i, p in enumerate(pipelines):
            rows.append(
                {
                    "external_id": (path if i == 0 else f"{path}#{p.name}")[:255],
                    "provider": p.provider if p.provider in PipelineProvider.values else PipelineProvider.OTHER,
                    "name": (p.name or path)[:255],
                    "config_path": p.config_path[:500],
                    "triggers": [{"type": t.type, "detail": dict(t.detail)} for t in p.triggers],
                    "jobs": [{"name": j.name, "kind": j.kind, "stage": j.stage} for j in p.jobs],
                    "kind": p.kind if p.kind in PipelineKind.values else PipelineKind.CI,
                    "project": project,
                }
            )
    # Two entries for the same external id (a parser returning duplicates) keep the first.
    unique = {r["external_id"]: r for r in reversed(rows)}
    return [unique[k] for k in sorted(unique)], findings, parsed


def scan_repository(
    source: gitsrc.GitSource,
    repository: GitRepository,
    head_sha: str,
    *,
    now: datetime | None = None,
    detectors: tuple[Detector, ...] = DETECTORS,
    progress: Callable[..., None] = lambda **_: None,
) -> ScanResult:
    """Scan one commit of the repository (no database writes)."""
    progress(phase="files")
    files = source.files(head_sha)
    read = source.reader(files)
    paths = [f.path for f in files]
    findings: list[CiFinding] = []
    sub = repository.subdirectory
    if sub and not any(p.startswith(sub + "/") for p in paths):
        findings.append(CiFinding(sub, "subdirectory_not_found", f"{sub}/ does not exist at {head_sha[:12]}"))
    scope = scope_paths(paths, sub, read)
    progress(phase="detectors", done=len(scope))
    read.prefetch([p for p in scope if read_hint(p)])
    signals, bounded = _bounded(run_detectors(scope, read, detectors))
    findings += bounded
    progress(phase="pipelines")
    ci_in_scope = [p for p in scope if is_ci_config(p)]
    rows, ci_findings, parsed = pipeline_rows(ci_in_scope, read, repository.project)
    findings += ci_findings
    if read.exhausted:
        findings.append(CiFinding("", "read_budget", "the scan stopped reading files after its byte budget"))
    progress(phase="activity")
    activity = source.activity(head_sha, subdirectory=sub, now=now)
    return ScanResult(
        head_sha=head_sha,
        signals=tuple(signals),
        findings=tuple(findings),
        activity=activity.as_json(),
        pipelines=tuple(rows),
        ci_paths=frozenset(p for p in paths if is_ci_config(p)),
        parsed_paths=frozenset(parsed),
        counts_extra={"files": len(paths), "scanned": len(scope), "reads": read.reads},
    )


# --- the SyncRun lifecycle ---


def git_sync_execute(
    *,
    sync_run_id: int,
    final_attempt: bool = True,
    on_progress: Callable[..., None] | None = None,
    now: datetime | None = None,
) -> SyncRun:
    """Run a queued git SyncRun. Raises SyncAlreadyRunning when the repository is busy, and
    SyncNotQueued, changing nothing, when the run is not queued any more.

    When the remote is unreachable and `final_attempt` is false, the run goes back to queued for a
    retry and the error propagates; otherwise the SyncRun ends failed with the error (and it
    propagates). Nothing is written unless the whole scan succeeded.
    """
    sync_run = SyncRun.objects.get(pk=sync_run_id)
    repository = GitRepository.objects.select_related("project").filter(name=sync_run.target.split(":", 1)[1]).first()
    if repository is None:  # deleted while its sync waited in the queue
        if sync_run.status != SyncStatus.QUEUED:
            raise SyncNotQueued(f"Sync #{sync_run.pk} is not queued.", details={"status": sync_run.status})
        error = {"level": "error", "kind": "NotFound", "message": f"{sync_run.target} no longer exists"}
        return sync_run_finish(sync_run=sync_run, status=SyncStatus.FAILED, counts={}, errors=[error])
    try:
        sync_run = sync_run_start(sync_run=sync_run)
    except SyncAlreadyRunning as exc:
        sync_run_refuse(sync_run=sync_run, reason=exc.message)
        raise
    except Conflict as exc:
        raise SyncNotQueued(exc.message, details=exc.details) from exc

    def progress(**p: Any) -> None:
        sync_run_progress(sync_run=sync_run, **p)
        if on_progress is not None:
            on_progress(**p)

    token, username, warnings = repository_credentials(repository)
    try:
        with acting(source="sync"), source_for(repository).locked() as source:
            progress(phase="fetch")
            head = source.fetch(repository.url, repository.branch, token=token, username=username)
            if head == repository.head_sha and sync_run.mode != SyncMode.FULL:
                info = {"level": "info", "message": f"head {head[:12]} unchanged: nothing rescanned"}
                counts = {"reposignal": dict(ZERO), "repofinding": dict(ZERO), "pipeline": dict(ZERO)}
                return sync_run_finish(
                    sync_run=sync_run,
                    status=SyncStatus.SUCCEEDED,
                    counts=counts,
                    errors=[*sync_run.errors, *warnings, info],
                )
            scan = scan_repository(source, repository, head, now=now, progress=progress)
            progress(phase="write")
            counts = git_repository_scan_apply(actor=f"sync:{sync_run.target}", repository=repository, scan=scan)
            extra = scan.counts_extra
            note = (
                f"scanned {extra['scanned']} of {extra['files']} files at {head[:12]} "
                f"({extra['reads']} read, {len(scan.pipelines)} pipelines)"
            )
            warnings = [*warnings, {"level": "info", "message": note}]
    except gitsrc.GitError as exc:
        if exc.retryable and not final_attempt:
            sync_run_requeue(sync_run=sync_run, error=str(exc))
            raise
        _fail(sync_run, exc, warnings)
        raise
    except Exception as exc:
        _fail(sync_run, exc, warnings)
        raise
    return sync_run_finish(
        sync_run=sync_run, status=SyncStatus.SUCCEEDED, counts=counts, errors=[*sync_run.errors, *warnings]
    )


def _fail(sync_run: SyncRun, exc: Exception, warnings: list[dict[str, Any]]) -> None:
    error = {"level": "error", "kind": type(exc).__name__, "message": str(exc)[:2000]}
    sync_run_finish(sync_run=sync_run, status=SyncStatus.FAILED, counts={}, errors=[error, *sync_run.errors, *warnings])


def choose_mode(repository: GitRepository, requested: str | None) -> str:
    """Full when asked or when the repository was never scanned; otherwise incremental. The scanned head is
    read from the database, not from `repository`, which a caller may hold from before a scan finished."""
    if requested in SyncMode.values:
        return requested
    scanned = GitRepository.objects.filter(pk=repository.pk).values_list("head_sha", flat=True).first()
    return SyncMode.INCREMENTAL if scanned else SyncMode.FULL


def git_sync_now(
    *,
    repository: GitRepository,
    mode: str | None = None,
    triggered_by: str = "",
    on_progress: Callable[..., None] | None = None,
    now: datetime | None = None,
) -> SyncRun:
    """Queue and run a sync in this process (the CLI and tests); the task path is git_sync_request."""
    run = sync_run_queue(
        target=repository.sync_target, kind=KIND, mode=choose_mode(repository, mode), triggered_by=triggered_by
    )
    return git_sync_execute(sync_run_id=run.pk, on_progress=on_progress, now=now)


def git_sync_request(*, repository: GitRepository, mode: str | None = None, triggered_by: str = "") -> SyncRun:
    """Queue a sync and hand it to the worker once the transaction commits. A sync already waiting in
    the queue for this repository is returned instead of queueing a second one."""
    from integrations.git_tasks import sync_git_repository

    waiting = SyncRun.objects.filter(target=repository.sync_target, status=SyncStatus.QUEUED).first()
    if waiting is not None:
        return waiting
    run = sync_run_queue(
        target=repository.sync_target, kind=KIND, mode=choose_mode(repository, mode), triggered_by=triggered_by
    )
    sync_git_repository.delay_on_commit(run.pk)
    return run


def git_syncs_due_queue(*, now: datetime | None = None) -> list[SyncRun]:
    """The enabled repositories whose interval has passed since their last sync started, each queued once."""
    now = now or timezone.now()
    queued = []
    for repository in GitRepository.objects.filter(enabled=True):
        runs = SyncRun.objects.filter(target=repository.sync_target)
        if runs.filter(status__in=(SyncStatus.QUEUED, SyncStatus.RUNNING)).exists():
            continue
        last = runs.exclude(started_at=None).order_by("-started_at").values_list("started_at", flat=True).first()
        if last is None or now - last >= timedelta(minutes=repository.sync_interval_minutes):
            queued.append(git_sync_request(repository=repository, triggered_by="schedule"))
    return queued
