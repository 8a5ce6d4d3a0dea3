"""Reads for integrations."""

from __future__ import annotations

from typing import Any

from django.db.models import CharField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Concat

from integrations.models import MlflowConnection, SyncRun


def mlflow_connection_list(*, user: Any) -> QuerySet[MlflowConnection]:
    latest = SyncRun.objects.filter(target=OuterRef("target_key")).order_by("-id")
    return MlflowConnection.objects.annotate(
        target_key=Concat(Value("mlflow:"), "name", output_field=CharField())
    ).annotate(
        last_sync_id=Subquery(latest.values("id")[:1]),
        last_sync_status=Subquery(latest.values("status")[:1]),
        last_sync_finished=Subquery(latest.values("finished_at")[:1]),
    )


def sync_run_list(*, user: Any) -> QuerySet[SyncRun]:
    return SyncRun.objects.all()


def sync_history_for(external_source: str, limit: int) -> list[dict[str, Any]]:
    """The sync-history provider registered with mlgov.inventory.hooks."""
    return list(
        SyncRun.objects.filter(target=external_source)
        .order_by("-id")
        .values("id", "target", "mode", "status", "started_at", "finished_at", "counts")[:limit]
    )
