"""The demo's OpenLineage step: ETL runs upstream of the training datasets, sent through the ingest path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from integrations.hooks import demo_steps
from integrations.lineage_demo import send_demo_lineage
from mlgov.inventory.models import Dataset, LineageEdge, LineageEvent, PipelineRun, RunInput
from tests import factories

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_the_step_is_registered_and_idempotent():
    assert "OpenLineage ETL events" in [label for label, _ in demo_steps()]
    datasets = []
    for i in range(4):  # four snapshots; the step takes the latest three
        d = factories.DatasetFactory(
            name="card-transactions-train",
            digest=f"digest{i}",
            source=f"s3://acme-ml/fraud/card-transactions/snapshot=v{i}/",
            external_source="mlflow:demo",
            schema={"mlflow_colspec": [{"name": "amount", "type": "double"}]},
        )
        run = factories.TrainingRunFactory(started_at=T0 + timedelta(days=i))
        RunInput.objects.create(run=run, dataset=d, context="training")
        datasets.append(d)

    first = send_demo_lineage()
    assert first.startswith("6 OpenLineage events for 3 ETL runs")
    assert "(6 new, 0 already there)" in first
    assert send_demo_lineage().endswith("(0 new, 6 already there)")

    assert LineageEvent.objects.count() == 6
    runs = PipelineRun.objects.filter(pipeline__provider="openlineage")
    assert runs.count() == 3
    assert {r.status for r in runs} == {"success"}
    # The outputs matched the MLflow snapshots (by location and digest): no duplicate datasets.
    assert not Dataset.objects.filter(external_source="openlineage", name__contains="card-transactions").exists()
    raw = Dataset.objects.filter(external_source="openlineage")
    assert sorted(raw.values_list("name", flat=True)) == ["payments/card_authorisations", "payments/chargebacks"]
    derived = LineageEdge.objects.filter(relation="derived_from", downstream__kind="dataset")
    assert {int(e.downstream.key) for e in derived} == {d.pk for d in datasets[1:]}
    kept = LineageEvent.objects.filter(event_type="START").first().payload["run"]["facets"]
    assert "acme_scheduler" in kept  # a facet mlgov does not know, kept
