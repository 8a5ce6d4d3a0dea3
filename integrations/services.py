"""Writes for integrations: connections, and the lifecycle of a SyncRun."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from integrations.choices import SyncMode, SyncStatus
from integrations.hooks import SyncSucceeded, sync_succeeded
from integrations.models import MlflowConnection, SyncRun
from mlgov.audit.services import audit_record, snapshot
from mlgov.errors import Conflict, ValidationFailed

CONNECTION_FIELDS = (
    "name",
    "tracking_uri",
    "token_env_var",
    "mapping",
    "enabled",
    "sync_interval_minutes",
    "full_sync_every",
    "description",
)


class SyncAlreadyRunning(Conflict):
    code = "sync_running"


def _check_uri(uri: str) -> None:
    if not uri.startswith(("http://", "https://", "sqlite:///", "file:", "/")):
        raise ValidationFailed(
            "tracking_uri must be http(s)://, sqlite:///, file: or an absolute path.", details={"tracking_uri": uri}
        )


@transaction.atomic
def mlflow_connection_upsert(*, actor: Any, name: str, **values: Any) -> tuple[MlflowConnection, str]:
    """Create or update a connection by name. Returns (connection, 'created'|'updated'|'unchanged')."""
    unknown = set(values) - set(CONNECTION_FIELDS)
    if unknown:
        raise ValidationFailed(f"Unknown connection field(s): {', '.join(sorted(unknown))}")
    if "tracking_uri" in values:
        _check_uri(values["tracking_uri"])
    conn = MlflowConnection.objects.select_for_update().filter(name=name).first()
    if conn is None:
        conn = MlflowConnection(name=name, **values)
        conn.full_clean()
        conn.save()
        audit_record(
            actor=actor, action="mlflowconnection.created", target=conn, after=snapshot(conn, CONNECTION_FIELDS)
        )
        return conn, "created"
    before = snapshot(conn, CONNECTION_FIELDS)
    for key, value in values.items():
        setattr(conn, key, value)
    after = snapshot(conn, CONNECTION_FIELDS)
    if after == before:
        return conn, "unchanged"
    conn.full_clean()
    conn.save()
    audit_record(actor=actor, action="mlflowconnection.updated", target=conn, before=before, after=after)
    return conn, "updated"


@transaction.atomic
def mlflow_connection_delete(*, actor: Any, connection: MlflowConnection) -> None:
    audit_record(
        actor=actor,
        action="mlflowconnection.deleted",
        target=connection,
        before=snapshot(connection, CONNECTION_FIELDS),
    )
    connection.delete()


def sync_run_queue(*, target: str, kind: str, mode: str = SyncMode.INCREMENTAL, triggered_by: str = "") -> SyncRun:
    if mode not in SyncMode.values:
        raise ValidationFailed(f"Unknown sync mode {mode!r}.", details={"allowed": list(SyncMode.values)})
    return SyncRun.objects.create(target=target, kind=kind, mode=mode, triggered_by=triggered_by[:150])


def sync_runs_expire_stale(*, target: str, exclude_pk: int | None = None) -> int:
    """Fail the target's runs that can no longer finish: a running row whose worker died, or a queued row
    whose task message was lost (e.g. the broker was down at commit). Either would block the target."""
    limit = timezone.now() - timedelta(minutes=settings.MLGOV_SYNC_STALE_MINUTES)
    stale = SyncRun.objects.filter(target=target).filter(
        Q(status=SyncStatus.RUNNING, started_at__lt=limit) | Q(status=SyncStatus.QUEUED, created_at__lt=limit)
    )
    if exclude_pk is not None:
        stale = stale.exclude(pk=exclude_pk)
    count = 0
    for run in stale:
        reason = (
            "abandoned: no progress within the stale limit"
            if run.status == SyncStatus.RUNNING
            else ("abandoned: queued but never started within the stale limit")
        )
        with transaction.atomic():
            run.status, run.finished_at = SyncStatus.FAILED, timezone.now()
            run.errors = [*run.errors, {"level": "error", "message": reason}]
            run.save(update_fields=["status", "finished_at", "errors"])
            audit_record(actor="system", action="sync.failed", target=run, after={"reason": reason}, source="task")
        count += 1
    return count


def sync_run_start(*, sync_run: SyncRun) -> SyncRun:
    """queued -> running. Refused with SyncAlreadyRunning when the target has a running sync."""
    sync_runs_expire_stale(target=sync_run.target, exclude_pk=sync_run.pk)
    last_ok = (
        SyncRun.objects.filter(target=sync_run.target, status=SyncStatus.SUCCEEDED)
        .exclude(pk=sync_run.pk)
        .order_by("-id")
        .values_list("watermark", flat=True)
        .first()
    )
    now = timezone.now()
    try:
        with transaction.atomic():
            updated = SyncRun.objects.filter(pk=sync_run.pk, status=SyncStatus.QUEUED).update(
                status=SyncStatus.RUNNING,
                started_at=now,
                watermark=now,
                attempts=sync_run.attempts + 1,
                progress={"phase": "starting"},
            )
            if not updated:
                raise Conflict(f"Sync #{sync_run.pk} is not queued.", details={"status": sync_run.status})
            audit_record(
                actor=sync_run.triggered_by or "system",
                action="sync.started",
                target=sync_run,
                after={"target": sync_run.target, "mode": sync_run.mode},
                source="sync",
            )
    except IntegrityError as exc:
        raise SyncAlreadyRunning(
            f"A sync of {sync_run.target} is already running.", details={"target": sync_run.target}
        ) from exc
    sync_run.refresh_from_db()
    sync_run.previous_watermark = last_ok  # type: ignore[attr-defined]
    return sync_run


def sync_run_progress(*, sync_run: SyncRun, **progress: Any) -> None:
    """Live progress, committed at once so pages and the API can show it while the sync runs."""
    SyncRun.objects.filter(pk=sync_run.pk).update(progress=progress)


@transaction.atomic
def sync_run_finish(*, sync_run: SyncRun, status: str, counts: dict[str, Any], errors: list[dict[str, Any]]) -> SyncRun:
    sync_run.status, sync_run.finished_at = status, timezone.now()
    sync_run.counts, sync_run.errors = counts, errors[:200]
    sync_run.progress = {"phase": "done" if status == SyncStatus.SUCCEEDED else "failed"}
    sync_run.save(update_fields=["status", "finished_at", "counts", "errors", "progress"])
    action = "sync.succeeded" if status == SyncStatus.SUCCEEDED else "sync.failed"
    audit_record(
        actor=sync_run.triggered_by or "system",
        action=action,
        target=sync_run,
        source="sync",
        after={"target": sync_run.target, "counts": counts, "errors": errors[:5]},
    )
    if status == SyncStatus.SUCCEEDED:
        event = SyncSucceeded(sync_run_id=sync_run.pk, target=sync_run.target, kind=sync_run.kind)
        transaction.on_commit(lambda: sync_succeeded(event))
    return sync_run


@transaction.atomic
def sync_run_refuse(*, sync_run: SyncRun, reason: str) -> SyncRun:
    sync_run.status, sync_run.finished_at = SyncStatus.FAILED, timezone.now()
    sync_run.errors = [{"level": "error", "message": reason}]
    sync_run.save(update_fields=["status", "finished_at", "errors"])
    audit_record(
        actor=sync_run.triggered_by or "system",
        action="sync.refused",
        target=sync_run,
        after={"reason": reason},
        source="sync",
    )
    return sync_run


def sync_run_requeue(*, sync_run: SyncRun, error: str) -> None:
    """running -> queued before a retry, releasing the target for the next attempt."""
    SyncRun.objects.filter(pk=sync_run.pk, status=SyncStatus.RUNNING).update(
        status=SyncStatus.QUEUED,
        errors=[*sync_run.errors, {"level": "warning", "message": f"retrying: {error}"}],
    )
