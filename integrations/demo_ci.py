"""The demo's CI runs, delivered the way GitHub, GitLab and Jenkins deliver them: signed webhooks, posted
to mlgov's real endpoints (/hooks/github/, /hooks/gitlab/, /hooks/jenkins/) through Django's test client,
so they pass the same size, signature, header and payload checks as any delivery.

Payloads follow the shapes the providers document (GitHub's `workflow_run` and `workflow_job` events,
GitLab's Pipeline Hook, the Jenkins Notification plugin's JSON), with the demo plan's ids, commits and
times. Each delivery has a stable key (GitHub's X-GitHub-Delivery is a UUID derived from the run), so
running the demo again replays them and the endpoints answer "duplicate": nothing changes.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.test import Client, override_settings

from integrations.ci.contracts import repo_identity
from integrations.ci.services import external_source_for, webhook_delivery_process
from integrations.ci.signatures import hmac_sha256_signature
from integrations.ci.webhooks import JENKINS_SIGNATURE_HEADER
from integrations.demo import PipelinePlan, PipelineRunPlan, Plan
from integrations.models import WebhookDelivery
from mlgov.inventory.models import Pipeline

# Used only when the environment sets no secret (`make demo` sets them, so the served app accepts
# deliveries too). They are not secrets: anyone can read them here.
DEMO_SECRETS = {
    "MLGOV_GITHUB_WEBHOOK_SECRET": "demo-github-webhook-secret",
    "MLGOV_GITLAB_WEBHOOK_TOKEN": "demo-gitlab-webhook-token",
    "MLGOV_JENKINS_WEBHOOK_SECRET": "demo-jenkins-webhook-secret",
}
_NAMESPACE = uuid.UUID("6d6c676f-7600-4000-8000-64656d6f6369")  # fixed: the same run, the same delivery id


@dataclass(frozen=True)
class Delivery:
    provider: str
    headers: dict[str, str]
    payload: dict[str, Any]


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def _gitlab_time(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S UTC")


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _job_statuses(jobs: list[dict[str, str]], run: PipelineRunPlan) -> list[str]:
    """What each job ended as: all pass on a green run; on a red one the training job (else the last) fails
    and the jobs after it are skipped."""
    if run.status == "success":
        return ["success"] * len(jobs)
    kinds = [j.get("kind") for j in jobs]
    failing = kinds.index("train") if "train" in kinds else len(jobs) - 1
    return ["success"] * failing + ["failure"] + ["skipped"] * (len(jobs) - failing - 1)


def _full_name(web_url: str) -> str:
    return repo_identity(web_url).split("/", 1)[1]


# --- GitHub ------------------------------------------------------------------------------------------


def _gh_repository(web_url: str) -> dict[str, Any]:
    full_name = _full_name(web_url)
    owner, name = full_name.split("/", 1)
    return {
        "id": int(uuid.uuid5(_NAMESPACE, web_url).int % 10**9),
        "name": name,
        "full_name": full_name,
        "private": True,
        "owner": {"login": owner, "type": "Organization"},
        "html_url": web_url,
        "clone_url": f"{web_url}.git",
        "default_branch": "main",
    }


def _gh_run(p: PipelinePlan, r: PipelineRunPlan, *, completed: bool) -> dict[str, Any]:
    full_name = _full_name(p.repository)
    return {
        "id": int(r.external_id),
        "name": p.name,
        "head_branch": "main",
        "head_sha": r.commit,
        "path": p.config_path,
        "run_number": int(r.external_id) % 1000,
        "event": r.trigger,
        "status": "completed" if completed else "in_progress",
        "conclusion": ("success" if r.status == "success" else "failure") if completed else None,
        "url": f"https://api.github.com/repos/{full_name}/actions/runs/{r.external_id}",
        "html_url": r.url,
        "created_at": _iso(r.started),
        "run_started_at": _iso(r.started),
        "updated_at": _iso(r.finished if completed else r.started),
        "run_attempt": 1,
        "repository": _gh_repository(p.repository),
    }


def github_deliveries(p: PipelinePlan, r: PipelineRunPlan, jobs: list[dict[str, str]]) -> list[Delivery]:
    """workflow_run in_progress, a workflow_job per job, then workflow_run completed."""
    workflow = {"name": p.name, "path": p.config_path, "state": "active"}

    def delivery(event: str, step: str, payload: dict[str, Any]) -> Delivery:
        key = str(uuid.uuid5(_NAMESPACE, f"{p.repository}:{r.external_id}:{step}"))
        return Delivery("github", {"X-GitHub-Event": event, "X-GitHub-Delivery": key}, payload)

    repo = _gh_repository(p.repository)
    out = [
        delivery(
            "workflow_run",
            "started",
            {
                "action": "in_progress",
                "workflow_run": _gh_run(p, r, completed=False),
                "workflow": workflow,
                "repository": repo,
            },
        )
    ]
    span = (r.finished - r.started) / max(1, len(jobs))
    for n, (job, status) in enumerate(zip(jobs, _job_statuses(jobs, r), strict=True)):
        started = r.started + span * n
        job_id = int(r.external_id) * 10 + n
        out.append(
            delivery(
                "workflow_job",
                f"job:{n}",
                {
                    "action": "completed",
                    "workflow_job": {
                        "id": job_id,
                        "run_id": int(r.external_id),
                        "workflow_name": p.name,
                        "head_sha": r.commit,
                        "html_url": f"{r.url}/job/{job_id}",
                        "status": "completed",
                        "conclusion": status,
                        "started_at": _iso(started),
                        "completed_at": _iso(started + span),
                        "name": job["name"],
                    },
                    "repository": repo,
                },
            )
        )
    out.append(
        delivery(
            "workflow_run",
            "completed",
            {
                "action": "completed",
                "workflow_run": _gh_run(p, r, completed=True),
                "workflow": workflow,
                "repository": repo,
            },
        )
    )
    return out


# --- GitLab ------------------------------------------------------------------------------------------


def gitlab_deliveries(p: PipelinePlan, r: PipelineRunPlan, jobs: list[dict[str, str]]) -> list[Delivery]:
    """One Pipeline Hook for the finished pipeline, with its builds."""
    path = _full_name(p.repository)
    status = "success" if r.status == "success" else "failed"
    span = (r.finished - r.started) / max(1, len(jobs))
    gitlab_status = {"success": "success", "failure": "failed", "skipped": "skipped"}
    builds = []
    for n, (job, job_status) in enumerate(zip(jobs, _job_statuses(jobs, r), strict=True)):
        started = r.started + span * n
        ran = job_status != "skipped"
        builds.append(
            {
                "id": int(r.external_id) * 10 + n,
                "stage": job.get("stage") or "test",
                "name": job["name"],
                "status": gitlab_status[job_status],
                "created_at": _gitlab_time(r.started),
                "started_at": _gitlab_time(started) if ran else None,
                "finished_at": _gitlab_time(started + span) if ran else None,
                "when": "on_success",
                "manual": False,
                "allow_failure": False,
            }
        )
    payload = {
        "object_kind": "pipeline",
        "object_attributes": {
            "id": int(r.external_id),
            "ref": "main",
            "tag": False,
            "sha": r.commit,
            "source": r.trigger,
            "status": status,
            "detailed_status": status,
            "stages": sorted({b["stage"] for b in builds}),
            "created_at": _gitlab_time(r.started),
            "finished_at": _gitlab_time(r.finished),
            "duration": int((r.finished - r.started).total_seconds()),
            "url": r.url,
        },
        "project": {
            "name": path.rsplit("/", 1)[-1],
            "web_url": p.repository,
            "git_http_url": f"{p.repository}.git",
            "path_with_namespace": path,
            "default_branch": "main",
            "ci_config_path": None,
        },
        "commit": {"id": r.commit, "url": f"{p.repository}/-/commit/{r.commit}"},
        "builds": builds,
    }
    return [Delivery("gitlab", {"X-Gitlab-Event": "Pipeline Hook"}, payload)]


# --- Jenkins -----------------------------------------------------------------------------------------


def jenkins_deliveries(p: PipelinePlan, r: PipelineRunPlan, jobs: list[dict[str, str]]) -> list[Delivery]:
    """The Notification plugin's STARTED and COMPLETED notifications of one build."""
    job_url = r.url.rsplit("/", 2)[0].split("://", 1)[-1].split("/", 1)[1] + "/"  # job/<name>/
    name = job_url.strip("/").rsplit("/", 1)[-1]
    number = int(r.external_id)

    def build(phase: str) -> dict[str, Any]:
        completed = phase == "COMPLETED"
        return {
            "name": name,
            "display_name": name,
            "url": job_url,
            "build": {
                "full_url": r.url,
                "number": number,
                "phase": phase,
                "status": ("SUCCESS" if r.status == "success" else "FAILURE") if completed else None,
                "url": f"{job_url}{number}/",
                "scm": {"url": f"{p.repository}.git", "branch": "origin/main", "commit": r.commit},
                "timestamp": _ms(r.started),
                "duration": int((r.finished - r.started).total_seconds() * 1000) if completed else 0,
            },
        }

    return [Delivery("jenkins", {}, build("STARTED")), Delivery("jenkins", {}, build("COMPLETED"))]


BUILDERS = {"github": github_deliveries, "gitlab": gitlab_deliveries, "jenkins": jenkins_deliveries}


# --- delivery ----------------------------------------------------------------------------------------


@contextmanager
def _secrets() -> Iterator[bool]:
    """The configured webhook secrets, or the demo's own where the environment sets none (yields whether
    any demo secret was used)."""
    missing = {name: value for name, value in DEMO_SECRETS.items() if not getattr(settings, name, "")}
    if not missing:
        yield False
        return
    with override_settings(**missing):
        yield True


def _signed(d: Delivery, body: bytes) -> dict[str, str]:
    headers = dict(d.headers)
    if d.provider == "github":
        headers["X-Hub-Signature-256"] = hmac_sha256_signature(settings.MLGOV_GITHUB_WEBHOOK_SECRET, body)
    elif d.provider == "gitlab":
        headers["X-Gitlab-Token"] = settings.MLGOV_GITLAB_WEBHOOK_TOKEN
    else:
        headers[JENKINS_SIGNATURE_HEADER] = hmac_sha256_signature(settings.MLGOV_JENKINS_WEBHOOK_SECRET, body)
    return headers


def deliver_ci_runs(plan: Plan) -> dict[str, int]:
    """Post every CI run of the plan to the webhook endpoints. Returns counts of the answers
    (queued, duplicate, ignored, refused) and of deliveries processed here.

    The jobs come from the pipelines the Git sync parsed from the repositories' CI files, so run the Git
    sync first. Deliveries are applied by the webhook task, eagerly when no broker is configured; any
    left queued (a broker but no worker running) are applied here, so the demo is whole either way.
    """
    answers: Counter[str] = Counter()
    host = next((h for h in settings.ALLOWED_HOSTS if h not in ("*", "") and not h.startswith(".")), "localhost")
    client = Client(SERVER_NAME=host)
    with _secrets() as demo_secrets:
        for p in plan.pipelines:
            parsed = (
                Pipeline.objects.filter(external_source=external_source_for(repo_identity(p.repository)))
                .filter(external_id=p.config_path)
                .values_list("jobs", flat=True)
                .first()
            ) or []
            jobs = [j for j in parsed if j.get("name")] or [{"name": p.name, "kind": "other"}]
            for r in p.runs:
                for d in BUILDERS[p.provider](p, r, jobs):
                    body = json.dumps(d.payload).encode()
                    response = client.post(
                        f"/hooks/{d.provider}/",
                        data=body,
                        content_type="application/json",
                        headers=_signed(d, body),
                        secure=True,
                    )
                    answer = response.json().get("status") if response.status_code < 400 else "refused"
                    answers[answer] += 1
    for pk in (
        WebhookDelivery.objects.filter(status=WebhookDelivery.Status.QUEUED).order_by("id").values_list("pk", flat=True)
    ):
        webhook_delivery_process(delivery_id=pk)
        answers["processed here"] += 1
    answers["demo secrets"] = int(demo_secrets)
    return dict(answers)


# --- test reports ------------------------------------------------------------------------------------

CI_BOT = "ci-bot"


def junit_report(*, suite: str, tests: int, failures: int = 0) -> bytes:
    """A pytest-style JUnit XML report (`pytest --junitxml`)."""
    cases = "".join(
        f'<testcase classname="tests.{suite}" name="test_{n}" time="0.01">'
        + ('<failure message="assert False"/>' if n < failures else "")
        + "</testcase>"
        for n in range(tests)
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" tests="{tests}" '
        f'failures="{failures}" errors="0" skipped="0">{cases}</testsuite></testsuites>'
    ).encode()


def attach_test_reports(plan: Plan) -> int:
    """The CI jobs that run tests post their JUnit report to `POST /api/v1/pipeline-runs/<id>/test-report`
    as the `ci-bot` service account, with a write token issued for this and revoked after. Runs that have
    a report already are skipped, so a second demo posts nothing. Returns the number of reports posted."""
    from mlgov.accounts.models import User
    from mlgov.accounts.services import api_token_create, api_token_revoke, user_create
    from mlgov.inventory.models import PipelineRun

    pending = []
    for p in plan.pipelines:
        source = external_source_for(repo_identity(p.repository))
        ids = [r.external_id for r in p.runs]
        if p.provider == "jenkins":
            job = p.runs[0].url.rstrip("/").rsplit("/", 2)[-2] if p.runs else ""
            ids = [f"{job}#{i}" for i in ids]
        runs = PipelineRun.objects.filter(
            pipeline__external_source=source,
            pipeline__external_id=p.config_path,
            external_id__in=ids,
            tests_total__isnull=True,
        )
        pending += [(p, run) for run in runs.order_by("id")]
    if not pending:
        return 0
    bot = User.objects.filter(username=CI_BOT).first() or user_create(
        actor="demo-seed", username=CI_BOT, display_name="CI bot (service account)", is_service_account=True
    )
    token, raw = api_token_create(
        actor="demo-seed", user=bot, name="demo test reports", scope="write", expires_in_days=1
    )
    host = next((h for h in settings.ALLOWED_HOSTS if h not in ("*", "") and not h.startswith(".")), "localhost")
    client = Client(SERVER_NAME=host, HTTP_AUTHORIZATION=f"Bearer {raw}")
    posted = 0
    try:
        for p, run in pending:
            tests = 4 + len(p.name) % 5
            response = client.post(
                f"/api/v1/pipeline-runs/{run.pk}/test-report",
                data=junit_report(suite=p.config_path.rsplit("/", 1)[-1].split(".")[0], tests=tests),
                content_type="application/xml",
                secure=True,
            )
            if response.status_code != 200:
                raise RuntimeError(f"the test report for CI run {run} was refused: {response.content[:300]!r}")
            posted += 1
    finally:
        api_token_revoke(actor="demo-seed", token=token)
    return posted
