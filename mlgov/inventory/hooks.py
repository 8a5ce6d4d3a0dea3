"""Extension points that higher layers fill in at start-up, so the inventory never imports them.

`integrations` registers a sync-history provider: the model version page shows the syncs of the
connection a version came from without the inventory knowing what a SyncRun is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

SyncHistoryProvider = Callable[[str, int], list[dict[str, Any]]]
_sync_history: list[SyncHistoryProvider] = []


def register_sync_history(provider: SyncHistoryProvider) -> None:
    if provider not in _sync_history:
        _sync_history.append(provider)


def sync_history(external_source: str, limit: int = 10) -> list[dict[str, Any]]:
    """Recent syncs of `external_source` (e.g. ``mlflow:prod``), newest first, from every provider."""
    rows: list[dict[str, Any]] = []
    for provider in _sync_history:
        rows += provider(external_source, limit)
    return sorted(rows, key=lambda r: r.get("id", 0), reverse=True)[:limit]


# Sections that higher layers add to the model page (governance: open promotion requests, drift, alias
# history). A provider takes (model, user) and returns {"template": ..., "context": {...}} or None.
ModelPageSection = Callable[[Any, Any], dict[str, Any] | None]
_model_sections: list[ModelPageSection] = []


def register_model_page_section(provider: ModelPageSection) -> None:
    if provider not in _model_sections:
        _model_sections.append(provider)


def model_page_sections(model: Any, user: Any) -> list[dict[str, Any]]:
    return [s for s in (provider(model, user) for provider in _model_sections) if s]


# A link to a commit in a project's known repository (integrations: its GitRepository), for a version
# whose run carries no `mlflow.source.git.repoURL`. A provider takes (project_id, sha), returns a URL or None.
CommitLinkProvider = Callable[[int, str], str | None]
_commit_links: list[CommitLinkProvider] = []


def register_commit_link(provider: CommitLinkProvider) -> None:
    if provider not in _commit_links:
        _commit_links.append(provider)


def project_commit_url(project_id: int | None, sha: str) -> str | None:
    """The first provider's link to `sha` in the project's repository, or None."""
    if project_id is None or not sha:
        return None
    return next((url for url in (provider(project_id, sha) for provider in _commit_links) if url), None)
