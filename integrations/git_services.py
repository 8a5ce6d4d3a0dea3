"""Writes for Git repositories: create, update and delete them, and apply a scan's results.

Every write runs in one transaction with its audit event. A scan's signals, findings, activity and
pipelines are applied together (`git_repository_scan_apply`): a failure leaves the previous scan whole.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.utils import timezone

from integrations.ci.contracts import CiFinding, repo_identity
from integrations.detectors import Signal
from integrations.git import GitSource, cache_key
from integrations.models import GitRepository, RepoFinding, RepoSignal
from mlgov.audit.services import audit_record, snapshot
from mlgov.errors import ValidationFailed
from mlgov.inventory.models import Pipeline, Project
from mlgov.inventory.sync_services import UpsertCounts, synced_batch_upsert, synced_mark_removed_ids

REPOSITORY_FIELDS = (
    "name",
    "url",
    "branch",
    "subdirectory",
    "project",
    "credentials_env_var",
    "web_url",
    "enabled",
    "sync_interval_minutes",
)
# Changing one of these means the last scan no longer describes the repository: the next sync rescans.
SCAN_FIELDS = ("url", "branch", "subdirectory", "web_url")
MAX_SOURCE_LENGTH = 120  # ExternalKeyed.external_source

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SCP = re.compile(r"^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:(?!/)[^\s]+$")
_TRANSPORT = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*::")
_ENV_VAR = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")


# --- validation (pure) ---


def check_url(url: str) -> str | None:
    """None when `url` is a repository URL mlgov may fetch, else the reason it may not."""
    if _TRANSPORT.match(url):
        return "Remote helpers (<transport>::<address>) are not allowed."
    if not url or url != url.strip() or _CONTROL.search(url) or " " in url:
        return "Must be a URL or path without spaces or control characters."
    if url.startswith("-"):
        return "Must not start with '-'."
    if url.startswith(("https://", "http://")):
        userinfo = url.split("://", 1)[1].split("/", 1)[0]
        if "@" in userinfo and ":" in userinfo.split("@", 1)[0]:
            return "Do not put a password or token in the URL: name an environment variable in credentials_env_var."
        return None if "/" in url.split("://", 1)[1].strip("/") or "." in userinfo else "Must name a host and a path."
    if url.startswith(("ssh://", "git://", "file://")) or _SCP.match(url) or url.startswith("/"):
        return None
    return "Must be https://, ssh://, git://, user@host:path (scp-like), file:// or an absolute path."


def check_branch(branch: str) -> str | None:
    """git check-ref-format's rules for a branch name."""
    bad = (
        not branch
        or len(branch) > 200
        or _CONTROL.search(branch)
        or any(c in branch for c in " ~^:?*[\\")
        or ".." in branch
        or "@{" in branch
        or "//" in branch
        or branch.startswith(("-", "/"))
        or branch.endswith(("/", ".", ".lock"))
        or branch == "@"
        or any(part.startswith(".") for part in branch.split("/"))
    )
    return "Not a valid branch name." if bad else None


def normalise_subdirectory(value: str) -> tuple[str, str | None]:
    """('services/fraud', None) for 'services/fraud/', or ('', reason) when it is not a relative path."""
    sub = value.strip().strip("/")
    if not sub:
        return "", None
    parts = sub.split("/")
    if _CONTROL.search(sub) or "\\" in sub or any(p in ("", ".", "..") for p in parts) or sub.startswith("-"):
        return sub, "Must be a relative directory inside the repository (no '..', no empty parts)."
    return sub, None


def check_env_var(name: str) -> str | None:
    return None if not name or _ENV_VAR.match(name) else "Must be an environment variable name."


def check_web_url(value: str) -> str | None:
    if not value:
        return None
    if _CONTROL.search(value) or " " in value or not value.startswith(("https://", "http://")):
        return "Must be an http(s):// URL."
    if "@" in value.split("://", 1)[1].split("/", 1)[0]:
        return "Must not contain credentials."
    return None


def repository_external_source(url: str, web_url: str = "") -> str:
    """The external source of a repository's pipelines: `repo:<host/path>`, as CI events name it."""
    return f"repo:{repo_identity(web_url or url)}"


def validate_repository(values: dict[str, Any]) -> dict[str, Any]:
    """Check and normalise repository fields; raise ValidationFailed naming every bad field."""
    out = dict(values)
    problems: dict[str, list[str]] = {}

    def bad(name: str, message: str | None) -> None:
        if message:
            problems.setdefault(name, []).append(message)

    if "url" in out:
        bad("url", check_url(out["url"]))
    if "branch" in out:
        bad("branch", check_branch(out["branch"]))
    if "subdirectory" in out:
        out["subdirectory"], message = normalise_subdirectory(out["subdirectory"] or "")
        bad("subdirectory", message)
    if "web_url" in out:
        out["web_url"] = (out["web_url"] or "").strip().removesuffix("/").removesuffix(".git")
        bad("web_url", check_web_url(out["web_url"]))
    if out.get("credentials_env_var"):
        bad("credentials_env_var", check_env_var(out["credentials_env_var"]))
    if "sync_interval_minutes" in out and not 1 <= int(out["sync_interval_minutes"]) <= 7 * 24 * 60:
        bad("sync_interval_minutes", "Must be between 1 and 10080.")
    if "project" in out and out["project"] is not None and not isinstance(out["project"], Project):
        bad("project", "Must be a project.")
    if problems:
        raise ValidationFailed("The repository is invalid.", details=problems)
    return out


def _validate_whole(repo: GitRepository) -> None:
    """Rules that need the whole repository: credentials only for https, and the source's length."""
    problems: dict[str, list[str]] = {}
    if repo.credentials_env_var and not repo.url.startswith(("https://", "http://")):
        problems["credentials_env_var"] = ["Only https URLs use a token; ssh uses the server's keys."]
    if len(repository_external_source(repo.url, repo.web_url)) > MAX_SOURCE_LENGTH:
        problems["url"] = [f"The repository's host/path must be at most {MAX_SOURCE_LENGTH - 5} characters."]
    if problems:
        raise ValidationFailed("The repository is invalid.", details=problems)
    try:
        repo.full_clean()
    except DjangoValidationError as exc:
        raise ValidationFailed("The repository is invalid.", details=exc.message_dict) from exc


def _snap(repo: GitRepository) -> dict[str, Any]:
    return snapshot(repo, REPOSITORY_FIELDS)


# --- repositories ---


@transaction.atomic
def git_repository_create(*, actor: Any, name: str, url: str, **values: Any) -> GitRepository:
    unknown = set(values) - set(REPOSITORY_FIELDS)
    if unknown:
        raise ValidationFailed(f"Unknown repository field(s): {', '.join(sorted(unknown))}")
    values = validate_repository({"url": url, **values})
    repo = GitRepository(name=name, **values)
    _validate_whole(repo)
    repo.save()
    audit_record(actor=actor, action="gitrepository.created", target=repo, after=_snap(repo))
    return repo


@transaction.atomic
def git_repository_update(*, actor: Any, repository: GitRepository, **changes: Any) -> tuple[GitRepository, bool]:
    """Change a repository. Returns (repository, changed). Changing where or what it scans (URL,
    branch, subdirectory, web URL) makes the next sync rescan, and retires the pipelines of an old
    identity no other repository shares."""
    unknown = set(changes) - (set(REPOSITORY_FIELDS) - {"name"})
    if unknown:
        raise ValidationFailed(f"Unknown repository field(s): {', '.join(sorted(unknown))}")
    changes = validate_repository(changes)
    repo = GitRepository.objects.select_for_update().get(pk=repository.pk)
    before = _snap(repo)
    old_source = repository_external_source(repo.url, repo.web_url)
    for key, value in changes.items():
        setattr(repo, key, value)
    after = _snap(repo)
    if after == before:
        return repo, False
    _validate_whole(repo)
    if any(before[f] != after[f] for f in SCAN_FIELDS):
        repo.head_sha = ""
    repo.save()
    audit_record(actor=actor, action="gitrepository.updated", target=repo, before=before, after=after)
    if repository_external_source(repo.url, repo.web_url) != old_source:
        _retire_pipelines(actor=actor, source=old_source, exclude=repo.pk)
    return repo, True


@transaction.atomic
def git_repository_upsert(*, actor: Any, name: str, **values: Any) -> tuple[GitRepository, str]:
    """Create or update by name (the config file). Returns (repository, 'created'|'updated'|'unchanged')."""
    repo = GitRepository.objects.filter(name=name).first()
    if repo is None:
        return git_repository_create(actor=actor, name=name, **values), "created"
    repo, changed = git_repository_update(actor=actor, repository=repo, **values)
    return repo, "updated" if changed else "unchanged"


@transaction.atomic
def git_repository_delete(*, actor: Any, repository: GitRepository) -> None:
    """Delete a repository with its signals and findings; its pipelines are marked removed (kept,
    with their runs) unless another repository has the same identity. Its cache is deleted once the
    transaction commits."""
    source = repository_external_source(repository.url, repository.web_url)
    audit_record(actor=actor, action="gitrepository.deleted", target=repository, before=_snap(repository))
    pk, cache = repository.pk, GitSource(settings.MLGOV_GIT_CACHE_DIR, cache_key(repository.name, repository.url))
    repository.delete()
    _retire_pipelines(actor=actor, source=source, exclude=pk)
    transaction.on_commit(cache.remove)


def _retire_pipelines(*, actor: Any, source: str, exclude: int) -> None:
    others = GitRepository.objects.exclude(pk=exclude).only("url", "web_url")
    if any(repository_external_source(o.url, o.web_url) == source for o in others):
        return
    ids = Pipeline.objects.filter(external_source=source, removed_at__isnull=True).values_list("external_id", flat=True)
    synced_mark_removed_ids(actor=actor, model=Pipeline, external_source=source, ids=list(ids))


# --- scans ---


@dataclass(frozen=True)
class ScanResult:
    """What one scan of a repository's head found (built by integrations.git_sync)."""

    head_sha: str
    signals: tuple[Signal, ...]
    findings: tuple[CiFinding, ...]
    activity: dict[str, Any]
    pipelines: tuple[dict[str, Any], ...] = ()  # rows for synced_batch_upsert (external_id = config path)
    ci_paths: frozenset[str] = frozenset()  # every CI configuration file in the tree
    parsed_paths: frozenset[str] = frozenset()  # CI files this scan parsed cleanly
    counts_extra: dict[str, Any] = field(default_factory=dict)  # files, scanned, reads: for the record


def _diff(old: dict[tuple, Any], new: dict[tuple, Any]) -> UpsertCounts:
    counts = UpsertCounts()
    for key, value in new.items():
        if key not in old:
            counts.created += 1
        elif old[key] != value:
            counts.updated += 1
        else:
            counts.unchanged += 1
    counts.removed = len(set(old) - set(new))
    return counts


@transaction.atomic
def git_repository_scan_apply(*, actor: Any, repository: GitRepository, scan: ScanResult) -> dict[str, dict[str, int]]:
    """Replace the repository's signals and findings with the scan's, record its activity and head,
    and upsert the pipelines its CI files define, all in one transaction with one audit event (plus the
    pipelines' own events).

    A pipeline is marked removed when its file is gone from the tree, or when its file parsed cleanly
    and no longer defines it. A file that is still there but did not parse (broken YAML) keeps its
    pipeline as it was; the finding says why.
    """
    repo = GitRepository.objects.select_for_update().get(pk=repository.pk)
    now = timezone.now()
    old_signals = {(s.kind, s.path): s.detail for s in repo.signals.all()}
    old_findings = {(f.kind, f.path, f.message): None for f in repo.findings.all()}
    new_signals = {(s.kind, s.path): dict(s.detail) for s in scan.signals}
    new_findings = {(f.kind, f.path, f.message): None for f in scan.findings}
    counts = {"reposignal": _diff(old_signals, new_signals), "repofinding": _diff(old_findings, new_findings)}

    RepoSignal.objects.filter(repository=repo).delete()
    RepoSignal.objects.bulk_create(
        [
            RepoSignal(repository=repo, kind=kind, path=path, commit_sha=scan.head_sha, detail=detail, observed_at=now)
            for (kind, path), detail in new_signals.items()
        ],
        batch_size=500,
    )
    RepoFinding.objects.filter(repository=repo).delete()
    RepoFinding.objects.bulk_create(
        [
            RepoFinding(
                repository=repo,
                kind=kind[:40],
                path=path[:1000],
                message=message,
                commit_sha=scan.head_sha,
                observed_at=now,
            )
            for kind, path, message in new_findings
        ],
        batch_size=500,
    )

    source = repository_external_source(repo.url, repo.web_url)
    result = synced_batch_upsert(actor=actor, model=Pipeline, external_source=source, rows=list(scan.pipelines))
    produced = {row["external_id"] for row in scan.pipelines}
    gone = [
        ext
        for ext, path in Pipeline.objects.filter(external_source=source, removed_at__isnull=True).values_list(
            "external_id", "config_path"
        )
        if ext not in produced and (path not in scan.ci_paths or path in scan.parsed_paths)
    ]
    result.counts.removed = synced_mark_removed_ids(actor=actor, model=Pipeline, external_source=source, ids=gone)
    counts["pipeline"] = result.counts

    before = {
        "head_sha": repo.head_sha,
        "signals": dict(Counter(k for k, _ in old_signals)),
        "findings": len(old_findings),
    }
    repo.head_sha, repo.scanned_at, repo.activity = scan.head_sha, now, scan.activity
    repo.save(update_fields=["head_sha", "scanned_at", "activity", "updated_at"])
    audit_record(
        actor=actor,
        action="gitrepository.scanned",
        target=repo,
        before=before,
        after={
            "head_sha": scan.head_sha,
            "signals": dict(Counter(k for k, _ in new_signals)),
            "findings": len(new_findings),
            "pipelines": len(produced),
            **scan.counts_extra,
        },
    )
    return {kind: c.as_dict() for kind, c in counts.items()}
