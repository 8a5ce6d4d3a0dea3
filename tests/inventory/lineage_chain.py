"""A lineage chain built through the real inventory services (the paths the syncs and webhooks use):
dataset -> run <- commit, CI run built commit and executed run, run -> version -> alias."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from mlgov.inventory import services
from mlgov.inventory.models import Dataset, ModelVersion, PipelineRun, TrainingRun
from mlgov.inventory.sync_services import synced_batch_upsert, synced_run_links_replace
from tests import factories

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SOURCE = "mlflow:test"


@dataclass
class Chain:
    dataset: Dataset
    raw: Dataset
    run: TrainingRun
    version: ModelVersion
    pipeline_run: PipelineRun
    commit: str


def build_chain(*, prefix: str = "c", commit: str = "a1" * 20, actor: str = "sync:test") -> Chain:
    project = factories.ProjectFactory()
    raw = factories.DatasetFactory(project=project, name=f"{prefix}-raw", source="s3://raw/events")
    ds = synced_batch_upsert(
        actor=actor,
        model=Dataset,
        external_source=SOURCE,
        rows=[
            {
                "external_id": f"{prefix}-train@d1",
                "name": f"{prefix}-train",
                "digest": "d1",
                "source_type": "s3",
                "source": f"s3://bucket/{prefix}-train/",
                "project": project,
            }
        ],
    ).objects[f"{prefix}-train@d1"]
    experiment = factories.ExperimentFactory(project=project)
    run_id = (prefix.encode().hex() + "0" * 32)[:32]  # MLflow run ids are 32 hex digits
    run = synced_batch_upsert(
        actor=actor,
        model=TrainingRun,
        external_source=SOURCE,
        rows=[
            {
                "external_id": run_id,
                "name": f"{prefix}-run",
                "status": "FINISHED",
                "git_commit": commit,
                "started_at": T0,
                "ended_at": T0 + timedelta(minutes=20),
                "project": project,
                "experiment": experiment,
                "tags": {"mlflow.source.git.repoURL": "https://github.com/acme/card-fraud"},
            }
        ],
    ).objects[run_id]
    synced_run_links_replace(actor=actor, run_ids=[run.pk], inputs={run.pk: [(ds.pk, "training")]}, features={})
    model = factories.RegisteredModelFactory(project=project, name=f"{prefix}-model")
    version = synced_batch_upsert(
        actor=actor,
        model=ModelVersion,
        external_source=SOURCE,
        rows=[
            {
                "external_id": f"{model.name}/1",
                "model": model,
                "version": "1",
                "status": "READY",
                "run_id": run.external_id,
                "training_run": run,
                "git_commit": commit,
                "metrics": {"auc": 0.93},
                "registered_at": T0 + timedelta(minutes=25),
            }
        ],
    ).objects[f"{model.name}/1"]
    pipeline = factories.PipelineFactory(project=project, external_source="repo:github.com/acme/card-fraud")
    pipeline_run, _ = services.pipeline_run_upsert(
        actor="webhook:github",
        pipeline=pipeline,
        external_id=f"{prefix}-1001",
        status="success",
        commit_sha=commit,
        started_at=T0 - timedelta(minutes=4),
        finished_at=T0 + timedelta(minutes=30),
    )
    return Chain(dataset=ds, raw=raw, run=run, version=version, pipeline_run=pipeline_run, commit=commit)
