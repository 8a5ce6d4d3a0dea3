"""Evidence collection: the one bridge from the ORM to the scoring engine.

`collect_evidence(project_ids=None, now=...)` builds immutable `ProjectEvidence` for every project at once
(or for the given ids), from the inventory (MLflow runs, versions, aliases and datasets; pipelines and CI
runs; the data pipelines the lineage graph says produced the training data), the integrations (Git
signals and commit activity), accounts (the team's maintainers), the attestations and waivers, and the
providers registered through `assessments.hooks` (governance).

It costs a fixed number of queries whatever the number of projects: each source table is read once
as an aggregate grouped by project and source (counts, newest time and newest id per kind of evidence),
plus one query per table for the newest example of each kind (its link). For a list of ids the same
queries are filtered by id, in chunks of `CHUNK` projects. Records summarise: a project with 400 tracked
runs has one `mlflow.run.tracked` record with count 400 and a link to the newest run.
"""

from __future__ import annotations

import operator
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache, reduce
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.db.models import CharField, Count, Max, Min, Q, QuerySet, Value
from django.db.models.functions import Cast, Coalesce, Concat
from django.urls import reverse

from assessments.contracts import AttestationFact, Evidence, ProjectEvidence, WaiverFact
from assessments.hooks import provided_evidence
from assessments.models import Attestation, AttestationRule, Waiver
from integrations.git_selectors import commit_url, file_url
from integrations.models import GitRepository, MlflowConnection, RepoSignal
from mlgov.accounts.choices import TeamRole
from mlgov.accounts.models import Membership
from mlgov.inventory.choices import EdgeRelation, LaunchedBy, ModelVersionStatus, NodeKind, PipelineKind, RunStatus
from mlgov.inventory.models import (
    LineageEdge,
    ModelAlias,
    ModelVersion,
    Pipeline,
    PipelineRun,
    Project,
    RunInput,
    TrainingRun,
)

CHUNK = 2000
_SENTINEL = 424242424242  # reversed once per page name, then replaced by the real key
RECURRING_WEEKS = 13  # mlflow.run.recurring counts the weeks, of the last 13, that saw an automated run
_MONITORING_WORDS = ("monitor", "drift", "production")
_AUTO_DEPLOY_TRIGGERS = frozenset({"push", "tag"})


# --- links ---


class _Links:
    """URL builders, with `reverse` done once per kind of page."""

    def __init__(self) -> None:
        self._patterns: dict[str, str] = {}
        self._files: dict[tuple[str, str], str] = {}
        self.mlflow_ui = {
            f"mlflow:{name}": uri.rstrip("/")
            for name, uri in MlflowConnection.objects.values_list("name", "tracking_uri")
            if uri.startswith(("http://", "https://"))
        }

    def page(self, name: str, key: Any) -> str:
        pattern = self._patterns.get(name)
        if pattern is None:
            pattern = self._patterns[name] = reverse(name, args=[_SENTINEL])
        return pattern.replace(str(_SENTINEL), str(key) if isinstance(key, int) else _quote(str(key)))

    def run(self, source: str, run_pk: int, run_id: str, experiment_id: str) -> str:
        ui = self.mlflow_ui.get(source)
        if ui and run_id and experiment_id:
            return f"{ui}/#/experiments/{_quote(experiment_id)}/runs/{_quote(run_id)}"
        return self.page("api:trainingrun-detail", run_pk)

    def version(self, source: str, version_pk: int, model: str, version: str) -> str:
        ui = self.mlflow_ui.get(source)
        if ui:
            return f"{ui}/#/models/{_quote(model)}/versions/{_quote(version)}"
        return self.page("modelversion-detail", version_pk)

    def file(self, web_url: str, sha: str, path: str) -> str:
        """`integrations.git_selectors.file_url`, with the per-repository prefix worked out once."""
        key = (web_url, sha)
        prefix = self._files.get(key)
        if prefix is None:
            probe = file_url(web_url, sha, "x")
            prefix = self._files[key] = probe[:-1] if probe else ""
        return f"{prefix}{_quote(path)}" if prefix and path else ""


@lru_cache(maxsize=65536)
def _quote(value: str) -> str:
    return quote(value)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


# --- the collectors: each returns {project_id: [Evidence]} for the projects matched by `scope` ---

Scope = dict[str, Any]  # extra filter kwargs, e.g. {"project_id__in": [...]}, or {} for all projects


_SEP = "\x1f"  # the unit separator: between the fields of a newest-row key (no name holds one)


@dataclass(frozen=True)
class _Newest:
    """One category of one group: how many rows, and the newest row's time, id and fields."""

    count: int
    at: datetime
    pk: int
    fields: tuple[str, ...]


def _parse_time(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _grouped(
    qs: QuerySet,
    group: Sequence[str],
    categories: dict[str, Q],
    when: Any,
    fields: Sequence[str],
    extra: dict[str, Any] | None = None,
    distinct: bool = False,
    pk: str = "id",
) -> list[dict[str, Any]]:
    """Rows grouped by `group` with, for each category, a `_Newest` (or None when no row is in it), in one
    query. The newest row is found by the aggregate itself: the maximum of "time, id, fields" as text,
    whose time sorts as the time does (ISO text in UTC, on SQLite and PostgreSQL alike); so no second query
    fetches the example rows. `pk` names the id counted and returned (`run_id` for run inputs: the runs);
    `distinct` counts distinct ids (for groups over a to-many join)."""
    annotations: dict[str, Any] = dict(extra or {})
    for name, condition in categories.items():
        parts: list[Any] = [Cast(when, CharField()), Value(_SEP), Cast(pk, CharField())]
        for f in fields:
            parts += [Value(_SEP), Coalesce(Cast(f, CharField()), Value(""))]
        annotations[f"{name}_n"] = Count(pk, filter=condition, distinct=distinct)
        annotations[f"{name}_key"] = Max(Concat(*parts, output_field=CharField()), filter=condition)
    out = []
    for row in qs.values(*group).annotate(**annotations).order_by():
        for name in categories:
            key = row.pop(f"{name}_key")
            n = row.pop(f"{name}_n")
            if not n or not key:
                row[name] = None
                continue
            at, pk, *values = key.split(_SEP, len(fields) + 1)
            row[name] = _Newest(n, _parse_time(at), int(pk), tuple(values))
        out.append(row)
    return out


def _runs(scope: Scope, links: _Links, now: datetime) -> dict[int, list[Evidence]]:
    service = Q(launched_by=LaunchedBy.SERVICE)
    monitoring = reduce(
        operator.or_,
        (Q(name__icontains=w) | Q(experiment__name__icontains=w) for w in _MONITORING_WORDS),
    )
    categories = {
        "tracked": ~Q(params={}) | ~Q(metrics={}),
        "commit": ~Q(git_commit=""),
        "automated": service,
        "monitoring": monitoring,
    }
    base = TrainingRun.objects.filter(removed_at__isnull=True, project__isnull=False, **scope)
    when = Coalesce("started_at", "created_at")
    # Recurrence: automated runs in each of the last 13 weeks (7-day windows back from now), counted in the
    # same aggregate; plain comparisons, so no date function runs per row.
    weeks = {
        f"week{k}": Count(
            "id",
            filter=service
            & Q(started_at__gt=now - timedelta(days=7 * (k + 1)), started_at__lte=now - timedelta(days=7 * k)),
        )
        for k in range(RECURRING_WEEKS)
    }
    run_fields = ("external_id", "experiment__external_id", "name")
    rows = _grouped(base, ("project_id", "external_source"), categories, when, run_fields, extra=weeks)
    inputs = RunInput.objects.filter(
        run__removed_at__isnull=True, run__project__isnull=False, **{f"run__{k}": v for k, v in scope.items()}
    )
    dataset_rows = _grouped(
        inputs,
        ("run__project_id", "run__external_source"),
        {"dataset": Q()},
        Coalesce("run__started_at", "run__created_at"),
        tuple(f"run__{f}" for f in run_fields),
        distinct=True,
        pk="run_id",
    )

    def record(kind: str, source: str, newest: _Newest, what: str) -> Evidence:
        external_id, experiment_id, name = newest.fields
        return Evidence(
            kind=kind,
            source=source,
            observed_at=newest.at,
            link=links.run(source, newest.pk, external_id, experiment_id),
            count=newest.count,
            summary=f"{_plural(newest.count, 'run')} {what}; newest {name or external_id}",
        )

    texts = {
        "tracked": ("mlflow.run.tracked", "with params or metrics"),
        "commit": ("mlflow.run.commit", "recording their git commit"),
        "automated": ("mlflow.run.automated", "launched by CI or a service account"),
        "monitoring": ("mlflow.run.monitoring", "logging monitoring metrics"),
    }
    out: dict[int, list[Evidence]] = defaultdict(list)
    for row in rows:
        pid, source = row["project_id"], row["external_source"]
        for name, (kind, what) in texts.items():
            if row[name] is not None:
                out[pid].append(record(kind, source, row[name], what))
        n_weeks = sum(1 for k in range(RECURRING_WEEKS) if row[f"week{k}"])
        if n_weeks and row["automated"] is not None:
            newest = row["automated"]
            out[pid].append(
                Evidence(
                    kind="mlflow.run.recurring",
                    source=source,
                    observed_at=newest.at,
                    link=links.run(source, newest.pk, newest.fields[0], newest.fields[1]),
                    count=n_weeks,
                    summary=f"automated training in {_plural(n_weeks, 'week')} of the last 13",
                    facts={"weeks": n_weeks},
                )
            )
    for row in dataset_rows:
        out[row["run__project_id"]].append(
            record("mlflow.run.dataset", row["run__external_source"], row["dataset"], "with dataset inputs")
        )
    return out


def _versions(scope: Scope, links: _Links) -> dict[int, list[Evidence]]:
    model_scope = {f"model__{k}": v for k, v in scope.items()}
    base = ModelVersion.objects.filter(
        removed_at__isnull=True,
        model__removed_at__isnull=True,
        model__project__isnull=False,
        status=ModelVersionStatus.READY,
        **model_scope,
    )
    when = Coalesce("registered_at", "created_at")
    rows = _grouped(base, ("model__project_id", "external_source"), {"v": Q()}, when, ("version", "model__name"))
    out: dict[int, list[Evidence]] = defaultdict(list)
    for row in rows:
        newest = row["v"]
        version, model = newest.fields
        out[row["model__project_id"]].append(
            Evidence(
                kind="mlflow.model.version",
                source=row["external_source"],
                observed_at=newest.at,
                link=links.version(row["external_source"], newest.pk, model, version),
                count=newest.count,
                summary=f"{_plural(newest.count, 'registered version')}; newest {model} v{version}",
            )
        )

    aliases = ModelAlias.objects.filter(
        model__removed_at__isnull=True, version__removed_at__isnull=True, model__project__isnull=False, **model_scope
    )
    alias_rows = list(
        aliases.values(
            "model__project_id",
            "model__external_source",
            "model__name",
            "alias",
            "updated_at",
            "version_id",
            "version__version",
            "version__git_commit",
            "version__training_run_id",
        ).order_by("model__name", "alias")
    )
    run_ids = aliases.values("version__training_run_id")
    with_data = set(RunInput.objects.filter(run_id__in=run_ids).values_list("run_id", flat=True).distinct().order_by())
    by_ci = set(
        PipelineRun.training_runs.through.objects.filter(
            trainingrun_id__in=run_ids, pipelinerun__status=RunStatus.SUCCESS
        )
        .values_list("trainingrun_id", flat=True)
        .distinct()
        .order_by()
    )
    grouped: dict[tuple[int, str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in alias_rows:
        run = row["version__training_run_id"]
        if row["version__git_commit"] and run in with_data:
            grouped[(row["model__project_id"], row["model__external_source"], "mlflow.alias.traced")].append(row)
        if run in by_ci:
            grouped[(row["model__project_id"], row["model__external_source"], "mlflow.alias.ci_trained")].append(row)
    for (pid, source, kind), rows_ in grouped.items():
        newest = max(rows_, key=lambda r: (r["updated_at"], r["version_id"]))
        names = [f"{r['model__name']}@{r['alias']}" for r in rows_]
        what = "with commit and dataset" if kind == "mlflow.alias.traced" else "trained by CI"
        out[pid].append(
            Evidence(
                kind=kind,
                source=source,
                observed_at=newest["updated_at"],
                link=links.version(source, newest["version_id"], newest["model__name"], newest["version__version"]),
                count=len(rows_),
                summary=f"{_plural(len(rows_), 'alias')} {what}: {', '.join(names[:5])}",
                facts={"aliases": names[:50]},
            )
        )
    return out


def _git(scope: Scope, links: _Links, now: datetime) -> dict[int, list[Evidence]]:
    """Signals by repository and kind. A scan replaces all of a repository's signals at once, so their
    commit and time are the repository's head and scan time (read once per repository, not per signal)."""
    repos = {
        r["id"]: r
        for r in GitRepository.objects.filter(project__isnull=False, scanned_at__isnull=False, **scope).values(
            "id", "project_id", "name", "web_url", "head_sha", "scanned_at", "activity"
        )
    }
    repo_scope = {f"repository__{k}": v for k, v in scope.items()}
    rows = (
        RepoSignal.objects.filter(repository__project__isnull=False, **repo_scope)
        .values_list("repository_id", "kind")
        .annotate(n=Count("id"), first=Min("path"), sha=Max("commit_sha"))
        .order_by()
    )
    out: dict[int, list[Evidence]] = defaultdict(list)
    for repo_id, kind, n, first, sha in rows:
        repo = repos.get(repo_id)
        if repo is None:  # never scanned (signals written by hand): nothing to date them by
            continue
        name = repo["name"]
        out[repo["project_id"]].append(
            Evidence(
                kind=f"git.signal.{kind}",
                source=f"git:{name}",
                observed_at=repo["scanned_at"],
                link=links.file(repo["web_url"], sha, first) or links.page("repository-detail", name),
                count=n,
                summary=f"{_plural(n, 'file')}, e.g. {first}",
                facts={"path": first, "commit": sha},
            )
        )
    for repo in repos.values():
        committers = (repo["activity"] or {}).get("committers") or []
        if committers:
            out[repo["project_id"]].append(
                Evidence(
                    kind="git.activity.committers",
                    source=f"git:{repo['name']}",
                    observed_at=repo["scanned_at"],
                    link=commit_url(repo["web_url"], repo["head_sha"]) or links.page("repository-detail", repo["name"]),
                    count=len(committers),
                    summary=f"{_plural(len(committers), 'committer')} in the last 26 weeks",
                )
            )
    return out


def _pipelines(scope: Scope, links: _Links) -> dict[int, list[Evidence]]:
    found: dict[tuple[int, str, str], list[dict[str, Any]]] = defaultdict(list)
    for p in Pipeline.objects.filter(removed_at__isnull=True, project__isnull=False, **scope).values(
        "id", "project_id", "external_source", "name", "kind", "triggers", "jobs", "updated_at"
    ):
        key = (p["project_id"], p["external_source"])
        found[(*key, f"ci.pipeline.{p['kind']}")].append(p)
        job_kinds = {j.get("kind") for j in p["jobs"] or [] if isinstance(j, dict)}
        for kind in job_kinds & {"test", "train", "evaluate", "deploy", "data"}:
            found[(*key, f"ci.job.{kind}")].append(p)
        triggers = {t.get("type") for t in p["triggers"] or [] if isinstance(t, dict)}
        if (p["kind"] == PipelineKind.TRAINING or "train" in job_kinds) and "schedule" in triggers:
            found[(*key, "ci.pipeline.scheduled_training")].append(p)
        if (p["kind"] == PipelineKind.DEPLOYMENT or "deploy" in job_kinds) and triggers & _AUTO_DEPLOY_TRIGGERS:
            found[(*key, "ci.pipeline.auto_deploy")].append(p)
    out: dict[int, list[Evidence]] = defaultdict(list)
    for (pid, source, kind), items in found.items():
        items.sort(key=lambda p: (p["updated_at"], p["id"]), reverse=True)
        names = [p["name"] for p in items]
        out[pid].append(
            Evidence(
                kind=kind,
                source=source,
                observed_at=items[0]["updated_at"],
                link=links.page("pipeline-detail", items[0]["id"]),
                count=len(items),
                summary=f"{_plural(len(items), 'pipeline')}: {', '.join(names[:5])}",
                facts={"pipelines": names[:50]},
            )
        )
    return out


def _ci_runs(scope: Scope, links: _Links) -> dict[int, list[Evidence]]:
    ok = Q(status=RunStatus.SUCCESS)
    categories = {
        "succeeded": ok,
        "deployed": ok & Q(pipeline__kind=PipelineKind.DEPLOYMENT) & ~Q(trigger__in=("manual", "pull_request")),
        "trained": ok & Q(training_runs__isnull=False),
        "tested": Q(tests_total__gt=0, tests_failed=0) & (Q(tests_errors=0) | Q(tests_errors__isnull=True)),
    }
    base = PipelineRun.objects.filter(
        removed_at__isnull=True,
        pipeline__removed_at__isnull=True,
        pipeline__project__isnull=False,
        **{f"pipeline__{k}": v for k, v in scope.items()},
    )
    when = Coalesce("finished_at", "started_at", "created_at")
    fields = ("pipeline_id", "tests_total", "external_id", "pipeline__name", "url")
    group = ("pipeline__project_id", "pipeline__external_source")
    rows = _grouped(base, group, categories, when, fields, distinct=True)  # "trained" joins the linked runs
    texts = {
        "succeeded": ("ci.run.succeeded", "successful CI run"),
        "deployed": ("ci.run.deployed", "automatic deployment"),
        "trained": ("ci.run.trained", "CI run that trained a model"),
        "tested": ("ci.run.tested", "CI run with passing tests"),
    }
    out: dict[int, list[Evidence]] = defaultdict(list)
    for row in rows:
        pid, source = row["pipeline__project_id"], row["pipeline__external_source"]
        for name, (kind, what) in texts.items():
            newest = row[name]
            if newest is None:
                continue
            pipeline_id, tests, run_id, pipeline, url = newest.fields
            out[pid].append(
                Evidence(
                    kind=kind,
                    source=source,
                    observed_at=newest.at,
                    link=url or links.page("pipeline-detail", int(pipeline_id)),
                    count=newest.count,
                    summary=f"{_plural(newest.count, what)}; newest {pipeline} #{run_id}",
                    facts={"tests": int(tests)} if name == "tested" and tests else {},
                )
            )
    return out


def _lineage(scope: Scope, links: _Links) -> dict[int, list[Evidence]]:
    """`lineage.dataset.produced`: datasets consumed by the project's runs that a pipeline produced, or that
    were derived from a dataset (the OpenLineage output matched to the MLflow snapshot), as current edges."""
    produced = LineageEdge.objects.filter(
        downstream_kind=NodeKind.DATASET,
        relation__in=(EdgeRelation.PRODUCED_BY, EdgeRelation.DERIVED_FROM),
        ended_at__isnull=True,
    )
    newest = {
        row["downstream__object_id"]: row
        for row in produced.values("downstream__object_id").annotate(at=Max("observed_at"), source=Max("source"))
    }
    if not newest:
        return {}
    used = (
        RunInput.objects.filter(
            dataset_id__in=list(newest), run__removed_at__isnull=True, **{f"run__{k}": v for k, v in scope.items()}
        )
        .exclude(run__project_id=None)
        .values_list("run__project_id", "dataset_id", "dataset__name")
        .distinct()
    )
    found: dict[int, dict[int, str]] = defaultdict(dict)
    for pid, dataset_id, name in used:
        found[pid][dataset_id] = name
    out: dict[int, list[Evidence]] = defaultdict(list)
    for pid, datasets in found.items():
        latest = max(datasets, key=lambda d: (newest[d]["at"], d))
        names = sorted(set(datasets.values()))
        out[pid].append(
            Evidence(
                kind="lineage.dataset.produced",
                source=newest[latest]["source"] or "lineage",
                observed_at=newest[latest]["at"],
                link=links.page("dataset-detail", latest),
                count=len(datasets),
                summary=f"{_plural(len(datasets), 'dataset')} produced by a data pipeline: {', '.join(names[:5])}",
                facts={"datasets": names[:50]},
            )
        )
    return out


def _maintainers(projects: dict[int, dict[str, Any]], links: _Links, now: datetime) -> dict[int, list[Evidence]]:
    teams = {p["team_id"] for p in projects.values()}
    counts = dict(
        Membership.objects.filter(role=TeamRole.MAINTAINER, team_id__in=teams, user__is_active=True)
        .values("team_id")
        .annotate(n=Count("id"))
        .values_list("team_id", "n")
        .order_by()
    )
    out: dict[int, list[Evidence]] = {}
    for pid, p in projects.items():
        n = counts.get(p["team_id"], 0)
        if n:
            out[pid] = [
                Evidence(
                    kind="mlgov.team.maintainer",
                    source="mlgov",
                    observed_at=now,
                    link=links.page("team-detail", p["team__slug"]),
                    count=n,
                    summary=f"{_plural(n, 'maintainer')} in {p['team__name']}",
                )
            ]
    return out


def _attestations(scope: Scope, rubric_id: str) -> dict[int, list[AttestationFact]]:
    rules = dict(
        AttestationRule.objects.filter(rubric_id=rubric_id, requires_verification=True).values_list(
            "criterion_id", "requires_verification"
        )
    )
    out: dict[int, list[AttestationFact]] = defaultdict(list)
    for a in Attestation.objects.filter(rubric_id=rubric_id, **scope).order_by("id"):
        out[a.project_id].append(
            AttestationFact(
                id=a.pk,
                criterion_id=a.criterion_id,
                statement=a.statement,
                attested_by=a.attested_by_name,
                attested_at=a.created_at,
                expires_at=a.expires_at,
                link=a.link,
                requires_verification=bool(rules.get(a.criterion_id)),
                verified_by=a.verified_by_name,
                verified_at=a.verified_at,
                revoked_at=a.revoked_at,
            )
        )
    return out


def _waivers(scope: Scope, rubric_id: str) -> dict[int, list[WaiverFact]]:
    out: dict[int, list[WaiverFact]] = defaultdict(list)
    for w in Waiver.objects.filter(rubric_id=rubric_id, **scope).order_by("id"):
        out[w.project_id].append(
            WaiverFact(
                id=w.pk,
                criterion_id=w.criterion_id,
                justification=w.justification,
                granted_by=w.granted_by_name,
                granted_at=w.created_at,
                expires_at=w.expires_at,
                revoked_at=w.revoked_at,
            )
        )
    return out


def _collect(
    projects: dict[int, dict[str, Any]], scope: Scope, rubric_id: str, now: datetime, links: _Links
) -> dict[int, ProjectEvidence]:
    records: dict[int, list[Evidence]] = defaultdict(list)
    for part in (
        _runs(scope, links, now),
        _versions(scope, links),
        _git(scope, links, now),
        _pipelines(scope, links),
        _ci_runs(scope, links),
        _lineage(scope, links),
        _maintainers(projects, links, now),
        provided_evidence(list(projects), now),
    ):
        for pid, items in part.items():
            if pid in projects:
                records[pid].extend(items)
    attestations = _attestations(scope, rubric_id)
    waivers = _waivers(scope, rubric_id)
    return {
        pid: ProjectEvidence(
            project_id=pid,
            records=tuple(records.get(pid, ())),  # the engine orders them (by kind, then newest first)
            attestations=tuple(attestations.get(pid, ())),
            waivers=tuple(waivers.get(pid, ())),
        )
        for pid in projects
    }


def collect_evidence(
    *, project_ids: Iterable[int] | None = None, now: datetime, rubric_id: str | None = None
) -> dict[int, ProjectEvidence]:
    """Evidence for every project (`project_ids=None`) or for the given ones, keyed by project id.
    Unknown ids are left out. `rubric_id` selects the attestations and waivers (default MLGOV_RUBRIC)."""
    rubric = rubric_id or settings.MLGOV_RUBRIC
    links = _Links()
    fields = ("id", "team_id", "team__slug", "team__name")
    if project_ids is None:
        projects = {p["id"]: p for p in Project.objects.values(*fields).order_by()}
        return _collect(projects, {}, rubric, now, links)
    ids = sorted({int(pk) for pk in project_ids})
    out: dict[int, ProjectEvidence] = {}
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        projects = {p["id"]: p for p in Project.objects.filter(id__in=chunk).values(*fields).order_by()}
        if projects:
            out.update(_collect(projects, {"project_id__in": list(projects)}, rubric, now, links))
    return out
