"""Seed an MLflow SQLite store with thousands of registered model versions, fast, for benchmarks.

Through MLflow's REST API one call at a time, 10,000 versions with their runs are some 50,000
requests; even MLflow's own store API costs 45-75 ms a version (about 75 SQL statements), 8-12 minutes
for 10,000 on a 2-core machine. So (about 11 s for 10,000 versions):

* the first model of the first experiment (its runs with params, metrics, tags, dataset inputs, and
  its versions) and every experiment are written through MLflow's store API
  (`mlflow.store.*.sqlalchemy_store.SqlAlchemyStore`), the code `mlflow server` runs for REST writes;
* everything else is bulk-inserted, in one transaction, into the same tables through MLflow's own
  SQLAlchemy table definitions (`mlflow.store.*.dbmodels.models`), with the values the store API
  would write;
* then `check_fidelity` reads a store-API run, version and model and a bulk-inserted one back through
  the store API and requires the same shape (the same tag, param and metric keys, metric history,
  dataset inputs and their tags, version fields, aliases), so the bulk rows are what MLflow would
  have written.

The store is written before any `mlflow server` opens it, and cached (see `seeded_store`), so repeated
benchmark runs reuse it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("MLFLOW_ENABLE_TELEMETRY", "false")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import mlflow
from mlflow.entities import (
    Dataset,
    DatasetInput,
    ExperimentTag,
    InputTag,
    Metric,
    Param,
    RunStatus,
    RunTag,
    SourceType,
)
from mlflow.entities.model_registry import ModelVersionTag, RegisteredModelTag
from mlflow.store.model_registry.dbmodels import models as reg
from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore as RegistryStore
from mlflow.store.tracking.dbmodels import models as trk
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore as TrackingStore
from sqlalchemy import event, insert, select

# Bump when the seeded data changes: the cache key includes it.
SEED_FORMAT = 1
DB_FILE = "mlflow.db"  # the file name tests/integrations/mlflow_server.MlflowServer serves
METRIC_STEPS = 3
INSERT_BATCH = 5000


@dataclass(frozen=True)
class Shape:
    versions: int
    versions_per_model: int = 10
    models_per_experiment: int = 10
    projects: int = 10  # experiments and models are tagged mlgov.project=<one of these slugs>

    def __post_init__(self) -> None:
        if self.versions < 3 * self.versions_per_model:  # check_fidelity compares models 0, 1 and 2
            raise ValueError(f"seed at least {3 * self.versions_per_model} versions, not {self.versions}")

    @property
    def models(self) -> int:
        return -(-self.versions // self.versions_per_model)

    @property
    def experiments(self) -> int:
        return -(-self.models // self.models_per_experiment)

    @property
    def key(self) -> str:
        return (
            f"mlflow{mlflow.__version__}-f{SEED_FORMAT}-v{self.versions}-per{self.versions_per_model}"
            f"-mpe{self.models_per_experiment}-p{self.projects}"
        )


def project_slug(i: int) -> str:
    return f"sync-bench-{i:02d}"


def _hex(text: str, n: int = 40) -> str:
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:n]


# --------------------------------------------------------------------------------------------------
# What each object holds (one definition, used by both write paths)
# --------------------------------------------------------------------------------------------------


def experiment_name(e: int) -> str:
    return f"bench-exp-{e:03d}"


def experiment_tags(shape: Shape, e: int) -> dict[str, str]:
    # One experiment in ten is left unmapped (no project tag), as in real servers.
    tags = {"team": f"team-{e % 7}"}
    if e % 10 != 9:
        tags["mlgov.project"] = project_slug(e % shape.projects)
    return tags


def model_name(m: int) -> str:
    return f"bench-model-{m:04d}"


def model_tags(shape: Shape, m: int) -> dict[str, str]:
    e = m // shape.models_per_experiment
    tags = {"owner": f"user{m % 17}", "domain": "fraud" if m % 2 else "churn"}
    if e % 10 != 9:
        tags["mlgov.project"] = project_slug(e % shape.projects)
    return tags


def model_aliases(shape: Shape, m: int, n_versions: int) -> dict[str, int]:
    aliases = {"champion": n_versions}
    if m % 2 == 0 and n_versions > 1:
        aliases["challenger"] = n_versions - 1
    return aliases


@dataclass(frozen=True)
class RunSpec:
    experiment: int
    name: str
    user: str
    start_ms: int
    end_ms: int
    tags: dict[str, str]
    params: dict[str, str]
    metrics: dict[str, list[tuple[float, int, int]]]  # key -> [(value, timestamp, step)]
    inputs: list[tuple[str, str, str, str, str, str]]  # (name, digest, source_type, source, schema, profile)
    contexts: list[str]


def run_spec(shape: Shape, k: int, base_ms: int) -> RunSpec:
    """The run behind version k (0-based, across all models)."""
    m, v = divmod(k, shape.versions_per_model)
    v += 1
    e = m // shape.models_per_experiment
    service = m % 3 == 0
    user = "svc-train" if service else f"user{m % 17}"
    # Runs start a minute apart, the newest two days before the seed: older than any sync's watermark.
    start = base_ms - (shape.versions - k) * 60_000
    tags = {
        "mlflow.source.git.commit": _hex(f"commit:{e}:{v}"),
        "mlflow.user": user,
        "mlflow.source.type": "JOB" if service else "LOCAL",
        "mlflow.source.name": "pipelines/train.py" if service else "train.py",
        "team": f"team-{e % 7}",
    }
    params = {
        "learning_rate": str(round(0.01 * (1 + k % 10), 2)),
        "max_depth": str(3 + k % 6),
        "n_estimators": str(100 * (1 + k % 5)),
        "seed": str(k),
        "feature_set": f"fs-{e}-{v % 3}",
    }
    metrics = {
        key: [(round(base + 0.01 * step + (k % 7) / 1000, 6), start + 10_000 * (step + 1), step) for step in range(3)]
        for key, base in (("auc", 0.80), ("f1", 0.70), ("precision", 0.75), ("logloss", 0.30))
    }
    schema = json.dumps({"mlflow_colspec": [{"type": "double", "name": f"x{i}"} for i in range(5)]})
    inputs = [
        (
            f"exp{e:03d}-train",
            _hex(f"train:{e}:{v}", 8),
            "s3",
            json.dumps({"uri": f"s3://bench-data/exp{e:03d}/train-{v}.parquet"}),
            schema,
            json.dumps({"num_rows": 10_000 + v}),
        ),
        (
            f"exp{e:03d}-eval",
            _hex(f"eval:{e}", 8),
            "s3",
            json.dumps({"uri": f"s3://bench-data/exp{e:03d}/eval.parquet"}),
            schema,
            json.dumps({"num_rows": 2_000}),
        ),
    ]
    return RunSpec(
        experiment=e,
        name=f"{model_name(m)}-train-{v}",
        user=user,
        start_ms=start,
        end_ms=start + 45_000,
        tags=tags,
        params=params,
        metrics=metrics,
        inputs=inputs,
        contexts=["training", "evaluation"],
    )


def version_tags(k: int) -> dict[str, str]:
    return {"validation_status": "passed" if k % 4 else "pending"}


# --------------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------------


def _fast_sqlite(*engines: Any) -> None:
    """No fsync per commit while seeding (the file is complete, or thrown away, when seeding ends)."""
    for engine in engines:

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.execute("PRAGMA synchronous=OFF")

        engine.dispose()


def seed(root: Path, shape: Shape) -> dict[str, Any]:
    """Write the store into root/DB_FILE. Returns what was written."""
    root.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{root / DB_FILE}"
    tracking = TrackingStore(uri, str(root / "artifacts"))
    registry = RegistryStore(uri)
    _fast_sqlite(tracking.engine, registry.engine)
    base_ms = int((time.time() - 2 * 86400) * 1000)

    # Experiments, through the store API.
    exp_ids = [
        tracking.create_experiment(
            experiment_name(e), tags=[ExperimentTag(k, v) for k, v in experiment_tags(shape, e).items()]
        )
        for e in range(shape.experiments)
    ]
    artifact_roots = {e: tracking.get_experiment(exp_id).artifact_location for e, exp_id in enumerate(exp_ids)}

    # Model 0: everything through the store API (the reference for check_fidelity).
    api_runs = []
    registry.create_registered_model(
        model_name(0), tags=[RegisteredModelTag(k, v) for k, v in model_tags(shape, 0).items()], description="Model 0."
    )
    n0 = min(shape.versions_per_model, shape.versions)
    for k in range(n0):
        spec = run_spec(shape, k, base_ms)
        run = tracking.create_run(
            exp_ids[spec.experiment],
            spec.user,
            spec.start_ms,
            [RunTag(key, value) for key, value in spec.tags.items()],
            spec.name,
        )
        rid = run.info.run_id
        tracking.log_batch(
            rid,
            metrics=[
                Metric(key, value, ts, step) for key, points in spec.metrics.items() for value, ts, step in points
            ],
            params=[Param(key, value) for key, value in spec.params.items()],
            tags=[],
        )
        tracking.log_inputs(
            rid,
            datasets=[
                DatasetInput(Dataset(*values), tags=[InputTag("mlflow.data.context", context)])
                for values, context in zip(spec.inputs, spec.contexts, strict=True)
            ],
        )
        tracking.update_run_info(rid, RunStatus.FINISHED, spec.end_ms, spec.name)
        registry.create_model_version(
            model_name(0),
            source=f"runs:/{rid}/model",
            run_id=rid,
            tags=[ModelVersionTag(key, value) for key, value in version_tags(k).items()],
        )
        api_runs.append(rid)
    for alias, version in model_aliases(shape, 0, n0).items():
        registry.set_registered_model_alias(model_name(0), alias, str(version))

    # Everything else: bulk inserts with the values the store API writes (see the module docstring).
    bulk_runs = _bulk(tracking, shape, exp_ids, artifact_roots, base_ms, first=n0)
    return {"api_runs": api_runs, "bulk_runs": bulk_runs, "experiment_ids": exp_ids}


def _bulk(
    tracking: TrackingStore, shape: Shape, exp_ids: list[str], artifact_roots: dict[int, str], base_ms: int, first: int
) -> list[str]:
    rows: dict[Any, list[dict[str, Any]]] = {
        t: []
        for t in (
            trk.SqlRun,
            trk.SqlTag,
            trk.SqlParam,
            trk.SqlMetric,
            trk.SqlLatestMetric,
            trk.SqlDataset,
            trk.SqlInput,
            trk.SqlInputTag,
            reg.SqlRegisteredModel,
            reg.SqlRegisteredModelTag,
            reg.SqlModelVersion,
            reg.SqlModelVersionTag,
            reg.SqlRegisteredModelAlias,
        )
    }
    with tracking.engine.begin() as conn:
        datasets = {
            (str(d.experiment_id), d.name, d.digest): d.dataset_uuid
            for d in conn.execute(select(trk.SqlDataset.__table__)).all()
        }
    created_ms = int(time.time() * 1000)
    run_ids = []
    for k in range(first, shape.versions):
        m, v = divmod(k, shape.versions_per_model)
        v += 1
        spec = run_spec(shape, k, base_ms)
        exp_id = exp_ids[spec.experiment]
        rid = uuid.uuid4().hex
        run_ids.append(rid)
        # create_run + update_run_info
        rows[trk.SqlRun].append(
            {
                "run_uuid": rid,
                "name": spec.name,
                "artifact_uri": f"{artifact_roots[spec.experiment]}/{rid}/artifacts",
                "experiment_id": int(exp_id),
                "source_type": SourceType.to_string(SourceType.UNKNOWN),
                "source_name": "",
                "entry_point_name": "",
                "user_id": spec.user,
                "status": RunStatus.to_string(RunStatus.FINISHED),
                "start_time": spec.start_ms,
                "end_time": spec.end_ms,
                "deleted_time": None,
                "source_version": "",
                "lifecycle_stage": "active",
            }
        )
        for key, value in {**spec.tags, "mlflow.runName": spec.name}.items():
            rows[trk.SqlTag].append({"key": key, "value": value, "run_uuid": rid})
        # log_batch
        for key, value in spec.params.items():
            rows[trk.SqlParam].append({"key": key, "value": value, "run_uuid": rid})
        for key, points in spec.metrics.items():
            for value, ts, step in points:
                rows[trk.SqlMetric].append(
                    {"key": key, "value": value, "timestamp": ts, "step": step, "is_nan": False, "run_uuid": rid}
                )
            value, ts, step = max(points, key=lambda p: (p[2], p[1]))
            rows[trk.SqlLatestMetric].append(
                {"key": key, "value": value, "timestamp": ts, "step": step, "is_nan": False, "run_uuid": rid}
            )
        # log_inputs: one dataset row per (experiment, name, digest), one input edge and its tag per run
        for (name, digest, source_type, source, schema, profile), context in zip(
            spec.inputs, spec.contexts, strict=True
        ):
            key = (exp_id, name, digest)
            if key not in datasets:
                datasets[key] = uuid.uuid4().hex
                rows[trk.SqlDataset].append(
                    {
                        "dataset_uuid": datasets[key],
                        "experiment_id": int(exp_id),
                        "name": name,
                        "digest": digest,
                        "dataset_source_type": source_type,
                        "dataset_source": source,
                        "dataset_schema": schema,
                        "dataset_profile": profile,
                    }
                )
            input_uuid = uuid.uuid4().hex
            rows[trk.SqlInput].append(
                {
                    "input_uuid": input_uuid,
                    "source_type": "DATASET",
                    "source_id": datasets[key],
                    "destination_type": "RUN",
                    "destination_id": rid,
                    "step": 0,
                }
            )
            rows[trk.SqlInputTag].append({"input_uuid": input_uuid, "name": "mlflow.data.context", "value": context})
        # create_registered_model (first version of each model) + create_model_version
        n_versions = min(shape.versions_per_model, shape.versions - m * shape.versions_per_model)
        if v == 1:
            rows[reg.SqlRegisteredModel].append(
                {
                    "name": model_name(m),
                    "creation_time": created_ms,
                    "last_updated_time": created_ms,
                    "description": f"Model {m}.",
                }
            )
            for key, value in model_tags(shape, m).items():
                rows[reg.SqlRegisteredModelTag].append({"name": model_name(m), "key": key, "value": value})
            for alias, version in model_aliases(shape, m, n_versions).items():
                rows[reg.SqlRegisteredModelAlias].append({"name": model_name(m), "alias": alias, "version": version})
        source = f"runs:/{rid}/model"
        rows[reg.SqlModelVersion].append(
            {
                "name": model_name(m),
                "version": v,
                "creation_time": created_ms,
                "last_updated_time": created_ms,
                "description": None,
                "user_id": None,
                "current_stage": "None",
                "source": source,
                "storage_location": source,
                "run_id": rid,
                "run_link": None,
                "status": "READY",
                "status_message": None,
            }
        )
        for key, value in version_tags(k).items():
            rows[reg.SqlModelVersionTag].append({"name": model_name(m), "version": v, "key": key, "value": value})
    with tracking.engine.begin() as conn:
        for table, values in rows.items():  # dict order is foreign-key order
            for i in range(0, len(values), INSERT_BATCH):
                conn.execute(insert(table.__table__), values[i : i + INSERT_BATCH])
    return run_ids


# --------------------------------------------------------------------------------------------------
# Checking
# --------------------------------------------------------------------------------------------------


def _run_shape(tracking: TrackingStore, run_id: str) -> dict[str, Any]:
    run = tracking.get_run(run_id)
    info = run.info
    return {
        "info": sorted(f.name for f, _ in info.to_proto().ListFields()),
        "status": info.status,
        "lifecycle": info.lifecycle_stage,
        "artifact_uri_tail": info.artifact_uri.rsplit("/", 2)[-1],
        "tags": sorted(run.data.tags),
        "params": sorted(run.data.params),
        "metrics": sorted(run.data.metrics),
        "history": {k: len(tracking.get_metric_history(run_id, k)) for k in sorted(run.data.metrics)},
        "inputs": sorted(
            (
                sorted(f.name for f, _ in di.dataset.to_proto().ListFields()),
                sorted((t.key, t.value) for t in di.tags),
            )
            for di in run.inputs.dataset_inputs
        ),
    }


def _version_shape(registry: RegistryStore, name: str, version: str) -> dict[str, Any]:
    mv = registry.get_model_version(name, version)
    return {
        "fields": sorted(f.name for f, _ in mv.to_proto().ListFields()),
        "status": mv.status,
        "stage": mv.current_stage,
        "source_scheme": mv.source.split(":", 1)[0],
        "tags": sorted(mv.tags),
    }


def _model_shape(registry: RegistryStore, name: str) -> dict[str, Any]:
    rm = registry.get_registered_model(name)
    return {
        "fields": sorted(f.name for f, _ in rm.to_proto().ListFields()),
        "tags": sorted(rm.tags),
        "aliases": sorted(rm.aliases),
        "latest": [(v.current_stage, v.status) for v in rm.latest_versions],
    }


def check_fidelity(root: Path, shape: Shape, seeded: dict[str, Any]) -> None:
    """A bulk-inserted run, version and model read back like the store-API ones (raises if not)."""
    uri = f"sqlite:///{root / DB_FILE}"
    tracking = TrackingStore(uri, str(root / "artifacts"))
    registry = RegistryStore(uri)
    api, bulk = seeded["api_runs"][0], seeded["bulk_runs"][0]
    pairs = [
        ("run", _run_shape(tracking, api), _run_shape(tracking, bulk)),
        ("version", _version_shape(registry, model_name(0), "1"), _version_shape(registry, model_name(1), "1")),
        ("model", _model_shape(registry, model_name(0)), _model_shape(registry, model_name(2))),
    ]
    for kind, expected, got in pairs:
        if expected != got:
            raise AssertionError(f"bulk-seeded {kind} differs from the store-API one:\n{expected}\n{got}")
    found = len(registry.search_model_versions(max_results=shape.versions + 1))
    if found != shape.versions:
        raise AssertionError(f"seeded {found} model versions, expected {shape.versions}")
    for store in (tracking, registry):
        store.engine.dispose()


def seeded_store(cache: Path, shape: Shape) -> tuple[Path, float | None]:
    """The cached store for `shape` (seeded now if missing). Returns (directory, seconds spent seeding
    or None when it came from the cache)."""
    final = cache / shape.key
    if (final / DB_FILE).exists():
        return final, None
    started = time.perf_counter()
    partial = cache / f"{shape.key}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    seeded = seed(partial, shape)
    check_fidelity(partial, shape, seeded)
    shutil.rmtree(partial / "artifacts", ignore_errors=True)
    try:
        partial.rename(final)
    except OSError:  # another benchmark process seeded the same store meanwhile: keep theirs
        shutil.rmtree(partial, ignore_errors=True)
    return final, time.perf_counter() - started
