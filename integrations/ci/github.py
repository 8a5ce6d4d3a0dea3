"""GitHub Actions: webhook payloads (workflow_run, workflow_job) and the REST API's workflow runs, as CiRunEvents.

Shapes follow GitHub's documentation: the `workflow_run` and `workflow_job` webhook events and
`GET /repos/{owner}/{repo}/actions/runs` ("List workflow runs for a repository"), paginated with the
`Link: <…>; rel="next"` header.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from integrations.ci.client import DEFAULT_TIMEOUT, CiBadResponse, CiConfigError, JsonHttpClient, next_link
from integrations.ci.common import (
    CANCELLED,
    FAILURE,
    QUEUED,
    RUNNING,
    SKIPPED,
    SUCCESS,
    TERMINAL,
    PayloadError,
    job_dict,
    obj,
    parse_time,
    require,
    split_config_path,
    text,
)
from integrations.ci.contracts import (
    MANUAL,
    OTHER,
    PULL_REQUEST,
    PUSH,
    SCHEDULE,
    CiJobEvent,
    CiRunEvent,
    repo_identity,
)

PROVIDER = "github"
DEFAULT_BASE_URL = "https://api.github.com"

# Events we act on, and events a repository or organisation webhook commonly also sends: those are
# answered 200 "ignored". Any other X-GitHub-Event is refused as unknown.
RUN_EVENTS = frozenset({"workflow_run", "workflow_job"})
IGNORED_EVENTS = frozenset(
    {
        "ping",
        "push",
        "pull_request",
        "pull_request_review",
        "check_run",
        "check_suite",
        "status",
        "create",
        "delete",
        "release",
        "deployment",
        "deployment_status",
        "workflow_dispatch",
    }
)

_CONCLUSIONS = {
    "success": SUCCESS,
    "neutral": SUCCESS,
    "failure": FAILURE,
    "timed_out": FAILURE,
    "startup_failure": FAILURE,
    "action_required": FAILURE,
    "cancelled": CANCELLED,
    "stale": CANCELLED,
    "skipped": SKIPPED,
}
_TRIGGERS = {
    "push": PUSH,
    "pull_request": PULL_REQUEST,
    "pull_request_target": PULL_REQUEST,
    "merge_group": PULL_REQUEST,
    "schedule": SCHEDULE,
    "workflow_dispatch": MANUAL,
    "repository_dispatch": MANUAL,
}
_REPO = re.compile(r"^[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}$")


def valid_repo(target: str) -> bool:
    """`owner/repo`, without `.` or `..` segments."""
    return bool(_REPO.match(target)) and not any(part in (".", "..") for part in target.split("/"))


def status_of(status: Any, conclusion: Any) -> str:
    """GitHub's status (requested, queued, pending, waiting, in_progress, completed) and conclusion -> RunStatus.

    A completed run with an unknown or missing conclusion counts as a failure: only a known good
    conclusion is evidence that the run passed.
    """
    if status == "completed":
        return _CONCLUSIONS.get(str(conclusion or ""), FAILURE)
    if status == "in_progress":
        return RUNNING
    return QUEUED


def run_event(
    run: Mapping[str, Any], *, repository: Mapping[str, Any] | None = None, workflow: Mapping[str, Any] | None = None
) -> CiRunEvent:
    """A workflow run object (webhook `workflow_run` or one item of the REST list) -> CiRunEvent."""
    repo = obj(repository) or obj(run.get("repository"))
    repo_url = text(repo.get("html_url"), 500) or text(repo.get("clone_url"), 500)
    if not repo_url:
        raise PayloadError("missing repository.html_url")
    workflow = obj(workflow)
    path = split_config_path(text(run.get("path"), 500)) or text(workflow.get("path"), 500)
    if not path:
        raise PayloadError("missing workflow_run.path")
    run_id = text(require(run, "id"), 64)
    status = status_of(run.get("status"), run.get("conclusion"))
    started = parse_time(run.get("run_started_at")) or parse_time(run.get("created_at"))
    finished = parse_time(run.get("updated_at")) if status in TERMINAL else None
    return CiRunEvent(
        provider=PROVIDER,
        repository=repo_identity(repo_url),
        config_path=path,
        pipeline_name=text(run.get("name")) or text(workflow.get("name")) or path,
        run_id=run_id,
        status=status,
        commit_sha=text(run.get("head_sha"), 64).lower(),
        trigger=_TRIGGERS.get(text(run.get("event"), 40), OTHER),
        started_at=started,
        finished_at=finished,
        url=text(run.get("html_url"), 1000),
    )


def job_event(payload: Mapping[str, Any]) -> CiJobEvent:
    """A `workflow_job` webhook payload -> CiJobEvent (merged into the run's jobs)."""
    job = obj(require(payload, "workflow_job"))
    repo_url = text(obj(payload.get("repository")).get("html_url"), 500)
    if not repo_url:
        raise PayloadError("missing repository.html_url")
    status = status_of(job.get("status"), job.get("conclusion"))
    return CiJobEvent(
        provider=PROVIDER,
        repository=repo_identity(repo_url),
        run_id=text(require(job, "run_id"), 64),
        commit_sha=text(job.get("head_sha"), 64).lower(),
        job=job_dict(
            job_id=require(job, "id"),
            name=job.get("name"),
            status=status,
            started_at=parse_time(job.get("started_at")),
            finished_at=parse_time(job.get("completed_at")),
            url=job.get("html_url"),
        ),
    )


def parse_webhook(event: str, payload: Mapping[str, Any]) -> CiRunEvent | CiJobEvent:
    if event == "workflow_run":
        return run_event(
            obj(require(payload, "workflow_run")),
            repository=obj(payload.get("repository")),
            workflow=obj(payload.get("workflow")),
        )
    if event == "workflow_job":
        return job_event(payload)
    raise PayloadError(f"unsupported event {event!r}")


class GitHubActionsClient:
    """The GitHub Actions REST API (github.com, or GitHub Enterprise Server at https://HOST/api/v3)."""

    def __init__(self, base_url: str = DEFAULT_BASE_URL, *, token: str = "", timeout: float = DEFAULT_TIMEOUT) -> None:
        headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.http = JsonHttpClient(base_url, headers=headers, timeout=timeout)
        self.skipped: list[str] = []

    def iter_runs(
        self, repo: str, *, since: datetime | None = None, per_page: int = 100, max_pages: int = 10
    ) -> Iterator[CiRunEvent]:
        """Workflow runs of `owner/repo`, newest first, created at or after `since`; at most `max_pages` pages."""
        if not valid_repo(repo):
            raise CiConfigError(f"A GitHub target is owner/repo, got {repo!r}.")
        owner, name = repo.split("/")
        url: str | None = f"repos/{urllib.parse.quote(owner)}/{urllib.parse.quote(name)}/actions/runs"
        params: dict[str, Any] | None = {"per_page": per_page}
        if since is not None:
            params["created"] = f">={since.strftime('%Y-%m-%dT%H:%M:%SZ')}"
        pages = 0
        while url and pages < max_pages:
            response = self.http.get(url, params)
            data = response.data
            if not isinstance(data, dict) or not isinstance(data.get("workflow_runs"), list):
                raise CiBadResponse(f"{response.url}: expected an object with a workflow_runs list.")
            for item in data["workflow_runs"]:
                try:
                    yield run_event(obj(item))
                except PayloadError as exc:
                    self.skipped.append(f"run {obj(item).get('id')}: {exc}")
            url, params, pages = next_link(response.headers.get("link")), None, pages + 1
