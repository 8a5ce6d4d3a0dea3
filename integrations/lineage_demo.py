"""The demo's OpenLineage step: the upstream ETL jobs that built the demo's training datasets.

After `seed_demo` has synced the demo MLflow store, this sends OpenLineage RunEvents, as Airflow, Spark
and dbt would, through the same path `POST /api/v1/lineage` takes (parse, check, ingest): for the latest
snapshots of each training dataset the demo's runs consumed, one ETL run (START, then COMPLETE) reading
raw tables and writing that snapshot, with its version facet (the MLflow digest), its schema, and a
producer-specific facet mlgov does not know (kept as is). Run ids and times derive from the snapshot, so
running the step again finds every event a duplicate and changes nothing.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Min

from mlgov.inventory.models import Dataset, RunInput
from mlgov.inventory.openlineage import SCHEMA_URL, parse_body, parse_run_event
from mlgov.inventory.openlineage_services import lineage_event_ingest

ACTOR = "demo:openlineage"
SNAPSHOTS_PER_DATASET = 3


@dataclass(frozen=True)
class EtlJob:
    producer: str
    namespace: str
    name: str
    inputs: tuple[tuple[str, str], ...]  # (namespace, name) of the raw tables it reads


# Keyed by the demo dataset's name (integrations/demo.py).
ETL_JOBS = {
    "card-transactions-train": EtlJob(
        "https://github.com/apache/airflow/tree/providers-openlineage/2.2.0",
        "airflow-prod",
        "fraud_features.build_card_transactions",
        (("s3://acme-raw", "payments/card_authorisations"), ("s3://acme-raw", "payments/chargebacks")),
    ),
    "card-transactions-holdout": EtlJob(
        "https://github.com/apache/airflow/tree/providers-openlineage/2.2.0",
        "airflow-prod",
        "fraud_features.build_card_holdout",
        (("s3://acme-raw", "payments/card_authorisations"),),
    ),
    "login-events-train": EtlJob(
        "https://github.com/OpenLineage/OpenLineage/tree/1.30.0/integration/spark",
        "spark-prod",
        "ato.sessionise_logins",
        (("kafka://events.acme.internal:9092", "auth.login_events"),),
    ),
    "loan-applications-train": EtlJob(
        "https://github.com/OpenLineage/OpenLineage/tree/1.30.0/integration/dbt",
        "dbt-prod",
        "credit_risk.loan_applications",
        (
            ("postgres://core-banking.acme.internal:5432", "lending.public.applications"),
            ("postgres://core-banking.acme.internal:5432", "lending.public.bureau_scores"),
        ),
    ),
    "store-sales-daily": EtlJob(
        "https://github.com/apache/airflow/tree/providers-openlineage/2.2.0",
        "airflow-prod",
        "forecasting.store_sales_daily",
        (
            ("snowflake://acme.eu-west-1", "RETAIL.SALES.DAILY_POS"),
            ("snowflake://acme.eu-west-1", "RETAIL.MASTER.STORES"),
        ),
    ),
}


def _split(uri: str) -> tuple[str, str]:
    scheme, _, rest = uri.rstrip("/").partition("://")
    host, _, path = rest.partition("/")
    return f"{scheme}://{host}", path


def _facet(producer: str, schema: str, **values: Any) -> dict[str, Any]:
    return {"_producer": producer, "_schemaURL": schema, **values}


def _events(job: EtlJob, dataset: Dataset, first_used: Any) -> list[dict[str, Any]]:
    namespace, name = _split(dataset.source)
    finished = first_used - timedelta(hours=2)
    started = finished - timedelta(minutes=17)
    run_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"mlgov-demo:etl:{dataset.external_id}"))
    columns = [c for c in (dataset.schema or {}).get("mlflow_colspec", []) if isinstance(c, dict)]
    inputs = [{"namespace": ns, "name": n, "facets": {}} for ns, n in job.inputs]
    output = {
        "namespace": namespace,
        "name": name,
        "facets": {
            "version": _facet(
                job.producer,
                "https://openlineage.io/spec/facets/1-0-1/DatasetVersionDatasetFacet.json#/$defs/DatasetVersionDatasetFacet",
                datasetVersion=dataset.digest,
            ),
            "schema": _facet(
                job.producer,
                "https://openlineage.io/spec/facets/1-1-1/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet",
                fields=[{"name": str(c.get("name")), "type": str(c.get("type"))} for c in columns],
            ),
        },
        "outputFacets": {
            "outputStatistics": _facet(
                job.producer,
                "https://openlineage.io/spec/facets/1-0-2/OutputStatisticsOutputDatasetFacet.json"
                "#/$defs/OutputStatisticsOutputDatasetFacet",
                rowCount=int((dataset.profile or {}).get("num_rows", 0) or 0),
            )
        },
    }
    base = {
        "producer": job.producer,
        "schemaURL": SCHEMA_URL,
        "job": {
            "namespace": job.namespace,
            "name": job.name,
            "facets": {
                "jobType": _facet(
                    job.producer,
                    "https://openlineage.io/spec/facets/2-0-3/JobTypeJobFacet.json#/$defs/JobTypeJobFacet",
                    processingType="BATCH",
                    integration=job.namespace.split("-")[0].upper(),
                    jobType="TASK",
                ),
            },
        },
    }
    start = {
        **base,
        "eventType": "START",
        "eventTime": started.isoformat(),
        "run": {
            "runId": run_id,
            "facets": {
                "acme_scheduler": _facet(job.producer, "https://acme.example/schemas/scheduler.json", queue="etl")
            },
        },
        "inputs": inputs,
        "outputs": [],
    }
    complete = {
        **base,
        "eventType": "COMPLETE",
        "eventTime": finished.isoformat(),
        "run": {"runId": run_id, "facets": {}},
        "inputs": inputs,
        "outputs": [output],
    }
    return [start, complete]


def send_demo_lineage() -> str:
    """The demo step: send the ETL runs' events through the ingest path. Idempotent."""
    snapshots = (
        RunInput.objects.filter(dataset__name__in=list(ETL_JOBS), dataset__external_source__startswith="mlflow:")
        .exclude(dataset__source="")
        .values("dataset")
        .annotate(first_used=Min("run__started_at"))
        .order_by("-first_used")
    )
    chosen: dict[str, list[tuple[int, Any]]] = {}
    for row in snapshots:
        if row["first_used"] is None:
            continue
        chosen.setdefault(row["dataset"], []).append(row["first_used"])
    datasets = {d.pk: d for d in Dataset.objects.filter(pk__in=list(chosen))}
    per_name: dict[str, list[tuple[Dataset, Any]]] = {}
    for pk, times in chosen.items():
        per_name.setdefault(datasets[pk].name, []).append((datasets[pk], min(times)))
    created = duplicates = runs = 0
    for name, items in sorted(per_name.items()):
        for dataset, first_used in sorted(items, key=lambda i: i[1], reverse=True)[:SNAPSHOTS_PER_DATASET]:
            if "://" not in dataset.source:
                continue
            runs += 1
            for body in _events(ETL_JOBS[name], dataset, first_used):
                raw = json.dumps(body).encode()
                payload = parse_body(raw, max_depth=settings.MLGOV_LINEAGE_MAX_DEPTH)
                result = lineage_event_ingest(actor=ACTOR, event=parse_run_event(payload), payload=payload)
                created += result.created
                duplicates += not result.created
    return (
        f"{created + duplicates} OpenLineage events for {runs} ETL runs deriving the training datasets from raw "
        f"tables ({created} new, {duplicates} already there)"
    )
