"""OpenLineage in: store a RunEvent and map it onto the inventory and the lineage graph.

- The job is a `Pipeline` (provider ``openlineage``, source ``openlineage:<job namespace>``, keyed by job
  name); the run is a `PipelineRun` keyed by its runId. START/RUNNING make it running, COMPLETE/FAIL/ABORT
  finish it; an earlier state arriving late never regresses a finished run.
- Each input and output dataset is matched to the inventory's datasets: same location (namespace + name
  as a URI, compared with MLflow's dataset source) and, when the event carries a dataset version
  (DatasetVersionDatasetFacet), the same digest; else the same name and digest. A dataset nothing matches
  is recorded under source ``openlineage`` and linked "derived from" to MLflow datasets at its location.
- Edges: input -> run ("consumed"), run -> output ("produced by"), input -> output ("derived from"), with
  the run's earlier inputs and outputs too (events of one run split them: inputs on START, outputs on
  COMPLETE). A job whose SourceCodeLocationJobFacet names a git SHA gets "built" from that commit.
- The same (runId, eventType, eventTime) again is a duplicate: nothing is written.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q

from mlgov.audit.services import audit_record
from mlgov.inventory import services
from mlgov.inventory.choices import PipelineKind, PipelineProvider, RunStatus
from mlgov.inventory.lineage_services import EdgeSpec, lineage_edges_record, object_ref
from mlgov.inventory.models import Dataset, LineageEdge, LineageEvent, PipelineRun
from mlgov.inventory.openlineage import OLDataset, OLRunEvent, dataset_uris
from mlgov.inventory.sync_services import OPENLINEAGE_SOURCE

_STATUS = {
    "START": RunStatus.RUNNING,
    "RUNNING": RunStatus.RUNNING,
    "COMPLETE": RunStatus.SUCCESS,
    "FAIL": RunStatus.FAILURE,
    "ABORT": RunStatus.CANCELLED,
}
_TERMINAL = {RunStatus.SUCCESS, RunStatus.FAILURE, RunStatus.CANCELLED}
_JOB_KINDS = {"dag": PipelineKind.DATA, "task": PipelineKind.DATA, "query": PipelineKind.DATA}


@dataclass(frozen=True)
class IngestResult:
    event: LineageEvent
    created: bool  # False: a duplicate, ignored
    pipeline_run: PipelineRun | None = None
    inputs: tuple[Dataset, ...] = ()
    outputs: tuple[Dataset, ...] = ()


def _key(value: str, limit: int) -> str:
    """`value`, or a prefix plus a digest when it is too long for a key column."""
    if len(value) <= limit:
        return value
    digest = hashlib.sha1(value.encode(), usedforsecurity=False).hexdigest()[:12]
    return f"{value[: limit - 13]}~{digest}"


def _pipeline_source(namespace: str) -> str:
    return _key(f"openlineage:{namespace}", 120)


def _norm(uri: str) -> str:
    return uri.strip().rstrip("/")


def _datasets_resolve(*, actor: Any, datasets: tuple[OLDataset, ...]) -> tuple[list[list[Dataset]], list[EdgeSpec]]:
    """Each OpenLineage dataset's inventory datasets (matched, or recorded now), and the "derived from"
    edges that tie a newly recorded one to MLflow datasets at its location."""
    if not datasets:
        return [], []
    uris = {u for d in datasets for u in dataset_uris(d.namespace, d.name)}
    names = {d.name[:255] for d in datasets}
    candidates = list(
        Dataset.objects.filter(
            Q(source__in=[*uris, *(f"{u}/" for u in uris)]) | Q(name__in=names, digest__gt="")
        ).order_by("id")
    )
    out: list[list[Dataset]] = []
    edges: list[EdgeSpec] = []
    for ol in datasets:
        here = {_norm(u) for u in dataset_uris(ol.namespace, ol.name)}
        others = [c for c in candidates if c.external_source != OPENLINEAGE_SOURCE]
        at_location = [c for c in others if _norm(c.source) in here]
        version = ol.version
        if version:
            matched = [c for c in at_location if c.digest == version] or [
                c for c in others if c.name == ol.name[:255] and c.digest == version
            ]
        else:
            matched = at_location
        if matched:
            out.append(matched)
            continue
        external_id = _key(f"{ol.namespace}/{ol.name}" + (f"@{version}" if version else ""), 255)
        dataset, _ = services.dataset_upsert(
            actor=actor,
            external_source=OPENLINEAGE_SOURCE,
            external_id=external_id,
            name=ol.name[:255],
            digest=version,
            source_type=ol.namespace.split("://", 1)[0][:60] if "://" in ol.namespace else ol.namespace[:60],
            source=ol.uri[:2000],
            schema={"fields": ol.schema_fields} if ol.schema_fields else {},
            profile={"openlineage": {"namespace": ol.namespace, "name": ol.name}},
        )
        out.append([dataset])
        for c in at_location:  # other versions at the same place: snapshots of this dataset
            edges.append(
                EdgeSpec(
                    object_ref("dataset", dataset.pk, str(dataset)),
                    object_ref("dataset", c.pk, str(c)),
                    "derived_from",
                    OPENLINEAGE_SOURCE,
                    None,
                    {"matched_by": "uri"},
                )
            )
    return out, edges


def _run_state(run: PipelineRun | None, event: OLRunEvent) -> dict[str, Any]:
    """The run's status and times after this event; an earlier state never overwrites a finished run."""
    status = run.status if run else RunStatus.RUNNING
    started = run.started_at if run else None
    finished = run.finished_at if run else None
    new = _STATUS.get(event.event_type)
    if event.event_type == "START" or (new == RunStatus.RUNNING and started is None):
        started = min(started, event.event_time) if started else event.event_time
    if new in _TERMINAL:
        if run is None or status not in _TERMINAL or (finished is None or event.event_time >= finished):
            status, finished = new, event.event_time
    elif new == RunStatus.RUNNING and status not in _TERMINAL:
        status = RunStatus.RUNNING
    return {"status": status, "started_at": started, "finished_at": finished}


def _earlier_links(run: PipelineRun) -> tuple[list[int], list[int]]:
    """Datasets this run already consumed and produced (earlier events of the same run)."""
    key = str(run.pk)
    consumed = LineageEdge.objects.filter(
        downstream__kind="pipelinerun", downstream__key=key, relation="consumed", upstream__kind="dataset"
    ).values_list("upstream__object_id", flat=True)
    produced = LineageEdge.objects.filter(
        upstream__kind="pipelinerun", upstream__key=key, relation="produced_by", downstream__kind="dataset"
    ).values_list("downstream__object_id", flat=True)
    return list(consumed), list(produced)


@transaction.atomic
def lineage_event_ingest(*, actor: Any, event: OLRunEvent, payload: dict[str, Any]) -> IngestResult:
    """Store one OpenLineage RunEvent (whole: unknown facets are kept) and map it onto the graph."""
    actor_name = actor if isinstance(actor, str) else getattr(actor, "get_username", lambda: "")()
    try:
        with transaction.atomic():
            stored = LineageEvent.objects.create(
                run_id=event.run_id,
                event_type=event.event_type,
                event_time=event.event_time,
                job_namespace=event.job_namespace,
                job_name=event.job_name,
                producer=event.producer,
                payload=payload,
                received_by=str(actor_name)[:150],
            )
    except IntegrityError:
        duplicate = LineageEvent.objects.get(
            run_id=event.run_id, event_type=event.event_type, event_time=event.event_time
        )
        return IngestResult(event=duplicate, created=False, pipeline_run=duplicate.pipeline_run)

    job_type = event.job_facets.get("jobType")
    kind = (
        _JOB_KINDS.get(str(job_type.get("jobType", "")).lower(), PipelineKind.DATA)
        if isinstance(job_type, dict)
        else PipelineKind.DATA
    )
    pipeline, _ = services.pipeline_upsert(
        actor=actor,
        external_source=_pipeline_source(event.job_namespace),
        external_id=_key(event.job_name, 255),
        provider=PipelineProvider.OPENLINEAGE,
        name=event.job_name[:255],
        config_path=event.job_namespace[:500],
        kind=kind,
    )
    existing = PipelineRun.objects.select_for_update().filter(pipeline=pipeline, external_id=event.run_id).first()
    state = _run_state(existing, event)
    run, _ = services.pipeline_run_upsert(
        actor=actor,
        pipeline=pipeline,
        external_id=event.run_id,
        commit_sha=event.commit or (existing.commit_sha if existing else ""),
        trigger=existing.trigger if existing else "openlineage",
        url=existing.url if existing else "",
        **state,
    )
    inputs, input_edges = _datasets_resolve(actor=actor, datasets=event.inputs)
    outputs, output_edges = _datasets_resolve(actor=actor, datasets=event.outputs)
    earlier_in, earlier_out = _earlier_links(run)
    source = _pipeline_source(event.job_namespace)
    run_node = object_ref("pipelinerun", run.pk, str(run))
    attrs = {"job": f"{event.job_namespace}/{event.job_name}"[:600], "run_id": event.run_id}
    edges = [*input_edges, *output_edges]
    in_refs = {d.pk: object_ref("dataset", d.pk, str(d)) for ds in inputs for d in ds}
    out_refs = {d.pk: object_ref("dataset", d.pk, str(d)) for ds in outputs for d in ds}
    for ref in in_refs.values():
        edges.append(EdgeSpec(ref, run_node, "consumed", source, event.event_time, attrs))
    for ref in out_refs.values():
        edges.append(EdgeSpec(run_node, ref, "produced_by", source, event.event_time, attrs))
    all_in = {**{pk: object_ref("dataset", pk) for pk in earlier_in if pk}, **in_refs}
    all_out = {**{pk: object_ref("dataset", pk) for pk in earlier_out if pk}, **out_refs}
    for up_pk, up in all_in.items():
        for down_pk, down in all_out.items():
            if up_pk != down_pk and (up_pk in in_refs or down_pk in out_refs):
                edges.append(EdgeSpec(up, down, "derived_from", source, event.event_time, attrs))
    lineage_edges_record(actor=actor, edges=edges)
    stored.pipeline_run = run
    stored.save(update_fields=["pipeline_run"])
    audit_record(
        actor=actor,
        action="lineage.event_received",
        target=run,
        after={
            "event_type": event.event_type,
            "event_time": event.event_time.isoformat(),
            "run_id": event.run_id,
            "job": f"{event.job_namespace}/{event.job_name}"[:600],
            "producer": event.producer[:300],
            "inputs": len(event.inputs),
            "outputs": len(event.outputs),
        },
    )
    return IngestResult(
        event=stored,
        created=True,
        pipeline_run=run,
        inputs=tuple(d for ds in inputs for d in ds),
        outputs=tuple(d for ds in outputs for d in ds),
    )
