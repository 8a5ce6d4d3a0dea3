"""What the CI parsers, the CI clients and webhooks hand to the services: frozen dataclasses, no Django."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# Trigger types
PUSH, PULL_REQUEST, TAG, SCHEDULE, MANUAL, OTHER = "push", "pull_request", "tag", "schedule", "manual", "other"
# Job kinds
JOB_TEST, JOB_TRAIN, JOB_EVALUATE, JOB_DEPLOY, JOB_DATA, JOB_OTHER = (
    "test",
    "train",
    "evaluate",
    "deploy",
    "data",
    "other",
)


@dataclass(frozen=True)
class CiTrigger:
    type: str  # push | pull_request | tag | schedule | manual | other
    detail: dict[str, Any] = field(default_factory=dict)  # {"cron": "0 3 * * 1"}, {"branches": ["main"]}


@dataclass(frozen=True)
class CiJob:
    name: str
    kind: str  # test | train | evaluate | deploy | data | other
    stage: str = ""


@dataclass(frozen=True)
class ParsedPipeline:
    """One pipeline defined by a CI configuration file."""

    provider: str  # github | gitlab | jenkins
    name: str
    config_path: str  # relative to the repository root
    triggers: tuple[CiTrigger, ...]
    jobs: tuple[CiJob, ...]
    kind: str  # the inventory's PipelineKind: data | training | evaluation | deployment | ci
    includes: tuple[str, ...] = ()  # GitLab `include:` entries, recorded and not fetched


@dataclass(frozen=True)
class CiFinding:
    path: str
    kind: str  # broken_yaml | include_not_fetched | unsupported | ...
    message: str


@dataclass(frozen=True)
class CiRunEvent:
    """One CI run (a workflow run, a GitLab pipeline, a Jenkins build), from a webhook or a poll."""

    provider: str  # github | gitlab | jenkins
    repository: str  # normalised identity, e.g. "github.com/acme/card-fraud" (see repo_identity)
    config_path: str  # ".github/workflows/train.yml", ".gitlab-ci.yml", "Jenkinsfile"
    pipeline_name: str
    run_id: str  # the provider's run id, unique within the pipeline
    status: str  # the inventory's RunStatus: queued | running | success | failure | cancelled | skipped
    commit_sha: str
    trigger: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    url: str = ""
    jobs: tuple[dict[str, Any], ...] = ()


def repo_identity(url: str) -> str:
    """Normalise a repository URL to host/path: https, ssh and scp-like forms give the same identity.

    >>> repo_identity("git@github.com:Acme/Card-Fraud.git")
    'github.com/acme/card-fraud'
    >>> repo_identity("https://github.com/acme/card-fraud/")
    'github.com/acme/card-fraud'
    """
    value = url.strip()
    for prefix in ("https://", "http://", "ssh://", "git://", "file://"):
        if value.startswith(prefix):
            value = value[len(prefix) :]
            break
    else:
        if "@" in value and ":" in value.split("@", 1)[1]:  # scp-like git@host:path
            host, path = value.split("@", 1)[1].split(":", 1)
            value = f"{host}/{path}"
    if "@" in value.split("/", 1)[0]:
        value = value.split("@", 1)[1]
    return value.removesuffix("/").removesuffix(".git").lower()


@dataclass(frozen=True)
class CiJobEvent:
    """One job of a CI run changed state (GitHub workflow_job, GitLab Job Hook): merged into the run's jobs."""

    provider: str  # github | gitlab | jenkins
    repository: str  # normalised identity (see repo_identity)
    run_id: str  # the run the job belongs to (CiRunEvent.run_id)
    job: dict[str, Any]  # {"id", "name", "stage", "status", "started_at", "finished_at", "url"}
    commit_sha: str = ""
