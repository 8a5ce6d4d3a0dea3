"""Jenkins: build notifications and the JSON API's builds, as CiRunEvents.

The notification is the JSON the Jenkins Notification plugin posts (its JobState/BuildState/ScmState
model, fields in snake_case), which a pipeline can also send itself with `httpRequest` or `curl`:

    {"name": "card-fraud", "url": "job/acme/job/card-fraud/",
     "build": {"full_url": "https://jenkins.example.com/job/acme/job/card-fraud/42/", "number": 42,
               "phase": "COMPLETED", "status": "SUCCESS", "timestamp": 1767261600000, "duration": 61000,
               "url": "job/acme/job/card-fraud/42/",
               "scm": {"url": "https://github.com/acme/card-fraud.git", "branch": "origin/main",
                       "commit": "3f9c2ab…"}}}

`phase` is QUEUED, STARTED, COMPLETED or FINALIZED; `status` (read once the build completed) is SUCCESS,
UNSTABLE, FAILURE, NOT_BUILT or ABORTED. `timestamp` is the build's start, as epoch milliseconds or ISO 8601
(the plugin has sent both); `duration` is in milliseconds.

Polling reads `GET {job}/api/json?tree=builds[…]{start,end}`, where each build's `actions` carry the Git
plugin's BuildData (`lastBuiltRevision.SHA1`, `remoteUrls`).
"""

from __future__ import annotations

import base64
import urllib.parse
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
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
    obj,
    parse_time,
    require,
    text,
)
from integrations.ci.contracts import OTHER, CiRunEvent, repo_identity

PROVIDER = "jenkins"
CONFIG_PATH = "Jenkinsfile"
PHASES = frozenset({"QUEUED", "STARTED", "COMPLETED", "FINALIZED"})
IGNORED_PHASES = frozenset({"DELETED"})
_RESULTS = {"SUCCESS": SUCCESS, "UNSTABLE": FAILURE, "FAILURE": FAILURE, "ABORTED": CANCELLED, "NOT_BUILT": SKIPPED}
BUILD_TREE = (
    "builds[number,url,result,building,inProgress,timestamp,duration,actions[lastBuiltRevision[SHA1],remoteUrls]]"
)


def result_status(result: Any) -> str:
    """A finished build's result -> RunStatus. UNSTABLE (tests failed) is a failure; unknown is a failure."""
    return _RESULTS.get(str(result or "").upper(), FAILURE)


def job_path(url_or_name: str) -> str:
    """`job/acme/job/card-fraud/` (or a full URL, or `acme/card-fraud`) -> `acme/card-fraud`."""
    path = urllib.parse.urlsplit(url_or_name).path if "://" in url_or_name else url_or_name
    parts = [urllib.parse.unquote(p) for p in path.strip("/").split("/") if p]
    if "job" in parts:
        parts = parts[parts.index("job") :]
        names = [parts[i + 1] for i in range(0, len(parts) - 1, 2) if parts[i] == "job"]
        if names:
            return "/".join(names)
    return "/".join(parts)


def job_url_path(target: str) -> str:
    """A job name path (`acme/card-fraud`) or URL path (`job/acme/job/card-fraud`) -> `job/acme/job/card-fraud`."""
    names = job_path(target).split("/")
    if not names or any(n in ("", ".", "..") for n in names):
        raise CiConfigError(f"A Jenkins target is a job path such as folder/job, got {target!r}.")
    return "/".join(f"job/{urllib.parse.quote(n, safe='')}" for n in names)


def _finished(started: datetime | None, duration: Any) -> datetime | None:
    if started is None or not isinstance(duration, int | float) or isinstance(duration, bool) or duration <= 0:
        return None
    return started + timedelta(milliseconds=duration)


def notification_event(payload: Mapping[str, Any]) -> CiRunEvent:
    """A build notification -> CiRunEvent. The repository comes from `build.scm.url`."""
    build = obj(require(payload, "build"))
    number = require(build, "number")
    phase = text(require(build, "phase"), 20).upper()
    if phase not in PHASES:
        raise PayloadError(f"unknown phase {phase!r}")
    scm = obj(build.get("scm"))
    repo_url = text(scm.get("url"), 500)
    if not repo_url:
        raise PayloadError("missing build.scm.url (the repository)")
    name = job_path(text(payload.get("url"), 500)) or text(require(payload, "name"), 200)
    if phase == "QUEUED":
        status = QUEUED
    elif phase == "STARTED":
        status = RUNNING
    else:
        status = result_status(build.get("status"))
    started = parse_time(build.get("timestamp")) if phase != "QUEUED" else None
    return CiRunEvent(
        provider=PROVIDER,
        repository=repo_identity(repo_url),
        config_path=CONFIG_PATH,
        pipeline_name=name,
        run_id=text(f"{name}#{number}", 255),
        status=status,
        commit_sha=text(scm.get("commit"), 64).lower(),
        trigger=OTHER,
        started_at=started,
        finished_at=_finished(started, build.get("duration")) if status in TERMINAL else None,
        url=text(build.get("full_url"), 1000),
    )


def delivery_key(payload: Mapping[str, Any]) -> str:
    """A replay is the same job, build number and phase."""
    build = obj(require(payload, "build"))
    name = job_path(text(payload.get("url"), 500)) or text(require(payload, "name"), 200)
    return f"{name}#{text(require(build, 'number'), 20)}:{text(require(build, 'phase'), 20).upper()}"


def _build_data(build: Mapping[str, Any]) -> tuple[str, str]:
    """(commit, repository URL) from the Git plugin's BuildData action, when the build has one."""
    actions = build.get("actions") if isinstance(build.get("actions"), list) else []
    for action in actions:
        action = obj(action)
        sha = text(obj(action.get("lastBuiltRevision")).get("SHA1"), 64)
        urls = action.get("remoteUrls") if isinstance(action.get("remoteUrls"), list) else []
        if sha or urls:
            return sha.lower(), text(urls[0], 500) if urls else ""
    return "", ""


def api_build_event(build: Mapping[str, Any], *, job: str, repository_url: str = "") -> CiRunEvent:
    """One build of `GET {job}/api/json?tree=builds[…]` -> CiRunEvent."""
    number = require(build, "number")
    sha, remote = _build_data(build)
    repo_url = remote or repository_url
    if not repo_url:
        raise PayloadError("no repository: the build has no Git BuildData and the source names no repository")
    if build.get("building") is True or build.get("inProgress") is True:
        status = RUNNING
    elif build.get("result") in (None, ""):
        status = QUEUED
    else:
        status = result_status(build.get("result"))
    started = parse_time(build.get("timestamp"))
    return CiRunEvent(
        provider=PROVIDER,
        repository=repo_identity(repo_url),
        config_path=CONFIG_PATH,
        pipeline_name=job,
        run_id=text(f"{job}#{number}", 255),
        status=status,
        commit_sha=sha,
        trigger=OTHER,
        started_at=started,
        finished_at=_finished(started, build.get("duration")) if status in TERMINAL else None,
        url=text(build.get("url"), 1000),
    )


class JenkinsClient:
    """The Jenkins JSON API. The token is `user:api-token` (HTTP basic authentication)."""

    def __init__(self, base_url: str, *, token: str = "", timeout: float = DEFAULT_TIMEOUT) -> None:
        headers = {}
        if token:
            if ":" not in token:
                raise CiConfigError("A Jenkins token is user:api-token.")
            headers["Authorization"] = "Basic " + base64.b64encode(token.encode()).decode()
        self.http = JsonHttpClient(base_url, headers=headers, timeout=timeout)
        self.skipped: list[str] = []

    def iter_builds(
        self,
        target: str,
        *,
        since: datetime | None = None,
        repository_url: str = "",
        per_page: int = 100,
        max_pages: int = 10,
    ) -> Iterator[CiRunEvent]:
        """Builds of the job, newest first, stopping at builds that started before `since`."""
        path = job_url_path(target)
        job = job_path(target)
        for page in range(max_pages):
            start = page * per_page
            response = self.http.get(f"{path}/api/json", {"tree": f"{BUILD_TREE}{{{start},{start + per_page}}}"})
            data = response.data
            if not isinstance(data, dict) or not isinstance(data.get("builds", []), list):
                raise CiBadResponse(f"{response.url}: expected an object with a builds list.")
            builds = data.get("builds") or []
            for item in builds:
                item = obj(item)
                started = parse_time(item.get("timestamp"))
                if since is not None and started is not None and started < since and not item.get("building"):
                    return
                try:
                    yield api_build_event(item, job=job, repository_url=repository_url)
                except PayloadError as exc:
                    self.skipped.append(f"build {item.get('number')}: {exc}")
            if len(builds) < per_page:
                return
