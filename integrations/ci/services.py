"""Writes for CI runs: record a run or a job, accept and process webhook deliveries, manage and poll CI sources.

Every write runs in a transaction and writes its audit events there (`pipeline.*`, `pipelinerun.*`,
`cisource.*`). Accepting a webhook delivery is not audited: the delivery row is its own record, and the
run it changes is audited when the delivery is processed.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from integrations.choices import SyncMode, SyncStatus
from integrations.ci import github, gitlab, jenkins
from integrations.ci.client import CiClientError, CiConfigError
from integrations.ci.common import STATUSES, TERMINAL, PayloadError, merge_jobs, supersedes
from integrations.ci.contracts import CiJobEvent, CiRunEvent, repo_identity
from integrations.models import CiSource, GitRepository, SyncRun, WebhookDelivery
from integrations.services import (
    SyncAlreadyRunning,
    sync_run_finish,
    sync_run_progress,
    sync_run_queue,
    sync_run_refuse,
    sync_run_requeue,
    sync_run_start,
)
from mlgov.audit.services import audit_record, snapshot
from mlgov.context import acting
from mlgov.errors import Conflict, NotFound, ValidationFailed
from mlgov.inventory.choices import PipelineKind
from mlgov.inventory.models import Pipeline, PipelineRun
from mlgov.inventory.sync_services import pipeline_runs_link_by_commit

PROVIDERS = ("github", "gitlab", "jenkins")
RUN_AUDIT_FIELDS = ("status", "commit_sha", "trigger", "started_at", "finished_at", "url", "removed_at")
PIPELINE_AUDIT_FIELDS = ("provider", "name", "config_path", "project", "removed_at")
SOURCE_FIELDS = ("provider", "base_url", "target", "token_env_var", "repository", "enabled")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")


class PipelineRunUnknown(NotFound):
    """A job event for a run mlgov has not recorded yet (its run event is still on its way)."""

    code = "pipeline_run_unknown"


class PollNotQueued(Conflict):
    code = "poll_not_queued"


def external_source_for(repository: str) -> str:
    """`repo:<identity>`, the external source of every pipeline and run of one repository (max 120 chars)."""
    value = f"repo:{repository}"
    if len(value) <= 120:
        return value
    digest = hashlib.sha1(repository.encode(), usedforsecurity=False).hexdigest()[:12]
    return f"{value[:107]}~{digest}"


def project_for_repository(repository: str, config_path: str = "") -> Any:
    """The project of the GitRepository whose web URL or clone URL has this identity, else None (unassigned).

    In a monorepo several GitRepository rows share one identity, each with a subdirectory: the one whose
    subdirectory holds the config file wins, then one without a subdirectory.
    """
    tail = repository.rsplit("/", 1)[-1]
    if not tail:
        return None
    candidates = (
        GitRepository.objects.filter(project__isnull=False)
        .filter(Q(web_url__icontains=tail) | Q(url__icontains=tail))
        .select_related("project")
        .order_by("id")
    )
    matches = [r for r in candidates if repository in {repo_identity(u) for u in (r.web_url, r.url) if u}]

    def fit(repo: GitRepository) -> int:
        sub = repo.subdirectory.strip("/")
        if not sub:
            return 0
        return len(sub) if config_path.startswith(f"{sub}/") else -1

    best = max(matches, key=fit, default=None)
    return best.project if best is not None and fit(best) >= 0 else None


def _check_event(event: CiRunEvent) -> None:
    problems = {}
    if event.provider not in PROVIDERS:
        problems["provider"] = event.provider
    if event.status not in STATUSES:
        problems["status"] = event.status
    for name in ("repository", "config_path", "run_id"):
        if not getattr(event, name):
            problems[name] = "missing"
    if problems:
        raise ValidationFailed("The CI run event is invalid.", details=problems)


def _safe_url(url: str) -> str:
    return url if url.startswith(("https://", "http://")) else ""


def _pipeline_upsert(*, actor: Any, event: CiRunEvent, source: str) -> Pipeline:
    project = project_for_repository(event.repository, event.config_path)
    pipeline = (
        Pipeline.objects.select_for_update().filter(external_source=source, external_id=event.config_path).first()
    )
    if pipeline is None:
        pipeline = Pipeline(
            external_source=source,
            external_id=event.config_path[:255],
            provider=event.provider,
            name=(event.pipeline_name or event.config_path)[:255],
            config_path=event.config_path[:500],
            project=project,
            kind=PipelineKind.CI,
        )
        try:
            with transaction.atomic():
                pipeline.save()
        except IntegrityError:  # created concurrently by another delivery: use that one
            pipeline = Pipeline.objects.select_for_update().get(external_source=source, external_id=event.config_path)
        else:
            audit_record(
                actor=actor, action="pipeline.created", target=pipeline, after=snapshot(pipeline, PIPELINE_AUDIT_FIELDS)
            )
            return pipeline
    before = snapshot(pipeline, PIPELINE_AUDIT_FIELDS)
    if pipeline.project_id is None and project is not None:  # never move a pipeline the Git sync assigned
        pipeline.project = project
    if not pipeline.name:
        pipeline.name = (event.pipeline_name or event.config_path)[:255]
    pipeline.removed_at = None
    after = snapshot(pipeline, PIPELINE_AUDIT_FIELDS)
    if after != before:
        pipeline.save()
        audit_record(actor=actor, action="pipeline.updated", target=pipeline, before=before, after=after)
    return pipeline


def _apply_event(run: PipelineRun, event: CiRunEvent) -> None:
    if supersedes(event.status, event.started_at, event.finished_at, run.status, run.started_at, run.finished_at):
        run.status = event.status
        run.started_at = event.started_at or run.started_at
        run.finished_at = event.finished_at if event.status in TERMINAL else None
        run.commit_sha = event.commit_sha or run.commit_sha
        run.trigger = event.trigger or run.trigger
        run.url = _safe_url(event.url) or run.url
    if event.jobs:
        run.jobs = merge_jobs(run.jobs or [], event.jobs)
    run.removed_at = None


def ci_run_upsert(*, actor: Any, event: CiRunEvent) -> tuple[PipelineRun, str]:
    """Record one CI run; returns (run, 'created' | 'updated' | 'unchanged'). See `ci_run_record`."""
    _check_event(event)
    source = external_source_for(event.repository)
    with transaction.atomic():
        pipeline = _pipeline_upsert(actor=actor, event=event, source=source)
        run = PipelineRun.objects.select_for_update().filter(pipeline=pipeline, external_id=event.run_id).first()
        if run is None:
            run = PipelineRun(
                pipeline=pipeline,
                external_source=source,
                external_id=event.run_id[:255],
                status=event.status,
                commit_sha=event.commit_sha[:64],
                trigger=event.trigger[:40],
                started_at=event.started_at,
                finished_at=event.finished_at if event.status in TERMINAL else None,
                url=_safe_url(event.url),
                jobs=merge_jobs([], event.jobs),
            )
            try:
                with transaction.atomic():
                    run.save()
            except IntegrityError:  # recorded concurrently by another delivery: apply this event to it
                run = PipelineRun.objects.select_for_update().get(pipeline=pipeline, external_id=event.run_id)
            else:
                audit_record(
                    actor=actor,
                    action="pipelinerun.created",
                    target=run,
                    after={**snapshot(run, RUN_AUDIT_FIELDS), "jobs": len(run.jobs)},
                )
                pipeline_runs_link_by_commit(commits=[run.commit_sha], actor=actor)
                return run, "created"
        before, jobs_before = snapshot(run, RUN_AUDIT_FIELDS), list(run.jobs or [])
        _apply_event(run, event)
        after = snapshot(run, RUN_AUDIT_FIELDS)
        if after == before and run.jobs == jobs_before:
            return run, "unchanged"
        run.save()
        changed = {k for k in after if after[k] != before[k]}
        audit_record(
            actor=actor,
            action="pipelinerun.updated",
            target=run,
            before={k: before[k] for k in sorted(changed)}
            | ({"jobs": len(jobs_before)} if run.jobs != jobs_before else {}),
            after={k: after[k] for k in sorted(changed)} | ({"jobs": len(run.jobs)} if run.jobs != jobs_before else {}),
        )
        if "commit_sha" in changed:
            pipeline_runs_link_by_commit(commits=[run.commit_sha], actor=actor)
        return run, "updated"


def ci_run_record(*, actor: Any, event: CiRunEvent) -> PipelineRun:
    """Record a CI run from a webhook or a poll, idempotently, with its audit events.

    - The Pipeline is keyed by (`repo:<repository identity>`, config path) and belongs to the project of the
      GitRepository with the same identity, else stays unassigned.
    - The PipelineRun is keyed by (pipeline, provider run id). A later state replaces an earlier one, never
      the other way round: an "in_progress" that arrives after "completed" does not regress the run
      (`integrations.ci.common.supersedes`). Jobs are merged by job id under the same rule.
    - The run is linked to the training runs that recorded the same commit.
    """
    run, _ = ci_run_upsert(actor=actor, event=event)
    return run


@transaction.atomic
def ci_job_record(*, actor: Any, event: CiJobEvent) -> PipelineRun:
    """Merge one job's state into its run's jobs. Raises PipelineRunUnknown when the run is not recorded yet."""
    run = (
        PipelineRun.objects.select_for_update()
        .filter(
            external_source=external_source_for(event.repository),
            external_id=event.run_id,
            pipeline__provider=event.provider,
        )
        .first()
    )
    if run is None:
        raise PipelineRunUnknown(
            f"No {event.provider} run {event.run_id} of {event.repository} is recorded yet.",
            details={"repository": event.repository, "run_id": event.run_id},
        )
    jobs_before = list(run.jobs or [])
    run.jobs = merge_jobs(jobs_before, [event.job])
    if run.jobs == jobs_before:
        return run
    run.save(update_fields=["jobs", "updated_at"])
    old = next((j for j in jobs_before if str(j.get("id")) == str(event.job.get("id"))), None)
    new = next((j for j in run.jobs if str(j.get("id")) == str(event.job.get("id"))), None)
    audit_record(actor=actor, action="pipelinerun.updated", target=run, before={"job": old}, after={"job": new})
    return run


# --- Webhook deliveries ---


def delivery_key_bounded(key: str) -> str:
    """Keys longer than the column keep a readable head and a digest of the whole."""
    if len(key) <= 200:
        return key
    return f"{key[:150]}~{hashlib.sha256(key.encode()).hexdigest()[:48]}"


def webhook_delivery_accept(
    *, provider: str, delivery_key: str, event: str, payload: dict[str, Any]
) -> WebhookDelivery | None:
    """Store a verified delivery and queue its processing once committed. A replay (same provider and key)
    is refused by the unique constraint: returns None and queues nothing."""
    from integrations.ci.tasks import process_webhook_delivery

    try:
        with transaction.atomic():
            delivery = WebhookDelivery.objects.create(
                provider=provider, delivery_key=delivery_key_bounded(delivery_key), event=event[:60], payload=payload
            )
    except IntegrityError:
        return None
    process_webhook_delivery.delay_on_commit(delivery.pk)
    return delivery


def normalise_delivery(delivery: WebhookDelivery) -> CiRunEvent | CiJobEvent:
    if delivery.provider == "github":
        return github.parse_webhook(delivery.event, delivery.payload)
    if delivery.provider == "gitlab":
        return gitlab.parse_webhook(delivery.event, delivery.payload)
    if delivery.provider == "jenkins":
        return jenkins.notification_event(delivery.payload)
    raise PayloadError(f"unknown provider {delivery.provider!r}")


def webhook_delivery_process(*, delivery_id: int) -> WebhookDelivery:
    """Apply a queued delivery to the inventory. Safe to run twice: a delivery no longer queued is left alone.

    A payload that does not normalise ends the delivery `failed` with the reason. A job whose run is not
    recorded yet raises PipelineRunUnknown, leaving the delivery queued for a retry.
    """
    with acting(source="task"), transaction.atomic():
        delivery = WebhookDelivery.objects.select_for_update().get(pk=delivery_id)
        if delivery.status != WebhookDelivery.Status.QUEUED:
            return delivery
        try:
            event = normalise_delivery(delivery)
        except PayloadError as exc:
            delivery.status, delivery.error = WebhookDelivery.Status.FAILED, str(exc)[:2000]
        else:
            actor = f"webhook:{delivery.provider}"
            if isinstance(event, CiJobEvent):
                run = ci_job_record(actor=actor, event=event)
            else:
                run = ci_run_record(actor=actor, event=event)
            delivery.status, delivery.pipeline_run, delivery.error = WebhookDelivery.Status.PROCESSED, run, ""
        delivery.processed_at = timezone.now()
        delivery.save(update_fields=["status", "error", "pipeline_run", "processed_at"])
        return delivery


def webhook_delivery_fail(*, delivery_id: int, error: str) -> None:
    """After the last retry: a queued delivery ends failed with the reason."""
    WebhookDelivery.objects.filter(pk=delivery_id, status=WebhookDelivery.Status.QUEUED).update(
        status=WebhookDelivery.Status.FAILED, error=error[:2000], processed_at=timezone.now()
    )


# --- CI sources ---


def ci_source_problems(values: dict[str, Any], provider: str) -> dict[str, str]:
    """What is wrong with a CI source's values, by field (empty when nothing is). Normalises `base_url` in
    `values`. Used by `ci_source_upsert` and by the config file's checks (integrations.config)."""
    from integrations.ci.client import check_base_url

    problems: dict[str, str] = {}
    if provider not in PROVIDERS:
        problems["provider"] = f"Must be one of {', '.join(PROVIDERS)}."
    if "base_url" in values:
        try:
            values["base_url"] = check_base_url(values["base_url"])
        except CiConfigError as exc:
            problems["base_url"] = str(exc)
    target = values.get("target")
    if target is not None:
        if provider == "github" and not github.valid_repo(target):
            problems["target"] = "A GitHub target is owner/repo."
        elif provider == "gitlab" and (
            not re.match(r"^(\d+|[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+)$", target)
            or any(part in (".", "..") for part in target.split("/"))
        ):
            problems["target"] = "A GitLab target is a project id or its path (group/project)."
        elif provider == "jenkins":
            try:
                jenkins.job_url_path(target)
            except CiConfigError as exc:
                problems["target"] = str(exc)
    env = values.get("token_env_var")
    if env and not _ENV_NAME.match(env):
        problems["token_env_var"] = "Must be an environment variable name (letters, digits, underscores)."
    return problems


def _check_source(values: dict[str, Any], provider: str) -> None:
    problems = ci_source_problems(values, provider)
    if problems:
        raise ValidationFailed("The CI source is invalid.", details=problems)


@transaction.atomic
def ci_source_upsert(*, actor: Any, name: str, **values: Any) -> tuple[CiSource, str]:
    """Create or update a CI source by name. Returns (source, 'created' | 'updated' | 'unchanged')."""
    unknown = set(values) - set(SOURCE_FIELDS)
    if unknown:
        raise ValidationFailed(f"Unknown CI source field(s): {', '.join(sorted(unknown))}")
    source = CiSource.objects.select_for_update().filter(name=name).first()
    _check_source(values, values.get("provider") or (source.provider if source else ""))
    if source is None:
        source = CiSource(name=name, **values)
        source.full_clean()
        source.save()
        audit_record(actor=actor, action="cisource.created", target=source, after=snapshot(source, SOURCE_FIELDS))
        return source, "created"
    before = snapshot(source, SOURCE_FIELDS)
    for key, value in values.items():
        setattr(source, key, value)
    after = snapshot(source, SOURCE_FIELDS)
    if after == before:
        return source, "unchanged"
    source.full_clean()
    source.save()
    audit_record(actor=actor, action="cisource.updated", target=source, before=before, after=after)
    return source, "updated"


@transaction.atomic
def ci_source_delete(*, actor: Any, source: CiSource) -> None:
    audit_record(actor=actor, action="cisource.deleted", target=source, before=snapshot(source, SOURCE_FIELDS))
    source.delete()


def poll_target(source: CiSource) -> str:
    return f"ci:{source.name}"


def ci_source_poll_request(*, source: CiSource, triggered_by: str = "") -> SyncRun:
    """Queue a poll of the source (a SyncRun of kind `ci`) and hand it to the worker once committed. A poll
    already waiting in the queue is returned instead of queueing a second one."""
    from integrations.ci.tasks import poll_ci_source

    waiting = SyncRun.objects.filter(target=poll_target(source), status=SyncStatus.QUEUED).first()
    if waiting is not None:
        return waiting
    run = sync_run_queue(target=poll_target(source), kind="ci", mode=SyncMode.INCREMENTAL, triggered_by=triggered_by)
    poll_ci_source.delay_on_commit(source.pk, sync_run_id=run.pk)
    return run


def ci_polls_due_queue(*, now: datetime | None = None) -> list[SyncRun]:
    """Enabled sources whose poll interval has passed since their last poll started, each queued once."""
    now = now or timezone.now()
    interval = timedelta(minutes=settings.MLGOV_CI_POLL_INTERVAL_MINUTES)
    queued = []
    for source in CiSource.objects.filter(enabled=True):
        runs = SyncRun.objects.filter(target=poll_target(source))
        if runs.filter(status__in=(SyncStatus.QUEUED, SyncStatus.RUNNING)).exists():
            continue
        last = runs.exclude(started_at=None).order_by("-started_at").values_list("started_at", flat=True).first()
        if last is None or now - last >= interval:
            queued.append(ci_source_poll_request(source=source, triggered_by="schedule"))
    return queued


def source_token(source: CiSource) -> str:
    if not source.token_env_var:
        return ""
    token = os.environ.get(source.token_env_var, "")
    if not token:
        raise CiConfigError(f"The environment variable {source.token_env_var} (the source's token) is not set.")
    return token


def source_runs(source: CiSource, *, since: datetime | None, client: Any = None) -> tuple[Any, Iterator[CiRunEvent]]:
    """(client, iterator of CiRunEvents) for one source, newest first, since `since` (None: backfill)."""
    timeout = settings.MLGOV_CI_HTTP_TIMEOUT_SECONDS
    pages = settings.MLGOV_CI_POLL_MAX_PAGES
    if source.provider == "github":
        client = client or github.GitHubActionsClient(source.base_url, token=source_token(source), timeout=timeout)
        return client, client.iter_runs(source.target, since=since, max_pages=pages)
    if source.provider == "gitlab":
        client = client or gitlab.GitLabClient(source.base_url, token=source_token(source), timeout=timeout)
        return client, client.iter_pipelines(source.target, since=since, max_pages=pages)
    if source.provider == "jenkins":
        client = client or jenkins.JenkinsClient(source.base_url, token=source_token(source), timeout=timeout)
        repo_url = source.repository.url if source.repository_id else ""
        return client, client.iter_builds(source.target, since=since, repository_url=repo_url, max_pages=pages)
    raise CiConfigError(f"Unknown provider {source.provider!r}.")


class PollRetry(Exception):
    """The CI server was unreachable and this was not the last attempt: the poll went back to the queue."""

    def __init__(self, sync_run_id: int, error: str, retry_after: float | None = None) -> None:
        super().__init__(error)
        self.sync_run_id, self.error, self.retry_after = sync_run_id, error, retry_after


def ci_source_poll_execute(*, source_id: int, sync_run_id: int | None = None, final_attempt: bool = True) -> SyncRun:
    """Poll a source once: every run it reports (since the last successful poll, minus the overlap) goes
    through `ci_run_upsert`. Lifecycle and one-at-a-time are the SyncRun's (target `ci:<name>`).

    Unreachable server and not the last attempt: the SyncRun is requeued and PollRetry raised. Any other
    client error (bad token, not found, bad response) or the last attempt: the SyncRun ends failed.
    """
    source = CiSource.objects.select_related("repository").get(pk=source_id)
    if sync_run_id is None:
        run = sync_run_queue(target=poll_target(source), kind="ci", mode=SyncMode.INCREMENTAL, triggered_by="task")
    else:
        run = SyncRun.objects.get(pk=sync_run_id)
    try:
        run = sync_run_start(sync_run=run)
    except SyncAlreadyRunning as exc:
        sync_run_refuse(sync_run=run, reason=exc.message)
        raise
    except Conflict as exc:
        raise PollNotQueued(exc.message, details=exc.details) from exc
    watermark = getattr(run, "previous_watermark", None)
    since = watermark - timedelta(minutes=settings.MLGOV_SYNC_OVERLAP_MINUTES) if watermark else None
    if since is None:
        SyncRun.objects.filter(pk=run.pk).update(mode=SyncMode.FULL)
    counts = {"seen": 0, "created": 0, "updated": 0, "unchanged": 0, "skipped": 0}
    actor = f"ci-source:{source.name}"
    client, invalid = None, []
    try:
        with acting(source="sync"):
            client, events = source_runs(source, since=since)
            for event in events:
                counts["seen"] += 1
                try:
                    _, verb = ci_run_upsert(actor=actor, event=event)
                except ValidationFailed as exc:
                    invalid.append(f"run {event.run_id}: {exc.message} {exc.details}")
                    continue
                counts[verb] += 1
                if counts["seen"] % 100 == 0:
                    sync_run_progress(sync_run=run, phase="runs", done=counts["seen"])
    except CiClientError as exc:
        if exc.retryable and not final_attempt:
            sync_run_requeue(sync_run=run, error=str(exc))
            raise PollRetry(run.pk, str(exc), getattr(exc, "retry_after", None)) from exc
        errors = [{"level": "error", "kind": type(exc).__name__, "message": str(exc)[:2000]}, *run.errors]
        return sync_run_finish(sync_run=run, status=SyncStatus.FAILED, counts=counts, errors=errors)
    except Exception as exc:
        errors = [{"level": "error", "kind": type(exc).__name__, "message": str(exc)[:2000]}, *run.errors]
        sync_run_finish(sync_run=run, status=SyncStatus.FAILED, counts=counts, errors=errors)
        raise
    skipped = [*getattr(client, "skipped", []), *invalid]
    counts["skipped"] = len(skipped)
    warnings = [{"level": "warning", "message": m[:500]} for m in skipped[:50]]
    CiSource.objects.filter(pk=source.pk).update(last_polled_at=run.started_at)
    return sync_run_finish(sync_run=run, status=SyncStatus.SUCCEEDED, counts=counts, errors=[*run.errors, *warnings])
