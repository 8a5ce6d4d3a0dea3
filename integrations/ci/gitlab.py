"""GitLab CI: webhook payloads (Pipeline Hook, Job Hook) and the pipelines API, as CiRunEvents.

Shapes follow GitLab's documentation: "Webhook events" (pipeline events with `object_attributes` and
`builds`; job events with `build_*` fields) and the Pipelines API (`GET /api/v4/projects/:id/pipelines`,
offset-paginated with the `X-Next-Page` header).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from integrations.ci.client import DEFAULT_TIMEOUT, CiBadResponse, CiConfigError, JsonHttpClient
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
    TAG,
    CiJobEvent,
    CiRunEvent,
    repo_identity,
)

PROVIDER = "gitlab"
DEFAULT_BASE_URL = "https://gitlab.com"
DEFAULT_CONFIG_PATH = ".gitlab-ci.yml"

# X-Gitlab-Event values we act on, with the object_kind their body carries.
RUN_EVENTS = {"Pipeline Hook": "pipeline", "Job Hook": "build"}
# Other hooks a project or group webhook may also send: answered 200 "ignored". Anything else is unknown.
IGNORED_EVENTS = frozenset(
    {
        "Push Hook",
        "Tag Push Hook",
        "Merge Request Hook",
        "Note Hook",
        "Issue Hook",
        "Confidential Issue Hook",
        "Confidential Note Hook",
        "Wiki Page Hook",
        "Deployment Hook",
        "Release Hook",
        "Feature Flag Hook",
        "Emoji Hook",
        "Milestone Hook",
        "Resource Access Token Hook",
        "Vulnerability Hook",
    }
)

_STATUSES = {
    "created": QUEUED,
    "waiting_for_resource": QUEUED,
    "preparing": QUEUED,
    "pending": QUEUED,
    "scheduled": QUEUED,
    "manual": QUEUED,
    "waiting_for_callback": QUEUED,
    "running": RUNNING,
    "canceling": RUNNING,
    "success": SUCCESS,
    "failed": FAILURE,
    "canceled": CANCELLED,
    "skipped": SKIPPED,
}
_TRIGGERS = {
    "push": PUSH,
    "merge_request_event": PULL_REQUEST,
    "external_pull_request_event": PULL_REQUEST,
    "schedule": SCHEDULE,
    "web": MANUAL,
    "api": MANUAL,
    "trigger": MANUAL,
    "chat": MANUAL,
    "webide": MANUAL,
}


def status_of(status: Any) -> str:
    """GitLab's pipeline or job status -> RunStatus. An unknown status counts as queued (not yet finished)."""
    return _STATUSES.get(str(status or ""), QUEUED)


def _trigger(source: Any, tag: Any) -> str:
    if tag is True:
        return TAG
    return _TRIGGERS.get(str(source or ""), OTHER)


def _project_url(project: Mapping[str, Any], repository: Mapping[str, Any] | None = None) -> str:
    repository = obj(repository)
    return (
        text(project.get("web_url"), 500)
        or text(project.get("git_http_url"), 500)
        or text(repository.get("homepage"), 500)
        or text(repository.get("git_http_url"), 500)
    )


def _config_path(project: Mapping[str, Any]) -> str:
    return split_config_path(text(project.get("ci_config_path"), 500)) or DEFAULT_CONFIG_PATH


def _job(build: Mapping[str, Any], project_url: str) -> dict[str, Any]:
    job_id = require(build, "id")
    return job_dict(
        job_id=job_id,
        name=build.get("name"),
        stage=build.get("stage"),
        status=status_of(build.get("status")),
        started_at=parse_time(build.get("started_at")),
        finished_at=parse_time(build.get("finished_at")),
        url=f"{project_url}/-/jobs/{job_id}" if project_url else "",
    )


def pipeline_event(payload: Mapping[str, Any]) -> CiRunEvent:
    """A Pipeline Hook payload -> CiRunEvent, with the jobs of its `builds` list."""
    attrs = obj(require(payload, "object_attributes"))
    project = obj(payload.get("project"))
    project_url = _project_url(project)
    if not project_url:
        raise PayloadError("missing project.web_url")
    status = status_of(attrs.get("status"))
    started = parse_time(attrs.get("started_at")) or parse_time(attrs.get("created_at"))
    builds = payload.get("builds") if isinstance(payload.get("builds"), list) else []
    return CiRunEvent(
        provider=PROVIDER,
        repository=repo_identity(project_url),
        config_path=_config_path(project),
        pipeline_name=text(project.get("path_with_namespace")) or _config_path(project),
        run_id=text(require(attrs, "id"), 64),
        status=status,
        commit_sha=text(attrs.get("sha"), 64).lower(),
        trigger=_trigger(attrs.get("source"), attrs.get("tag")),
        started_at=started,
        finished_at=parse_time(attrs.get("finished_at")) if status in TERMINAL else None,
        url=text(attrs.get("url"), 1000),
        jobs=tuple(_job(obj(b), project_url) for b in builds if obj(b).get("id") is not None),
    )


def job_event(payload: Mapping[str, Any]) -> CiJobEvent:
    """A Job Hook payload -> CiJobEvent. Its `commit.id` is the pipeline id; `pipeline_id` says the same."""
    project = obj(payload.get("project"))
    project_url = _project_url(project, obj(payload.get("repository")))
    if not project_url:
        raise PayloadError("missing project.web_url")
    build = {
        "id": require(payload, "build_id"),
        "name": payload.get("build_name"),
        "stage": payload.get("build_stage"),
        "status": payload.get("build_status"),
        "started_at": payload.get("build_started_at_iso") or payload.get("build_started_at"),
        "finished_at": payload.get("build_finished_at_iso") or payload.get("build_finished_at"),
    }
    pipeline_id = payload.get("pipeline_id") or obj(payload.get("commit")).get("id")
    if pipeline_id in (None, ""):
        raise PayloadError("missing pipeline_id")
    return CiJobEvent(
        provider=PROVIDER,
        repository=repo_identity(project_url),
        run_id=text(pipeline_id, 64),
        commit_sha=text(payload.get("sha"), 64).lower(),
        job=_job(build, project_url),
    )


def parse_webhook(event: str, payload: Mapping[str, Any]) -> CiRunEvent | CiJobEvent:
    if event == "Pipeline Hook":
        return pipeline_event(payload)
    if event == "Job Hook":
        return job_event(payload)
    raise PayloadError(f"unsupported event {event!r}")


def delivery_key(event: str, payload: Mapping[str, Any]) -> str:
    """GitLab has no delivery id in every version: a replay is the same pipeline (or job) in the same status."""
    if event == "Pipeline Hook":
        attrs = obj(require(payload, "object_attributes"))
        return f"pipeline:{text(require(attrs, 'id'), 64)}:{text(attrs.get('status'), 40)}"
    return f"job:{text(require(payload, 'build_id'), 64)}:{text(payload.get('build_status'), 40)}"


def api_item_event(item: Mapping[str, Any], project: Mapping[str, Any]) -> CiRunEvent:
    """One item of `GET /projects/:id/pipelines` (with the project it belongs to) -> CiRunEvent."""
    project_url = _project_url(project)
    if not project_url:
        raise PayloadError("missing project.web_url")
    status = status_of(item.get("status"))
    return CiRunEvent(
        provider=PROVIDER,
        repository=repo_identity(project_url),
        config_path=_config_path(project),
        pipeline_name=text(project.get("path_with_namespace")) or _config_path(project),
        run_id=text(require(item, "id"), 64),
        status=status,
        commit_sha=text(item.get("sha"), 64).lower(),
        trigger=_trigger(item.get("source"), item.get("tag")),
        started_at=parse_time(item.get("started_at")) or parse_time(item.get("created_at")),
        finished_at=(parse_time(item.get("finished_at")) or parse_time(item.get("updated_at")))
        if status in TERMINAL
        else None,
        url=text(item.get("web_url"), 1000),
    )


class GitLabClient:
    """The GitLab REST API v4 (gitlab.com or a self-hosted instance: give its root URL)."""

    def __init__(self, base_url: str = DEFAULT_BASE_URL, *, token: str = "", timeout: float = DEFAULT_TIMEOUT) -> None:
        root = base_url.strip().rstrip("/")
        api = root if root.endswith("/api/v4") else f"{root}/api/v4"
        self.http = JsonHttpClient(api, headers={"PRIVATE-TOKEN": token} if token else {}, timeout=timeout)
        self.skipped: list[str] = []

    @staticmethod
    def _project_ref(target: str) -> str:
        target = target.strip().strip("/")
        if not target or ".." in target.split("/"):
            raise CiConfigError(f"A GitLab target is a project id or its path (group/project), got {target!r}.")
        return urllib.parse.quote(target, safe="")

    def project(self, target: str) -> dict[str, Any]:
        response = self.http.get(f"projects/{self._project_ref(target)}")
        if not isinstance(response.data, dict) or "id" not in response.data:
            raise CiBadResponse(f"{response.url}: expected a project object.")
        return response.data

    def iter_pipelines(
        self, target: str, *, since: datetime | None = None, per_page: int = 100, max_pages: int = 10
    ) -> Iterator[CiRunEvent]:
        """Pipelines of the project, most recently updated first, updated at or after `since`."""
        project = self.project(target)
        params: dict[str, Any] = {"per_page": per_page, "order_by": "updated_at", "sort": "desc"}
        if since is not None:
            params["updated_after"] = since.strftime("%Y-%m-%dT%H:%M:%SZ")
        page: str | None = "1"
        pages = 0
        while page and pages < max_pages:
            response = self.http.get(f"projects/{project['id']}/pipelines", {**params, "page": page})
            if not isinstance(response.data, list):
                raise CiBadResponse(f"{response.url}: expected a list of pipelines.")
            for item in response.data:
                try:
                    yield api_item_event(obj(item), project)
                except PayloadError as exc:
                    self.skipped.append(f"pipeline {obj(item).get('id')}: {exc}")
            nxt = response.headers.get("x-next-page", "").strip()
            page, pages = (nxt if nxt.isdigit() else None), pages + 1
