"""Reads for Git repositories: lists with their last sync, a repository with its evidence, file links."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

from django.db.models import CharField, OuterRef, Prefetch, QuerySet, Subquery, Value
from django.db.models.functions import Concat

from integrations.git_services import repository_external_source
from integrations.models import GitRepository, RepoFinding, RepoSignal, SyncRun
from mlgov.inventory.models import Pipeline


def git_repository_list(*, user: Any) -> QuerySet[GitRepository]:
    """Every repository (everyone in the organisation reads them), with its team and its last sync."""
    latest = SyncRun.objects.filter(target=OuterRef("target_key")).order_by("-id")
    return (
        GitRepository.objects.select_related("project__team")
        .annotate(target_key=Concat(Value("git:"), "name", output_field=CharField()))
        .annotate(
            last_sync_id=Subquery(latest.values("id")[:1]),
            last_sync_status=Subquery(latest.values("status")[:1]),
            last_sync_finished=Subquery(latest.values("finished_at")[:1]),
        )
    )


def git_repository_detail(*, user: Any) -> QuerySet[GitRepository]:
    """Repositories with their signals and findings prefetched (two queries whatever their number)."""
    return git_repository_list(user=user).prefetch_related(
        Prefetch("signals", queryset=RepoSignal.objects.order_by("kind", "path")),
        Prefetch("findings", queryset=RepoFinding.objects.order_by("path", "kind")),
    )


def repository_pipelines(*, repository: GitRepository) -> QuerySet[Pipeline]:
    return Pipeline.objects.filter(
        external_source=repository_external_source(repository.url, repository.web_url), removed_at__isnull=True
    ).order_by("config_path", "name")


def repository_sync_runs(*, repository: GitRepository, limit: int = 10) -> list[SyncRun]:
    return list(SyncRun.objects.filter(target=repository.sync_target).order_by("-id")[:limit])


def file_url(web_url: str, sha: str, path: str) -> str:
    """A link to `path` at commit `sha`: GitHub-like hosts use /blob/, GitLab /-/blob/, Bitbucket /src/.
    Empty when the repository has no web URL (the page then shows the plain path)."""
    if not web_url or not sha or not path:
        return ""
    base = web_url.rstrip("/")
    host = urlsplit(base).hostname or ""
    if "gitlab" in host:
        middle = "/-/blob/"
    elif host == "bitbucket.org":
        middle = "/src/"
    else:
        middle = "/blob/"
    return f"{base}{middle}{sha}/{quote(path)}"


def commit_url(web_url: str, sha: str) -> str:
    if not web_url or not sha:
        return ""
    base = web_url.rstrip("/")
    host = urlsplit(base).hostname or ""
    if "gitlab" in host:
        return f"{base}/-/commit/{sha}"
    if host == "bitbucket.org":
        return f"{base}/commits/{sha}"
    return f"{base}/commit/{sha}"


def project_commit_url(project_id: int, sha: str) -> str | None:
    """A link to `sha` in the project's repository (the inventory's commit-link hook). Only when the
    project has exactly one enabled repository with a web URL: with several, which one holds the commit
    is not known, and no link beats a wrong one."""
    repos = list(
        GitRepository.objects.filter(project_id=project_id, enabled=True)
        .exclude(web_url="")
        .values_list("web_url", flat=True)[:2]
    )
    if len(repos) != 1:
        return None
    return commit_url(repos[0], sha) or None


def repository_evidence(*, repository: GitRepository) -> dict[str, Any]:
    """What the repository page shows beside the repository: signals with links to their files, findings,
    pipelines, commit activity (with each week's share of the busiest week) and recent syncs.
    `repository` comes from `git_repository_detail` (signals and findings prefetched)."""
    activity = repository.activity or {}
    weeks = activity.get("commits_per_week", [])
    peak = max([w.get("commits", 0) for w in weeks] or [0])
    return {
        "signals": [
            (s, file_url(repository.web_url, s.commit_sha, s.path), detail_text(s.detail))
            for s in repository.signals.all()
        ],
        "findings": list(repository.findings.all()),
        "activity": activity,
        "weeks": [(w["week"], w["commits"], round(100 * w["commits"] / peak) if peak else 0) for w in weeks],
        "peak": peak,
        "head_url": commit_url(repository.web_url, repository.head_sha),
        "last_commit_url": commit_url(repository.web_url, activity.get("last_commit_sha", "")),
        "pipelines": repository_pipelines(repository=repository),
        "sync_runs": repository_sync_runs(repository=repository),
    }


def detail_text(detail: dict[str, Any]) -> str:
    """A signal's detail as one readable line: `tool: dvc · stages: prepare, train`."""
    parts = []
    for key, value in detail.items():
        if isinstance(value, list | tuple):
            value = ", ".join(map(str, value)) or "—"
        parts.append(f"{key}: {value}")
    return " · ".join(parts)
