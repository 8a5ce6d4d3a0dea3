"""OpenLineage out: a model version's upstream as OpenLineage RunEvents (spec 2-0-2).

One event per run in the model version's upstream (CI and OpenLineage pipeline runs first, then training
runs, each in time order), with the datasets it consumed as inputs and what it produced as outputs. The
training run that produced the version lists the version itself as an output dataset carrying mlgov's
custom facet `mlgov_model` (the version, its aliases now and before, its metrics, its run; schema served
at /api/v1/lineage/facets/MlgovModelDatasetFacet.json). Dataset-to-dataset derivations that no run
explains (an OpenLineage dataset and the MLflow snapshot at its location) become one `mlgov` job event
each. A read: a fixed number of queries for a given depth.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.utils import timezone

from mlgov.inventory.graph import MAX_DEPTH, Node, Query
from mlgov.inventory.lineage_selectors import lineage_query
from mlgov.inventory.models import Dataset, LineageEdge, LineageNode, ModelAlias, ModelVersion, PipelineRun, TrainingRun
from mlgov.inventory.openlineage import (
    MODEL_FACET,
    dataset_name,
    facet,
    iso,
    run_event,
    run_uuid,
)

VERSION_FACET = (
    "https://openlineage.io/spec/facets/1-0-1/DatasetVersionDatasetFacet.json#/$defs/DatasetVersionDatasetFacet"
)
SCHEMA_FACET = "https://openlineage.io/spec/facets/1-1-1/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet"
SOURCE_FACET = (
    "https://openlineage.io/spec/facets/1-0-1/SourceCodeLocationJobFacet.json#/$defs/SourceCodeLocationJobFacet"
)
_EVENT_TYPE = {"success": "COMPLETE", "failure": "FAIL", "cancelled": "ABORT", "skipped": "ABORT"}
_MLFLOW_EVENT_TYPE = {"FINISHED": "COMPLETE", "FAILED": "FAIL", "KILLED": "ABORT"}


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _dataset(d: Dataset, producer: str) -> dict[str, Any]:
    origin = (d.profile or {}).get("openlineage") if isinstance(d.profile, dict) else None
    if isinstance(origin, dict) and origin.get("namespace") and origin.get("name"):
        namespace, name = str(origin["namespace"]), str(origin["name"])
    else:
        namespace, name = dataset_name(d.source, d.external_source or "mlgov", d.name)
    facets: dict[str, Any] = {}
    if d.digest:
        facets["version"] = facet(producer, VERSION_FACET, datasetVersion=d.digest)
    columns = (
        (d.schema or {}).get("mlflow_colspec") or (d.schema or {}).get("fields") if isinstance(d.schema, dict) else None
    )
    if isinstance(columns, list) and columns:
        fields = [
            {"name": str(c.get("name", "")), "type": str(c.get("type", ""))}
            for c in columns[:500]
            if isinstance(c, dict) and c.get("name")
        ]
        if fields:
            facets["schema"] = facet(producer, SCHEMA_FACET, fields=fields)
    return {"namespace": namespace, "name": name, "facets": facets}


def _source_code(producer: str, repo: str, commit: str) -> dict[str, Any]:
    if not commit or not repo.startswith(("https://", "http://")):
        return {}
    return {"sourceCodeLocation": facet(producer, SOURCE_FACET, type="git", url=repo, repoUrl=repo, version=commit)}


def _model_facet(
    version: ModelVersion, run: TrainingRun | None, producer: str, schema_url: str, url: str
) -> dict[str, Any]:
    current = {a.alias for a in ModelAlias.objects.filter(version=version)}
    aliases = []
    for edge in LineageEdge.objects.filter(
        upstream__kind="modelversion", upstream__key=str(version.pk), relation="assigned"
    ).order_by("observed_at", "id"):
        alias = str(edge.attributes.get("alias", ""))
        aliases.append(
            {
                "alias": alias,
                "current": edge.ended_at is None and alias in current,
                "assignedAt": iso(edge.observed_at),
                "endedAt": iso(edge.ended_at),
                "source": edge.source,
            }
        )
    for alias in sorted(current - {a["alias"] for a in aliases}):
        aliases.append({"alias": alias, "current": True, "assignedAt": None, "endedAt": None, "source": ""})
    run_part = None
    if run is not None:
        run_part = {
            "runId": run.external_id,
            "name": run.name,
            "experiment": run.experiment.name if run.experiment_id else "",
            "user": run.user,
            "launchedBy": run.launched_by,
            "gitCommit": run.git_commit,
            "startedAt": iso(run.started_at),
            "endedAt": iso(run.ended_at),
            "params": {str(k): str(v) for k, v in sorted((run.params or {}).items())[:200]},
        }
    return {
        MODEL_FACET: facet(
            producer,
            schema_url,
            modelVersion={
                "id": version.pk,
                "model": version.model.name,
                "version": version.version,
                "status": version.status,
                "source": version.source,
                "registeredAt": iso(version.registered_at),
                "externalSource": version.external_source,
                "url": url,
            },
            aliases=aliases,
            metrics={str(k): _number(v) for k, v in sorted((version.metrics or {}).items())},
            run=run_part,
        )
    }


def lineage_export(
    *, user: Any, version: ModelVersion, producer: str, facet_schema_url: str, version_url: str = ""
) -> list[dict[str, Any]]:
    """The RunEvents that describe how `version` came to be (see the module docstring)."""
    root = Node(0, "modelversion", str(version.pk), str(version))
    found = LineageNode.objects.filter(kind="modelversion", key=str(version.pk)).first()
    if found is not None:
        root = Node(found.pk, found.kind, found.key, found.label)
    result = lineage_query(user=user, roots=[root], query=Query(direction="upstream", depth=MAX_DEPTH))
    by_id = {n.id: n for n in result.nodes}

    def pk_of(node_id: int) -> int:
        return int(by_id[node_id].key)

    runs_in: dict[int, set[int]] = {}
    runs_out: dict[int, set[int]] = {}
    derived: dict[int, set[int]] = {}
    for e in result.edges:
        up, down = by_id[e.upstream], by_id[e.downstream]
        if e.relation == "consumed" and up.kind == "dataset":
            runs_in.setdefault(e.downstream, set()).add(pk_of(e.upstream))
        elif e.relation == "produced_by" and down.kind == "dataset":
            runs_out.setdefault(e.upstream, set()).add(pk_of(e.downstream))
        elif e.relation == "derived_from" and up.kind == down.kind == "dataset":
            derived.setdefault(pk_of(e.downstream), set()).add(pk_of(e.upstream))
    training = {int(n.key): n.id for n in result.nodes if n.kind == "trainingrun"}
    pipeline = {int(n.key): n.id for n in result.nodes if n.kind == "pipelinerun"}
    dataset_ids = {pk for s in (*runs_in.values(), *runs_out.values(), *derived.values()) for pk in s} | set(derived)
    datasets = {d.pk: d for d in Dataset.objects.filter(pk__in=dataset_ids)}
    training_runs = TrainingRun.objects.filter(pk__in=list(training)).select_related("experiment")
    pipeline_runs = PipelineRun.objects.filter(pk__in=list(pipeline)).select_related("pipeline")
    now = timezone.now()

    def ds(ids: Iterable[int]) -> list[dict[str, Any]]:
        return [_dataset(datasets[i], producer) for i in sorted(ids) if i in datasets]

    events: list[tuple[datetime, int, dict[str, Any]]] = []
    explained: set[tuple[int, int]] = set()
    for run in pipeline_runs:
        node_id = pipeline[run.pk]
        ins, outs = runs_in.get(node_id, set()), runs_out.get(node_id, set())
        explained |= {(i, o) for i in ins for o in outs}
        moment = run.finished_at or run.started_at or now
        is_ol = run.pipeline.provider == "openlineage"
        events.append(
            (
                moment,
                0,
                run_event(
                    event_type=_EVENT_TYPE.get(run.status, "RUNNING" if run.status == "running" else "OTHER"),
                    event_time=moment,
                    run_id=run_uuid(run.external_id, scope=f"pipelinerun:{run.pk}"),
                    job_namespace=(run.pipeline.config_path if is_ol else run.pipeline.external_source) or "mlgov",
                    job_name=run.pipeline.name or run.pipeline.external_id,
                    producer=producer,
                    inputs=ds(ins),
                    outputs=ds(outs),
                    job_facets=_source_code(producer, run.url or "", run.commit_sha),
                ),
            )
        )
    produced_by = next((pk for pk, nid in training.items() if version.training_run_id == pk), None)
    for run in training_runs:
        node_id = training[run.pk]
        outputs = ds(runs_out.get(node_id, set()))
        if run.pk == produced_by:
            outputs.append(_version_dataset(version, run, producer, facet_schema_url, version_url))
        moment = run.ended_at or run.started_at or now
        events.append(
            (
                moment,
                1,
                run_event(
                    event_type=_MLFLOW_EVENT_TYPE.get(run.status, "RUNNING" if run.status == "RUNNING" else "OTHER"),
                    event_time=moment,
                    run_id=run_uuid(run.external_id, scope=f"trainingrun:{run.pk}"),
                    job_namespace=run.external_source or "mlgov",
                    job_name=(run.experiment.name if run.experiment_id else "") or run.source_name or "training",
                    producer=producer,
                    inputs=ds(runs_in.get(node_id, set())),
                    outputs=outputs,
                    job_facets=_source_code(producer, run.tags.get("mlflow.source.git.repoURL", ""), run.git_commit),
                ),
            )
        )
    if produced_by is None:  # no known training run: the registration itself is the event
        moment = version.registered_at or now
        events.append(
            (
                moment,
                2,
                run_event(
                    event_type="COMPLETE",
                    event_time=moment,
                    run_id=run_uuid(f"register:{version.pk}", scope="modelversion"),
                    job_namespace=version.external_source or "mlgov",
                    job_name=f"register/{version.model.name}",
                    producer=producer,
                    inputs=[],
                    outputs=[_version_dataset(version, None, producer, facet_schema_url, version_url)],
                ),
            )
        )
    for down, ups in sorted(derived.items()):
        rest = {u for u in ups if (u, down) not in explained}
        if rest and down in datasets:
            events.append(
                (
                    datasets[down].updated_at,
                    0,
                    run_event(
                        event_type="COMPLETE",
                        event_time=datasets[down].updated_at,
                        run_id=run_uuid(f"derive:{down}", scope="dataset"),
                        job_namespace="mlgov",
                        job_name=f"derive/{datasets[down].name}",
                        producer=producer,
                        inputs=ds(rest),
                        outputs=ds([down]),
                    ),
                )
            )
    events.sort(key=lambda item: (item[0], item[1]))
    return [e for _, _, e in events]


def _version_dataset(
    version: ModelVersion, run: TrainingRun | None, producer: str, schema_url: str, url: str
) -> dict[str, Any]:
    return {
        "namespace": version.external_source or "mlgov",
        "name": f"models/{version.model.name}/versions/{version.version}",
        "facets": _model_facet(version, run, producer, schema_url, url),
    }
