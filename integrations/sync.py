"""Sync one MLflow connection into the inventory (MLflow dataclasses -> inventory services).

Each page of MLflow objects (of model versions, each run page's worth) is upserted in one transaction,
keyed by (connection, external id); rows whose content fingerprint is unchanged are not written.
Registered models, versions and experiments are listed completely on every sync (MLflow does not bump
`last_updated_timestamp` when an alias or a tag changes, so timestamps cannot find those changes). Runs
are incremental: a sync reads the runs started since the last successful sync's watermark (less an
overlap), the runs it holds as unfinished, and the runs MLflow reports deleted. A full sync reads every
run. Objects are marked removed only at the end of a complete, successful pass.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings

from integrations import mlflow as mf
from integrations.choices import SyncMode, SyncStatus
from integrations.models import MlflowConnection, SyncRun
from integrations.services import (
    SyncAlreadyRunning,
    sync_run_finish,
    sync_run_progress,
    sync_run_refuse,
    sync_run_requeue,
    sync_run_start,
    sync_runs_expire_stale,
)
from mlgov.context import acting
from mlgov.errors import Conflict
from mlgov.gctools import gc_frozen
from mlgov.inventory.choices import LaunchedBy
from mlgov.inventory.models import (
    Dataset,
    Experiment,
    Feature,
    ModelVersion,
    Project,
    RegisteredModel,
    RunInput,
    TrainingRun,
)
from mlgov.inventory.sync_services import (
    UpsertCounts,
    UpsertResult,
    pipeline_runs_link_by_commit,
    synced_aliases_apply,
    synced_batch_upsert,
    synced_mark_removed,
    synced_mark_removed_ids,
    synced_run_links_replace,
)

logger = logging.getLogger(__name__)
UNFINISHED = ("RUNNING", "SCHEDULED")
METRIC_SNAPSHOT_KEYS = 30
CLIPPED_WARNINGS = 20  # truncated values reported one by one; beyond this, one summary warning
EXPERIMENT_CHUNK = 100
# What a model version takes from its run (its params and tags are not decoded for it).
VERSION_RUN_FIELDS = ("id", "external_id", "git_commit", "metrics")


class SyncNotQueued(Conflict):
    """The SyncRun is no longer queued (its task was delivered twice, or it already ran): nothing to do."""

    code = "sync_not_queued"


@dataclass
class ProjectMapper:
    """Connection mapping rules -> project. Unknown slugs are reported once and left unassigned."""

    rules: dict[str, Any]
    projects: dict[str, Project]
    warnings: list[dict[str, Any]] = field(default_factory=list)
    _reported: set[str] = field(default_factory=set)

    def resolve(self, *, kind: str, name: str, tags: dict[str, str]) -> Project | None:
        slug = tags.get(self.rules.get("tag", "mlgov.project")) or self.rules.get(kind, {}).get(name)
        if not slug:
            prefixes = sorted(self.rules.get("prefixes", {}).items(), key=lambda kv: -len(kv[0]))
            slug = next((s for prefix, s in prefixes if name.startswith(prefix)), None)
        if not slug:
            return None
        project = self.projects.get(slug)
        if project is None and slug not in self._reported:
            self._reported.add(slug)
            self.warnings.append(
                {
                    "level": "warning",
                    "kind": "mapping",
                    "message": f"{kind[:-1]} {name!r} names unknown project {slug!r}; left unassigned",
                }
            )
        return project


def launched_by(run: mf.Run) -> str:
    pattern = re.compile(settings.MLGOV_SERVICE_USER_REGEX)
    user = run.user if run.user.lower() not in ("", "unknown") else ""  # MLflow's placeholder for "no user"
    if run.tags.get("mlflow.source.type") == "JOB" or (user and pattern.search(user)):
        return LaunchedBy.SERVICE
    return LaunchedBy.PERSON if user else LaunchedBy.UNKNOWN


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


class MlflowSync:
    """One pass over one connection. Use `mlflow_sync_execute` rather than this class directly."""

    def __init__(
        self,
        *,
        connection: MlflowConnection,
        source: mf.MlflowSource,
        actor: str,
        progress: Callable[..., None] | None = None,
    ) -> None:
        self.connection = connection
        self.src = connection.external_source
        self.source = source
        self.actor = actor
        self.progress = progress or (lambda **_: None)
        self.counts: dict[str, UpsertCounts] = {}
        self.mapper = ProjectMapper(connection.mapping or {}, {p.slug: p for p in Project.objects.all()})
        self.warnings = self.mapper.warnings
        self.runs_by_id: dict[str, TrainingRun] = {}
        self._clipped: set[tuple[str, str]] = set()

    def _report_clipped(self, kind: str, name: str, clipped: tuple[str, ...]) -> None:
        """A value longer than MAX_TAG_VALUE is kept truncated, and the SyncRun says so."""
        if not clipped or (kind, name) in self._clipped:
            return
        self._clipped.add((kind, name))
        if len(self._clipped) <= CLIPPED_WARNINGS:
            self.warnings.append(
                {
                    "level": "warning",
                    "kind": "truncated",
                    "message": f"{kind} {name!r}: {', '.join(clipped)} longer than {mf.MAX_TAG_VALUE} characters; "
                    "kept truncated",
                }
            )

    def _count(self, kind: str, counts: UpsertCounts) -> None:
        self.counts.setdefault(kind, UpsertCounts()).add(counts)

    # --- the pass ---

    def run(self, *, mode: str, since: datetime | None) -> dict[str, dict[str, int]]:
        experiments, exp_seen = self.sync_experiments()
        run_seen = self.sync_runs(experiments, mode=mode, since=since)
        models, model_seen, wanted_aliases = self.sync_models()
        version_seen, alias_holders = self.sync_versions(models, wanted_aliases)
        self.progress(phase="aliases")
        desired = {
            models[name].pk: {
                alias: alias_holders[(name, v)] for alias, v in aliases.items() if (name, v) in alias_holders
            }
            for name, aliases in wanted_aliases.items()
            if name in models
        }
        self._count("modelalias", synced_aliases_apply(actor=self.actor, external_source=self.src, desired=desired))
        # The pass is complete: now, and only now, what was not seen is removed.
        self.progress(phase="removals")
        self._removed(Experiment, exp_seen)
        self._removed(RegisteredModel, model_seen)
        removed_versions = self._removed(ModelVersion, version_seen)
        # A removed version's Feast tags no longer name features of its run: relink those runs.
        self._relink_version_features(
            {
                run
                for start in range(0, len(removed_versions), 500)
                for run in ModelVersion.objects.filter(
                    pk__in=removed_versions[start : start + 500], training_run__isnull=False
                ).values_list("training_run_id", flat=True)
            }
        )
        if mode == SyncMode.FULL:
            self._removed(TrainingRun, run_seen)
        if len(self._clipped) > CLIPPED_WARNINGS:
            self.warnings.append(
                {
                    "level": "warning",
                    "kind": "truncated",
                    "message": f"{len(self._clipped) - CLIPPED_WARNINGS} more objects had values longer than "
                    f"{mf.MAX_TAG_VALUE} characters; kept truncated",
                }
            )
        return {kind: c.as_dict() for kind, c in sorted(self.counts.items())}

    def _removed(self, model: type, seen: set[str]) -> list[int]:
        removed = synced_mark_removed(actor=self.actor, model=model, external_source=self.src, seen=seen)
        self._count(model._meta.model_name, UpsertCounts(removed=len(removed)))
        return removed

    def sync_experiments(self) -> tuple[dict[str, Experiment], set[str]]:
        self.progress(phase="experiments", done=0)
        by_id: dict[str, Experiment] = {}
        for page in self.source.iter_experiments():
            for e in page:
                self._report_clipped("experiment", e.name, e.clipped)
            rows = [
                {
                    "external_id": e.experiment_id,
                    "name": e.name,
                    "tags": e.tags,
                    "project": self.mapper.resolve(kind="experiments", name=e.name, tags=e.tags),
                }
                for e in page
                if e.lifecycle_stage != "deleted"
            ]
            result = synced_batch_upsert(actor=self.actor, model=Experiment, external_source=self.src, rows=rows)
            self._count("experiment", result.counts)
            by_id.update(result.objects)
            self.progress(phase="experiments", done=len(by_id))
        return by_id, set(by_id)

    def sync_runs(self, experiments: dict[str, Experiment], *, mode: str, since: datetime | None) -> set[str]:
        seen: set[str] = set()
        ids = sorted(experiments)
        filter_string = ""
        if mode == SyncMode.INCREMENTAL and since is not None:
            start = since - timedelta(minutes=settings.MLGOV_SYNC_OVERLAP_MINUTES)
            filter_string = f"attributes.start_time >= {_ms(start)}"
        self.progress(phase="runs", done=0)
        for i in range(0, len(ids), EXPERIMENT_CHUNK):
            chunk = ids[i : i + EXPERIMENT_CHUNK]
            for page in self.source.iter_runs(chunk, filter_string=filter_string, view=mf.ViewType.ACTIVE_ONLY):
                self.upsert_runs(page, experiments)
                seen.update(r.run_id for r in page)
                self.progress(phase="runs", done=len(seen))
        if mode == SyncMode.INCREMENTAL:
            unfinished = TrainingRun.objects.filter(
                external_source=self.src, status__in=UNFINISHED, removed_at__isnull=True
            ).exclude(external_id__in=seen)
            refreshed = [
                r
                for r in (self.source.get_run(x) for x in unfinished.values_list("external_id", flat=True))
                if r is not None and r.lifecycle_stage == "active"
            ]
            self.upsert_runs(refreshed, experiments)
            deleted: list[str] = []
            for i in range(0, len(ids), EXPERIMENT_CHUNK):
                for page in self.source.iter_runs(ids[i : i + EXPERIMENT_CHUNK], view=mf.ViewType.DELETED_ONLY):
                    deleted += [r.run_id for r in page]
            n = synced_mark_removed_ids(actor=self.actor, model=TrainingRun, external_source=self.src, ids=deleted)
            self._count("trainingrun", UpsertCounts(removed=n))
        return seen

    def upsert_runs(self, page: list[mf.Run], experiments: dict[str, Experiment]) -> None:
        if not page:
            return
        projects = {r.run_id: getattr(experiments.get(r.experiment_id), "project", None) for r in page}
        for r in page:
            self._report_clipped("run", r.run_id, r.clipped)
        # Datasets and features first: runs link to them. A dataset keeps the project that first claimed it.
        ds_rows: dict[str, dict[str, Any]] = {}
        for r in page:
            for d in r.dataset_inputs:
                key = f"{d.name}@{d.digest}"
                ds_rows.setdefault(
                    key,
                    {
                        "external_id": key,
                        "name": d.name,
                        "digest": d.digest,
                        "source_type": d.source_type,
                        "source": d.source,
                        "schema": d.schema,
                        "profile": d.profile,
                        "project": projects[r.run_id],
                    },
                )
        datasets = self._upsert_keeping_owners(Dataset, ds_rows)
        # Features from the run's Feast tags, and from the Feast tags of the versions registered from it.
        from_versions = self._version_features(run_ids=[r.run_id for r in page])
        run_features = {r.run_id: list(dict.fromkeys((*r.features, *from_versions.get(r.run_id, ())))) for r in page}
        features = self._features_upsert(
            {f.key: (f, projects[run_id]) for run_id, found in run_features.items() for f in found}
        )
        rows = []
        for r in page:
            rows.append(
                {
                    "external_id": r.run_id,
                    "name": r.name,
                    "status": r.status,
                    "user": r.user,
                    "launched_by": launched_by(r),
                    "source_type": r.tags.get("mlflow.source.type", "")[:40],
                    "source_name": r.tags.get("mlflow.source.name", "")[:1000],
                    "git_commit": r.git_commit[:64],
                    "params": r.params,
                    "metrics": r.metrics,
                    "tags": r.tags,
                    "started_at": r.start_time,
                    "ended_at": r.end_time,
                    "project": projects[r.run_id],
                    "experiment": experiments.get(r.experiment_id),
                    "_inputs": sorted(f"{d.name}@{d.digest}|{d.context}" for d in r.dataset_inputs),
                }
            )
        result = synced_batch_upsert(actor=self.actor, model=TrainingRun, external_source=self.src, rows=rows)
        self._count("trainingrun", result.counts)
        changed = [r for r in page if r.run_id in result.changed_ids]
        synced_run_links_replace(
            actor=self.actor,
            run_ids=[result.objects[r.run_id].pk for r in changed],
            inputs={
                result.objects[r.run_id].pk: [
                    (datasets.objects[f"{d.name}@{d.digest}"].pk, d.context) for d in r.dataset_inputs
                ]
                for r in changed
            },
            features={
                result.objects[r.run_id].pk: [features[f.key].pk for f in run_features[r.run_id]] for r in changed
            },
        )
        # "This model was trained by CI from this commit": CI runs recorded before the training run was synced.
        pipeline_runs_link_by_commit(commits=[r.git_commit for r in changed], actor=self.actor)

    def _features_upsert(self, wanted: dict[str, tuple[mf.FeastFeature, Project | None]]) -> dict[str, Feature]:
        """Upsert features keyed by their Feast key. A feature keeps the project that first claimed it."""
        rows = {
            key: {"external_id": key, "name": f.name, "feature_view": f.feature_set, "project": project}
            for key, (f, project) in wanted.items()
        }
        return self._upsert_keeping_owners(Feature, rows).objects

    def _upsert_keeping_owners(self, model: type[Dataset | Feature], rows: dict[str, dict[str, Any]]) -> UpsertResult:
        """Upsert `rows` (by external id); an object that already belongs to a project keeps that project
        (datasets and features are shared between runs of several projects: the first claim stands)."""
        owners = dict(
            model.objects.filter(
                external_source=self.src, external_id__in=list(rows), project__isnull=False
            ).values_list("external_id", "project")
        )
        for key, owner in owners.items():
            rows[key]["project"] = Project(pk=owner)
        result = synced_batch_upsert(actor=self.actor, model=model, external_source=self.src, rows=list(rows.values()))
        self._count(model._meta.model_name, result.counts)
        return result

    def _version_features(self, *, run_ids: list[str]) -> dict[str, tuple[mf.FeastFeature, ...]]:
        """The Feast features that the (not removed) model versions registered from these runs name."""
        found: dict[str, tuple[mf.FeastFeature, ...]] = {}
        versions = ModelVersion.objects.filter(
            external_source=self.src, run_id__in=run_ids, removed_at__isnull=True, tags__has_key="feast.feature_refs"
        ).values_list("run_id", "tags")
        for run_id, tags in versions.order_by("id"):
            found[run_id] = tuple(dict.fromkeys((*found.get(run_id, ()), *mf.feast_features(tags))))
        return found

    def _relink_version_features(self, run_pks: set[int]) -> None:
        """Feast tags on model versions: the features they name are linked to the version's run, with the
        run's own. Only runs whose feature set changed are written."""
        if not run_pks:
            return
        runs = {
            pk: (external_id, tags, project_id)
            for pk, external_id, tags, project_id in TrainingRun.objects.filter(pk__in=run_pks).values_list(
                "id", "external_id", "tags", "project_id"
            )
        }
        from_versions = self._version_features(run_ids=[ext for ext, _, _ in runs.values()])
        wanted = {
            pk: list(dict.fromkeys((*mf.feast_features(tags), *from_versions.get(ext, ()))))
            for pk, (ext, tags, _) in runs.items()
        }
        through = TrainingRun.features.through
        current: dict[int, set[str]] = {pk: set() for pk in runs}
        for run_pk, key in through.objects.filter(trainingrun_id__in=list(runs)).values_list(
            "trainingrun_id", "feature__external_id"
        ):
            current[run_pk].add(key)
        stale = [pk for pk in runs if {f.key for f in wanted[pk]} != current[pk]]
        if not stale:
            return
        features = self._features_upsert(
            {f.key: (f, Project(pk=runs[pk][2]) if runs[pk][2] else None) for pk in stale for f in wanted[pk]}
        )
        inputs: dict[int, list[tuple[int, str]]] = {pk: [] for pk in stale}
        for run_pk, dataset_pk, context in RunInput.objects.filter(run_id__in=stale).values_list(
            "run_id", "dataset_id", "context"
        ):
            inputs[run_pk].append((dataset_pk, context))
        synced_run_links_replace(
            actor=self.actor,
            run_ids=stale,
            inputs=inputs,
            features={pk: [features[f.key].pk for f in wanted[pk]] for pk in stale},
        )

    def sync_models(self) -> tuple[dict[str, RegisteredModel], set[str], dict[str, dict[str, str]]]:
        self.progress(phase="models", done=0)
        models: dict[str, RegisteredModel] = {}
        aliases: dict[str, dict[str, str]] = {}
        for page in self.source.iter_registered_models():
            for m in page:
                self._report_clipped("registered model", m.name, m.clipped)
            rows = [
                {
                    "external_id": m.name,
                    "name": m.name,
                    "description": m.description,
                    "tags": m.tags,
                    "project": self.mapper.resolve(kind="models", name=m.name, tags=m.tags),
                }
                for m in page
            ]
            result = synced_batch_upsert(actor=self.actor, model=RegisteredModel, external_source=self.src, rows=rows)
            self._count("registeredmodel", result.counts)
            models.update(result.objects)
            aliases.update({m.name: m.aliases for m in page if m.aliases})
            self.progress(phase="models", done=len(models))
        return models, set(models), aliases

    def sync_versions(
        self, models: dict[str, RegisteredModel], wanted_aliases: dict[str, dict[str, str]]
    ) -> tuple[set[str], dict[tuple[str, str], int]]:
        self.progress(phase="versions", done=0)
        alias_targets = {(name, v) for name, aliases in wanted_aliases.items() for v in aliases.values()}
        holders: dict[tuple[str, str], int] = {}
        seen: set[str] = set()
        for mlflow_page in self.source.iter_model_versions():
            mlflow_page = [v for v in mlflow_page if v.name in models]
            # MLflow's version pages are ten run pages long; they are upserted a run page's worth at a time,
            # so what one batch holds (its runs, rows, instances, audit events) is bounded by page_size.
            step = self.source.page_size
            for start in range(0, len(mlflow_page), step):
                page = mlflow_page[start : start + step]
                keys = [f"{v.name}/{v.version}" for v in page]
                known_runs = dict(
                    ModelVersion.objects.filter(external_source=self.src, external_id__in=keys)
                    .exclude(run_id="")
                    .values_list("external_id", "run_id")
                )
                run_ids = {}
                for v, key in zip(page, keys, strict=True):
                    run_ids[key] = (
                        v.run_id
                        or known_runs.get(key)
                        or (self.source.logged_model_run_id(v.model_id) if v.model_id else "")
                    )
                runs = {
                    r.external_id: r
                    for r in TrainingRun.objects.filter(
                        external_source=self.src, external_id__in=[x for x in run_ids.values() if x]
                    ).only(*VERSION_RUN_FIELDS)
                }
                missing = [x for x in set(run_ids.values()) - set(runs) if x]
                if missing:  # runs older than the incremental window that a version needs
                    fetched = [r for r in (self.source.get_run(x) for x in missing) if r is not None]
                    experiments = {e.external_id: e for e in Experiment.objects.filter(external_source=self.src)}
                    self.upsert_runs(fetched, experiments)
                    runs.update(
                        {
                            r.external_id: r
                            for r in TrainingRun.objects.filter(external_source=self.src, external_id__in=missing).only(
                                *VERSION_RUN_FIELDS
                            )
                        }
                    )
                rows = []
                for v, key in zip(page, keys, strict=True):
                    self._report_clipped("model version", key, v.clipped)
                    run = runs.get(run_ids[key])
                    metrics = dict(sorted((run.metrics if run else {}).items())[:METRIC_SNAPSHOT_KEYS])
                    rows.append(
                        {
                            "external_id": key,
                            "model": models[v.name],
                            "version": v.version,
                            "status": v.status,
                            "source": v.source,
                            "run_id": run_ids[key],
                            "training_run": run,
                            "git_commit": run.git_commit if run else "",
                            "tags": v.tags,
                            "metrics": metrics,
                            "registered_at": v.created_at,
                        }
                    )
                result = synced_batch_upsert(actor=self.actor, model=ModelVersion, external_source=self.src, rows=rows)
                self._count("modelversion", result.counts)
                self._relink_version_features(
                    {
                        result.objects[key].training_run_id
                        for key in result.changed_ids
                        if result.objects[key].training_run_id is not None
                    }
                )
                for v, key in zip(page, keys, strict=True):
                    if (v.name, v.version) in alias_targets:
                        holders[(v.name, v.version)] = result.objects[key].pk
                seen.update(keys)
                self.progress(phase="versions", done=len(seen))
        return seen, holders


def connection_credentials(connection: MlflowConnection) -> tuple[str | None, list[dict[str, Any]]]:
    """(token, warnings) from the environment variable the connection names. A named variable that is
    not set is a warning on the SyncRun: the sync goes on without credentials (as the git sync does)."""
    if not connection.token_env_var:
        return None, []
    token = os.environ.get(connection.token_env_var, "")
    if token:
        return token, []
    warning = f"the environment variable {connection.token_env_var} is not set; connecting without a token"
    return None, [{"level": "warning", "kind": "credentials", "message": warning}]


def connection_source(connection: MlflowConnection) -> mf.MlflowSource:
    """A source with this connection's own credentials (never shared with other connections)."""
    token, _ = connection_credentials(connection)
    return mf.MlflowSource(connection.tracking_uri, token=token)


def choose_mode(connection: MlflowConnection, requested: str | None) -> str:
    """Full when asked, when there is no successful sync yet, or every Nth scheduled sync."""
    if requested in SyncMode.values:
        return requested
    done = SyncRun.objects.filter(target=connection.external_source, status=SyncStatus.SUCCEEDED)
    count = done.count()
    if count == 0 or (connection.full_sync_every and count % connection.full_sync_every == 0):
        return SyncMode.FULL
    return SyncMode.INCREMENTAL


def mlflow_sync_execute(
    *,
    sync_run_id: int,
    final_attempt: bool = True,
    source: mf.MlflowSource | None = None,
    on_progress: Callable[..., None] | None = None,
) -> SyncRun:
    """Run a queued SyncRun. Raises SyncAlreadyRunning when the connection is busy, and SyncNotQueued,
    changing nothing, when the run is not queued any more.

    On MLflow being unreachable and `final_attempt` false, the run goes back to queued for a retry and
    the error propagates; otherwise the SyncRun ends failed with the error. Nothing is marked removed
    unless the whole pass succeeded.
    """
    sync_run = SyncRun.objects.get(pk=sync_run_id)
    connection = MlflowConnection.objects.get(name=sync_run.target.split(":", 1)[1])
    try:
        sync_run = sync_run_start(sync_run=sync_run)
    except SyncAlreadyRunning as exc:
        sync_run_refuse(sync_run=sync_run, reason=exc.message)
        raise
    except Conflict as exc:
        raise SyncNotQueued(exc.message, details=exc.details) from exc
    since = getattr(sync_run, "previous_watermark", None)
    mode = sync_run.mode if since is not None else SyncMode.FULL
    if mode != sync_run.mode:
        SyncRun.objects.filter(pk=sync_run.pk).update(mode=mode)
        sync_run.mode = mode
    sync = None
    try:
        with acting(source="sync"):
            sync = MlflowSync(
                connection=connection,
                source=source or connection_source(connection),
                actor=f"sync:{connection.external_source}",
                progress=lambda **p: _progress(sync_run, on_progress, p),
            )
            if source is None:
                sync.warnings.extend(connection_credentials(connection)[1])
            with gc_frozen():  # collections walk the sync's objects only, not the whole process (performance.md)
                counts = sync.run(mode=mode, since=since)
    except mf.MlflowUnreachable as exc:
        if not final_attempt:
            sync_run_requeue(sync_run=sync_run, error=str(exc))
            raise
        _fail(sync_run, sync, exc)
        raise
    except Exception as exc:
        _fail(sync_run, sync, exc)
        raise
    # Earlier attempts' "retrying" warnings (already in sync_run.errors) are kept with this pass's warnings.
    return sync_run_finish(
        sync_run=sync_run, status=SyncStatus.SUCCEEDED, counts=counts, errors=[*sync_run.errors, *sync.warnings]
    )


def _progress(sync_run: SyncRun, on_progress: Callable[..., None] | None, progress: dict[str, Any]) -> None:
    sync_run_progress(sync_run=sync_run, **progress)
    if on_progress is not None:
        on_progress(**progress)


def _fail(sync_run: SyncRun, sync: MlflowSync | None, exc: Exception) -> None:
    counts = {k: c.as_dict() for k, c in sorted(sync.counts.items())} if sync else {}
    errors: list[dict[str, Any]] = [{"level": "error", "kind": type(exc).__name__, "message": str(exc)[:2000]}]
    # The error first, then earlier attempts' "retrying" warnings (sync_run.errors), then this pass's warnings.
    sync_run_finish(
        sync_run=sync_run,
        status=SyncStatus.FAILED,
        counts=counts,
        errors=[*errors, *sync_run.errors, *(sync.warnings if sync else [])],
    )


def mlflow_sync_now(
    *,
    connection: MlflowConnection,
    mode: str | None = None,
    triggered_by: str = "",
    source: mf.MlflowSource | None = None,
    on_progress: Callable[..., None] | None = None,
) -> SyncRun:
    """Queue and run a sync in this process (the CLI and tests); the task path is integrations.tasks."""
    from integrations.services import sync_run_queue

    run = sync_run_queue(
        target=connection.external_source, kind="mlflow", mode=choose_mode(connection, mode), triggered_by=triggered_by
    )
    return mlflow_sync_execute(sync_run_id=run.pk, source=source, on_progress=on_progress)


def mlflow_sync_request(*, connection: MlflowConnection, mode: str | None = None, triggered_by: str = "") -> SyncRun:
    """Queue a sync and hand it to the worker once the transaction commits. A sync already waiting in
    the queue for this connection is returned instead of queueing a second one."""
    from integrations.services import sync_run_queue
    from integrations.tasks import sync_mlflow_connection

    sync_runs_expire_stale(target=connection.external_source)
    waiting = SyncRun.objects.filter(target=connection.external_source, status=SyncStatus.QUEUED).first()
    if waiting is not None:
        return waiting
    run = sync_run_queue(
        target=connection.external_source, kind="mlflow", mode=choose_mode(connection, mode), triggered_by=triggered_by
    )
    sync_mlflow_connection.delay_on_commit(run.pk)
    return run


def syncs_due_queue(*, now: datetime | None = None) -> list[SyncRun]:
    """The connections whose interval has passed since their last sync started, each queued once."""
    from django.utils import timezone

    now = now or timezone.now()
    queued = []
    for connection in MlflowConnection.objects.filter(enabled=True):
        sync_runs_expire_stale(target=connection.external_source)
        runs = SyncRun.objects.filter(target=connection.external_source)
        if runs.filter(status__in=(SyncStatus.QUEUED, SyncStatus.RUNNING)).exists():
            continue
        last = runs.exclude(started_at=None).order_by("-started_at").values_list("started_at", flat=True).first()
        if last is None or now - last >= timedelta(minutes=connection.sync_interval_minutes):
            queued.append(mlflow_sync_request(connection=connection, triggered_by="schedule"))
    return queued
