"""Batched writes for integrations: upsert many synced objects keyed by their external identity.

One page of a sync costs a fixed number of queries: one SELECT of the existing rows, one bulk INSERT,
one bulk UPDATE and one audit INSERT. Rows whose fingerprint is unchanged are not written at all.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.utils import timezone

from mlgov.audit.services import PendingEvent, audit_record_many
from mlgov.dbtools import insert_objects, insert_rows
from mlgov.inventory.lineage_services import (
    AliasMove,
    EdgeSpec,
    alias_edges_record,
    commit_node,
    lineage_edges_record,
    lineage_labels_refresh,
    object_ref,
)
from mlgov.inventory.models import (
    Dataset,
    ExternalKeyed,
    Feature,
    ModelAlias,
    ModelVersion,
    RegisteredModel,
    RunInput,
    TrainingRun,
)

# Datasets first reported by OpenLineage (not matched to an MLflow dataset) live under this source.
OPENLINEAGE_SOURCE = "openlineage"


@dataclass
class UpsertCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0

    def add(self, other: UpsertCounts) -> None:
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.removed += other.removed

    def as_dict(self) -> dict[str, int]:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged, "removed": self.removed}


@dataclass
class UpsertResult:
    counts: UpsertCounts = field(default_factory=UpsertCounts)
    # external_id -> row, for every row in the batch (created, updated or unchanged)
    objects: dict[str, Any] = field(default_factory=dict)
    changed_ids: set[str] = field(default_factory=set)


def fingerprint(values: dict[str, Any]) -> str:
    raw = json.dumps(values, cls=DjangoJSONEncoder, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha1(raw.encode(), usedforsecurity=False).hexdigest()


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    """Foreign keys by id, for fingerprints and audit snapshots."""
    return {k: (v.pk if isinstance(v, models.Model) else v) for k, v in values.items()}


@transaction.atomic
def synced_batch_upsert(
    *,
    actor: Any,
    model: type[ExternalKeyed],
    external_source: str,
    rows: Sequence[dict[str, Any]],
) -> UpsertResult:
    """Upsert `rows` (each has `external_id` and the field values) for one external source.

    A row that was marked removed and is seen again is restored. Unchanged rows write nothing.
    """
    result = UpsertResult()
    if not rows:
        return result
    by_id = {r["external_id"]: r for r in rows}
    existing = {
        o.external_id: o for o in model.objects.filter(external_source=external_source, external_id__in=list(by_id))
    }
    now = timezone.now()
    to_create, to_update, events = [], [], []
    fields: set[str] = set()
    name = model._meta.model_name
    for ext_id, row in by_id.items():
        # Keys starting with "_" are fingerprint-only: they describe links stored elsewhere (inputs, features).
        values = {k: v for k, v in row.items() if k != "external_id" and not k.startswith("_")}
        fp = fingerprint(_plain({k: v for k, v in row.items() if k != "external_id"}))
        obj = existing.get(ext_id)
        if obj is None:
            obj = model(external_source=external_source, external_id=ext_id, fingerprint=fp, **values)
            to_create.append(obj)
            result.counts.created += 1
            result.changed_ids.add(ext_id)
            events.append((obj, "created", None, _plain(values)))
        elif obj.fingerprint != fp or obj.removed_at is not None:
            before = {k: getattr(obj, model._meta.get_field(k).attname) for k in values}
            for key, value in values.items():
                setattr(obj, key, value)
            obj.fingerprint, obj.removed_at, obj.updated_at = fp, None, now
            fields.update(values)
            to_update.append(obj)
            result.counts.updated += 1
            result.changed_ids.add(ext_id)
            events.append((obj, "updated", before, _plain(values)))
        else:
            result.counts.unchanged += 1
        result.objects[ext_id] = obj
    if to_create:
        # Without the ORM's per-value compilation (mlgov.dbtools), then the ids by the external key.
        insert_objects(to_create)
        for start in range(0, len(to_create), 500):
            chunk = to_create[start : start + 500]
            ids = dict(
                model.objects.filter(
                    external_source=external_source, external_id__in=[o.external_id for o in chunk]
                ).values_list("external_id", "id")
            )
            for o in chunk:
                o.pk = ids[o.external_id]
                o._state.adding, o._state.db = False, model.objects.db
    if to_update:
        model.objects.bulk_update(
            to_update, [*sorted(fields), "fingerprint", "removed_at", "updated_at"], batch_size=500
        )
    audit_record_many(
        actor=actor,
        events=(
            PendingEvent(
                action=f"{name}.{verb}",
                target_type=name,
                target_id=o.pk,
                target_repr=str(o)[:300],
                before=before,
                after=after,
            )
            for o, verb, before, after in events
        ),
    )
    _lineage_after_upsert(actor=actor, name=name, external_source=external_source, changed=[o for o, *_ in events])
    return result


def _run_label(run: Any) -> str:
    """A training run's text from its loaded fields only (a sync loads runs with `.only(...)`)."""
    return (run.__dict__.get("name") or run.__dict__.get("external_id") or str(run.pk))[:300]


def _lineage_after_upsert(*, actor: Any, name: str, external_source: str, changed: list[Any]) -> None:
    """The lineage edges that live on the synced rows themselves: run from commit, version produced by run."""
    if not changed:
        return
    edges: list[EdgeSpec] = []
    replace = {}
    if name == "trainingrun":
        for run in changed:
            node = object_ref("trainingrun", run.pk, _run_label(run))
            replace[node] = {"from_commit"}
            if run.git_commit:
                edges.append(
                    EdgeSpec(commit_node(run.git_commit), node, "from_commit", external_source, run.started_at)
                )
    elif name == "modelversion":
        for version in changed:
            node = object_ref("modelversion", version.pk, str(version))
            replace[node] = {"produced_by"}
            run = version.training_run
            if run is not None:
                # The sync loads a version's run with a few fields only, so its name may be missing here: the
                # run's node keeps the label the run's own upsert gave it.
                run_ref = object_ref("trainingrun", run.pk, _run_label(run), refresh_label=False)
                edges.append(
                    EdgeSpec(
                        run_ref,
                        node,
                        "produced_by",
                        external_source,
                        version.registered_at,
                        {"run_id": version.run_id},
                    )
                )
    elif name in ("dataset", "feature"):
        lineage_labels_refresh(kind=name, labels={o.pk: str(o) for o in changed})
        return
    else:
        return
    lineage_edges_record(actor=actor, edges=edges, replace=replace)


@transaction.atomic
def synced_mark_removed(
    *,
    actor: Any,
    model: type[ExternalKeyed],
    external_source: str,
    seen: Iterable[str],
    scope: dict[str, Any] | None = None,
) -> list[int]:
    """After a complete pass: mark the source's objects it did not see as removed (not deleted). Returns
    their ids."""
    seen_ids = set(seen)
    qs = model.objects.filter(external_source=external_source, removed_at__isnull=True, **(scope or {}))
    # (id, external id) pairs, streamed: a complete pass compares every row, and only the gone ones are kept.
    gone = [
        (pk, ext_id)
        for pk, ext_id in qs.values_list("id", "external_id").iterator(chunk_size=2000)
        if ext_id not in seen_ids
    ]
    if not gone:
        return []
    now = timezone.now()
    model.objects.filter(pk__in=[pk for pk, _ in gone]).update(removed_at=now, updated_at=now)
    name = model._meta.model_name
    audit_record_many(
        actor=actor,
        events=(
            PendingEvent(
                action=f"{name}.removed",
                target_type=name,
                target_id=pk,
                target_repr=ext_id,
                after={"removed_at": now.isoformat()},
            )
            for pk, ext_id in gone
        ),
    )
    return [pk for pk, _ in gone]


@transaction.atomic
def synced_mark_removed_ids(*, actor: Any, model: type[ExternalKeyed], external_source: str, ids: Iterable[str]) -> int:
    """Mark exactly these objects removed (e.g. runs MLflow reports as deleted)."""
    wanted = list(set(ids))
    gone: list[tuple[int, str]] = []
    for start in range(0, len(wanted), 500):
        gone += list(
            model.objects.filter(
                external_source=external_source, removed_at__isnull=True, external_id__in=wanted[start : start + 500]
            ).values_list("id", "external_id")
        )
    if not gone:
        return 0
    now = timezone.now()
    model.objects.filter(pk__in=[pk for pk, _ in gone]).update(removed_at=now, updated_at=now)
    name = model._meta.model_name
    audit_record_many(
        actor=actor,
        events=(
            PendingEvent(
                action=f"{name}.removed",
                target_type=name,
                target_id=pk,
                target_repr=ext,
                after={"removed_at": now.isoformat()},
            )
            for pk, ext in gone
        ),
    )
    return len(gone)


@transaction.atomic
def synced_run_links_replace(
    *,
    run_ids: list[int],
    inputs: dict[int, list[tuple[int, str]]],
    features: dict[int, list[int]],
    actor: Any = "system",
) -> None:
    """Replace the dataset inputs and features of these runs (their run rows carry the audit event).

    The lineage follows: "run consumed dataset" and "run used feature" edges (inputs no longer there are
    ended), a "derived from" edge from an OpenLineage dataset at the same location to each consumed
    dataset, and the runs' CI runs by commit (`pipeline_runs_link_by_commit`).
    """
    if not run_ids:
        return
    # Plain rows through insert_rows: two links a run, tens of thousands a sync (docs/performance.md).
    RunInput.objects.filter(run_id__in=run_ids).delete()
    insert_rows(
        RunInput,
        ("run_id", "dataset_id", "context"),
        sorted((r, d, c) for r, pairs in inputs.items() for d, c in set(pairs)),
    )
    through = TrainingRun.features.through
    through.objects.filter(trainingrun_id__in=run_ids).delete()
    insert_rows(
        through, ("trainingrun_id", "feature_id"), sorted((r, f) for r, fids in features.items() for f in set(fids))
    )
    _run_links_lineage(actor=actor, run_ids=run_ids, inputs=inputs, features=features)


def _uri(value: str) -> str:
    return value.strip().rstrip("/")


def _run_links_lineage(
    *, actor: Any, run_ids: list[int], inputs: dict[int, list[tuple[int, str]]], features: dict[int, list[int]]
) -> None:
    runs = {
        pk: (name or ext, src, started, commit)
        for pk, name, ext, src, started, commit in TrainingRun.objects.filter(pk__in=run_ids).values_list(
            "id", "name", "external_id", "external_source", "started_at", "git_commit"
        )
    }
    dataset_ids = {d for pairs in inputs.values() for d, _ in pairs}
    datasets = {
        pk: (f"{name}@{digest[:12]}" if digest else name, source)
        for pk, name, digest, source in Dataset.objects.filter(pk__in=dataset_ids).values_list(
            "id", "name", "digest", "source"
        )
    }
    feature_ids = {f for fids in features.values() for f in fids}
    feature_labels = {
        pk: f"{view}:{name}" if view else name
        for pk, name, view in Feature.objects.filter(pk__in=feature_ids).values_list("id", "name", "feature_view")
    }
    edges: list[EdgeSpec] = []
    replace = {}
    for run_id in run_ids:
        if run_id not in runs:
            continue
        label, source, started, _ = runs[run_id]
        node = object_ref("trainingrun", run_id, label)
        replace[node] = {"consumed", "used"}
        contexts: dict[int, list[str]] = {}
        for dataset_id, context in inputs.get(run_id, []):
            contexts.setdefault(dataset_id, []).append(context)
        for dataset_id, ctx in sorted(contexts.items()):
            ds = object_ref("dataset", dataset_id, datasets.get(dataset_id, ("", ""))[0])
            attributes = {"contexts": sorted({c for c in ctx if c})}
            edges.append(EdgeSpec(ds, node, "consumed", source, started, attributes))
        for feature_id in sorted(set(features.get(run_id, []))):
            edges.append(
                EdgeSpec(
                    object_ref("feature", feature_id, feature_labels.get(feature_id, "")), node, "used", source, started
                )
            )
    # Datasets that OpenLineage already reported at the same location: the MLflow dataset derives from it.
    by_uri: dict[str, list[int]] = {}
    for pk, (_, source) in datasets.items():
        if _uri(source):
            by_uri.setdefault(_uri(source), []).append(pk)
    if by_uri:
        candidates = [*by_uri, *(f"{u}/" for u in by_uri)]
        for pk, name, source in Dataset.objects.filter(
            external_source=OPENLINEAGE_SOURCE, source__in=candidates
        ).values_list("id", "name", "source"):
            for target in by_uri.get(_uri(source), []):
                if target != pk:
                    edges.append(
                        EdgeSpec(
                            object_ref("dataset", pk, name),
                            object_ref("dataset", target, datasets[target][0]),
                            "derived_from",
                            OPENLINEAGE_SOURCE,
                            None,
                            {"matched_by": "uri"},
                        )
                    )
    lineage_edges_record(actor=actor, edges=edges, replace=replace)
    _link_by_commit(sorted({c.lower() for _, _, _, c in runs.values() if c}), actor)


@transaction.atomic
def synced_aliases_apply(*, actor: Any, external_source: str, desired: dict[int, dict[str, int]]) -> UpsertCounts:
    """Make the aliases of the source's models exactly `desired` ({model id: {alias: version id}}).

    Each move also records the lineage's "alias assigned model version" edge (and ends the previous one).
    """
    counts = UpsertCounts()
    current = {
        (a.model_id, a.alias): a
        for a in ModelAlias.objects.filter(model__external_source=external_source).select_related("version", "model")
    }
    wanted = {(m, alias): v for m, aliases in desired.items() for alias, v in aliases.items()}
    versions = {v.pk: v.version for v in ModelVersion.objects.filter(pk__in=set(wanted.values()))}
    names = dict(RegisteredModel.objects.filter(pk__in=list(desired)).values_list("id", "name"))
    moves: list[AliasMove] = []
    events, now = [], timezone.now()
    to_create, to_update = [], []
    for (model_id, alias), version_id in sorted(wanted.items()):
        row = current.pop((model_id, alias), None)
        if row is None:
            to_create.append(ModelAlias(model_id=model_id, alias=alias, version_id=version_id))
            moves.append(
                AliasMove(model_id, names.get(model_id, ""), alias, version_id, versions.get(version_id, ""), None, "")
            )
            counts.created += 1
            events.append(
                PendingEvent(
                    "modelalias.assigned",
                    "modelversion",
                    version_id,
                    f"{alias}",
                    {"alias": alias, "version": None},
                    {"alias": alias, "version": versions.get(version_id)},
                )
            )
        elif row.version_id != version_id:
            old = row.version.version
            moves.append(
                AliasMove(
                    model_id, row.model.name, alias, version_id, versions.get(version_id, ""), row.version_id, old
                )
            )
            row.version_id, row.updated_at = version_id, now
            to_update.append(row)
            counts.updated += 1
            events.append(
                PendingEvent(
                    "modelalias.assigned",
                    "modelversion",
                    version_id,
                    f"{alias}",
                    {"alias": alias, "version": old},
                    {"alias": alias, "version": versions.get(version_id)},
                )
            )
        else:
            counts.unchanged += 1
    stale = list(current.values())
    for row in stale:
        counts.removed += 1
        moves.append(AliasMove(row.model_id, row.model.name, row.alias, None, "", row.version_id, row.version.version))
        events.append(
            PendingEvent(
                "modelalias.removed",
                "modelversion",
                row.version_id,
                row.alias,
                {"alias": row.alias, "version": row.version.version},
                {"alias": row.alias, "version": None},
            )
        )
    if stale:
        ModelAlias.objects.filter(pk__in=[r.pk for r in stale]).delete()
    ModelAlias.objects.bulk_create(to_create, batch_size=500)
    ModelAlias.objects.bulk_update(to_update, ["version", "updated_at"], batch_size=500)
    audit_record_many(actor=actor, events=events)
    alias_edges_record(actor=actor, source=external_source, moves=moves)
    return counts


def pipeline_runs_link_by_commit(*, commits: Iterable[str], actor: Any = "system") -> int:
    """Link CI runs and tracked training runs that share a commit ("this model was trained by CI from this
    commit"). Idempotent: only missing links are written, one audit event per pipeline run that gained any.

    Commits compare exactly (full SHAs, case-insensitive). Called by the CI run service for each recorded
    run, and by the MLflow sync for each page of training runs. Returns the number of links created.

    The lineage follows: "pipeline run built commit" for every CI run of these commits, and "pipeline run
    executed run" for the training runs of the same commit that started within the CI run's span
    (give or take `MLGOV_LINEAGE_MATCH_SLACK_MINUTES`; by commit alone where a time is unknown).
    """
    wanted = sorted({c.strip().lower() for c in commits if c and c.strip()})
    if not wanted:
        return 0
    with transaction.atomic():
        return _link_by_commit(wanted, actor)


def _executed(run_started: Any, ci_started: Any, ci_finished: Any) -> str | None:
    """How a CI run and a training run of the same commit match: 'commit+time', 'commit' (a time is
    unknown), or None (the training ran outside the CI run's span)."""
    if run_started is None or ci_started is None:
        return "commit"
    slack = timedelta(minutes=settings.MLGOV_LINEAGE_MATCH_SLACK_MINUTES)
    if run_started < ci_started - slack:
        return None
    if ci_finished is not None and run_started > ci_finished + slack:
        return None
    return "commit+time"


def _link_by_commit(wanted: list[str], actor: Any) -> int:
    from mlgov.inventory.models import PipelineRun  # kept local: these functions were appended to the module

    if not wanted:
        return 0
    links = TrainingRun.pipeline_runs.through
    created: dict[int, list[int]] = {}
    edges: list[EdgeSpec] = []
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        pipeline_runs = list(
            PipelineRun.objects.filter(commit_sha__in=chunk, removed_at__isnull=True).values_list(
                "id", "commit_sha", "started_at", "finished_at", "external_source", "external_id", "pipeline__name"
            )
        )
        if not pipeline_runs:
            continue
        runs_by_commit: dict[str, list[tuple[int, str, Any]]] = {}
        for pk, commit, name, ext, started in TrainingRun.objects.filter(
            git_commit__in=[c for _, c, *_ in pipeline_runs], removed_at__isnull=True
        ).values_list("id", "git_commit", "name", "external_id", "started_at"):
            runs_by_commit.setdefault(commit.lower(), []).append((pk, name or ext, started))
        existing = set(
            links.objects.filter(pipelinerun_id__in=[pk for pk, *_ in pipeline_runs]).values_list(
                "pipelinerun_id", "trainingrun_id"
            )
        )
        for pipeline_run_id, commit, ci_started, ci_finished, source, ext, pipeline_name in pipeline_runs:
            ci_node = object_ref("pipelinerun", pipeline_run_id, f"{pipeline_name} #{ext}")
            edges.append(EdgeSpec(commit_node(commit), ci_node, "built", source, ci_started))
            for training_run_id, label, run_started in runs_by_commit.get(commit.lower(), []):
                if (pipeline_run_id, training_run_id) not in existing:
                    created.setdefault(pipeline_run_id, []).append(training_run_id)
                matched = _executed(run_started, ci_started, ci_finished)
                if matched:
                    edges.append(
                        EdgeSpec(
                            ci_node,
                            object_ref("trainingrun", training_run_id, label),
                            "executed",
                            source,
                            run_started or ci_started,
                            {"matched_by": matched},
                        )
                    )
    lineage_edges_record(actor=actor, edges=edges)
    rows = [links(pipelinerun_id=p, trainingrun_id=t) for p, ts in created.items() for t in ts]
    if not rows:
        return 0
    links.objects.bulk_create(rows, batch_size=500, ignore_conflicts=True)
    audit_record_many(
        actor=actor,
        events=(
            PendingEvent(
                action="pipelinerun.training_runs_linked",
                target_type="pipelinerun",
                target_id=pipeline_run_id,
                after={"training_runs": sorted(training_run_ids)},
            )
            for pipeline_run_id, training_run_ids in sorted(created.items())
        ),
    )
    return len(rows)
