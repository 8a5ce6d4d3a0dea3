"""Reads for CI sources and webhook deliveries."""

from __future__ import annotations

from typing import Any

from django.db.models import CharField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Concat

from integrations.models import CiSource, SyncRun, WebhookDelivery


def ci_source_list(*, user: Any) -> QuerySet[CiSource]:
    latest = SyncRun.objects.filter(target=OuterRef("target_key")).order_by("-id")
    return (
        CiSource.objects.select_related("repository")
        .annotate(target_key=Concat(Value("ci:"), "name", output_field=CharField()))
        .annotate(
            last_poll_id=Subquery(latest.values("id")[:1]),
            last_poll_status=Subquery(latest.values("status")[:1]),
            last_poll_finished=Subquery(latest.values("finished_at")[:1]),
        )
    )


def webhook_delivery_list(*, user: Any) -> QuerySet[WebhookDelivery]:
    return WebhookDelivery.objects.all()
