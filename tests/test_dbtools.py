"""`mlgov.dbtools.insert_rows`: rows written without the ORM read back as the ORM would have written them,
on SQLite and PostgreSQL (marker `portable`)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from mlgov.dbtools import insert_rows
from mlgov.inventory.models import LineageEdge, LineageNode, RunInput
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.portable]

FIELDS = ("upstream_kind", "downstream_kind", "relation", "source", "observed_at", "ended_at", "attributes")
T0 = datetime(2026, 11, 30, 12, 30, 15, 123456, tzinfo=UTC)
ATTRIBUTES = {"run_id": "ab12", "nested": {"ü": [1, 2.5, None, True]}, "quote": 'a "b"'}


def _nodes(n: int) -> list[LineageNode]:
    return [LineageNode.objects.create(kind="dataset", key=f"d{i}", label=f"d{i}") for i in range(n)]


def test_rows_read_back_as_the_orms():
    a, b, c = _nodes(3)
    orm = LineageEdge.objects.create(
        upstream=a,
        downstream=b,
        upstream_kind="dataset",
        downstream_kind="dataset",
        relation="derived_from",
        source="openlineage",
        observed_at=T0,
        attributes=ATTRIBUTES,
    )
    insert_rows(
        LineageEdge,
        ("upstream_id", "downstream_id", *FIELDS, "recorded_at"),
        [(a.pk, c.pk, "dataset", "dataset", "derived_from", "openlineage", T0, None, ATTRIBUTES, T0)],
    )
    raw = LineageEdge.objects.get(downstream=c)
    assert [getattr(raw, f) for f in FIELDS] == [getattr(LineageEdge.objects.get(pk=orm.pk), f) for f in FIELDS]
    assert raw.observed_at == T0  # microseconds and the time zone survive
    assert raw.upstream_id == a.pk


def test_many_rows_few_statements_and_conflicts_ignored_on_request():
    runs = [factories.TrainingRunFactory() for _ in range(3)]
    datasets = [factories.DatasetFactory() for _ in range(4)]
    rows = [(r.pk, d.pk, ctx) for r in runs for d in datasets for ctx in ("training", "eval")]
    with CaptureQueriesContext(connection) as ctx:
        assert insert_rows(RunInput, ("run_id", "dataset_id", "context"), rows) == 24
    assert len(ctx.captured_queries) == 1  # one COPY, or one multi-row INSERT
    assert RunInput.objects.count() == 24
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_rows(RunInput, ("run_id", "dataset_id", "context"), rows[:1])  # Django's error, both paths
    insert_rows(
        RunInput,
        ("run_id", "dataset_id", "context"),
        [*rows[:2], (runs[0].pk, datasets[0].pk, "new")],
        ignore_conflicts=True,
    )
    assert RunInput.objects.count() == 25


def test_nothing_to_insert_sends_nothing():
    with CaptureQueriesContext(connection) as ctx:
        assert insert_rows(RunInput, ("run_id", "dataset_id", "context"), []) == 0
    assert ctx.captured_queries == []


def test_objects_take_what_save_would_store():
    """insert_objects fills auto_now fields through pre_save and stores JSON and foreign keys as save does."""
    from mlgov.dbtools import insert_objects
    from mlgov.inventory.models import ModelVersion

    model = factories.RegisteredModelFactory()
    saved = factories.ModelVersionFactory(model=model, tags={"ü": "✓", "n": [1, None]}, metrics={"auc": 0.91})
    unsaved = ModelVersion(
        model=model,
        version="99",
        external_source=saved.external_source,
        external_id=f"{model.name}/99",
        tags=saved.tags,
        metrics=saved.metrics,
        registered_at=saved.registered_at,
    )
    assert insert_objects([unsaved]) == 1
    assert unsaved.created_at is not None  # pre_save ran (auto_now_add)
    stored = ModelVersion.objects.get(external_id=f"{model.name}/99")
    assert (stored.model_id, stored.tags, stored.metrics, stored.registered_at) == (
        model.pk,
        saved.tags,
        saved.metrics,
        saved.registered_at,
    )
    assert stored.created_at is not None
