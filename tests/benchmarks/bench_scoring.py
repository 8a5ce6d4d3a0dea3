"""Benchmark: scoring 10,000 projects with realistic evidence, and the maturity dashboard over 1,000.

The issue: score 10k projects, timing evidence collection and the engine separately. Target: the whole
run under 10 s, with queries constant in the number of projects. The dashboard for 1k projects renders
server-side in under 300 ms.

    make bench BENCH_ARGS=tests/benchmarks/bench_scoring.py
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/mlgov_bench \
        make bench BENCH_ARGS=tests/benchmarks/bench_scoring.py

The organisation is seeded in two stages with `bulk_create`: first 1,000 projects (10 teams), then 9,000
more (90 teams). Projects follow five practice profiles (careless to exemplary, one in five each), so
their evidence, and their levels, spread over 0-4: MLflow runs with params, commits and dataset inputs,
launched by people or by CI; registered versions and aliases; a Git repository with its signals; CI
pipelines and their runs, with JUnit counts and links to the runs they trained; maintainers, attestations
and waivers. At each stage the benchmark counts the queries of evidence collection (they must not grow),
times evidence collection, the engine and the writes separately, and times a full scoring run through
the service (`projects_score`): the first one stores a snapshot per project, the next finds nothing
changed. At 1,000 projects it times `GET /maturity/` through Django's test client (login, middleware,
selectors, rollups, Plotly figures, template), with a history of snapshots behind the trend.

Figures are printed, with their ratios to the targets; only correctness is asserted (levels spread as the
profiles intend, query counts equal). Results are recorded in docs/performance.md.
"""

from __future__ import annotations

import os
import platform
import sqlite3
import statistics
from collections import Counter
from datetime import timedelta
from time import perf_counter
from typing import Any

import django
import pytest
from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from assessments.engine import score
from assessments.evidence import collect_evidence
from assessments.models import Assessment, Attestation, MaturityGoal, ScoringRun, Waiver
from assessments.rubric import get_rubric
from assessments.services import projects_score
from integrations.models import GitRepository, RepoSignal
from mlgov.accounts.models import Membership, User
from mlgov.audit.models import AuditEvent
from mlgov.inventory.models import (
    Dataset,
    Experiment,
    ModelAlias,
    ModelVersion,
    Pipeline,
    PipelineRun,
    Project,
    RegisteredModel,
    RunInput,
    Team,
    TrainingRun,
)

pytestmark = pytest.mark.django_db

PROJECTS_PER_TEAM = 100
STAGES = (10, 90)  # teams added per stage: 1,000 projects, then 10,000
BATCH = 2000
TARGET_RUN_S = 10.0
TARGET_DASHBOARD_MS = 300.0
DASHBOARD_SAMPLES = int(os.environ.get("MLGOV_BENCH_SAMPLES", "30"))
SOURCE = "mlflow:bench"
RESULTS: list[tuple[str, str]] = []


def _backend() -> str:
    if connection.vendor == "postgresql":
        major, rest = divmod(connection.pg_version, 10000)
        return f"PostgreSQL {major}.{rest % 100}"
    name = str(connection.settings_dict["NAME"])
    where = "in memory" if "memory" in name else f"file {os.path.basename(name)}"
    return f"SQLite {sqlite3.sqlite_version} ({where})"


def _load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def _sha(*parts: Any) -> str:
    return f"{abs(hash(parts)):040x}"[-40:]


def _pipeline(pid: int, source: str, name: str, kind: str, trigger: str, job: str) -> Pipeline:
    path = f".github/workflows/{name}.yml"
    detail = {"cron": "0 3 * * 1"} if trigger == "schedule" else {}
    return Pipeline(
        project_id=pid,
        provider="github",
        name=name,
        kind=kind,
        config_path=path,
        triggers=[{"type": trigger, "detail": detail}],
        jobs=[{"name": job, "kind": job}],
        external_source=source,
        external_id=path,
    )


def _seed(first_team: int, teams: int, maintainer: User, manager: User) -> int:
    """Bulk-create `teams` teams of PROJECTS_PER_TEAM projects with evidence following five profiles."""
    now = timezone.now()
    with transaction.atomic():
        Team.objects.bulk_create(
            [Team(slug=f"bench-{t:03d}", name=f"Bench team {t:03d}") for t in range(first_team, first_team + teams)]
        )
        team_objs = list(
            Team.objects.filter(slug__in=[f"bench-{t:03d}" for t in range(first_team, first_team + teams)])
        )
        Membership.objects.bulk_create([Membership(user=maintainer, team=t, role="maintainer") for t in team_objs])
        Project.objects.bulk_create(
            [
                Project(team=t, slug=f"{t.slug}-p{i:03d}", name=f"{t.name} project {i}", risk_tier=1 + i % 3)
                for t in team_objs
                for i in range(PROJECTS_PER_TEAM)
            ],
            batch_size=BATCH,
        )
        projects = list(Project.objects.filter(team__in=team_objs).order_by("id").values_list("id", "slug"))
        profile = {pid: n % 5 for n, (pid, _) in enumerate(projects)}

        Experiment.objects.bulk_create(
            [
                Experiment(project_id=pid, name=f"{slug}-train", external_source=SOURCE, external_id=slug)
                for pid, slug in projects
            ],
            batch_size=BATCH,
        )
        exps = dict(Experiment.objects.filter(project_id__in=profile).values_list("project_id", "id"))
        runs = []
        for pid, slug in projects:
            p = profile[pid]
            for r in range(5 if p < 2 else 30):
                service = p >= 2 and r % 3 != 0
                runs.append(
                    TrainingRun(
                        project_id=pid,
                        experiment_id=exps[pid],
                        name=f"{slug}-run-{r}",
                        status="FINISHED",
                        user="github-actions[bot]" if service else "alice",
                        launched_by="service" if service else "person",
                        source_type="JOB" if service else "LOCAL",
                        git_commit=_sha(slug, r) if p >= 2 else "",
                        params={"lr": "0.1", "depth": str(3 + r % 4)} if p >= 1 else {},
                        metrics={"auc": 0.8 + r / 1000, "logloss": 0.3} if p >= 1 else {},
                        started_at=now - timedelta(days=r * 3, hours=pid % 24),
                        external_source=SOURCE,
                        external_id=f"{slug}-{r}",
                    )
                )
        TrainingRun.objects.bulk_create(runs, batch_size=BATCH)
        run_rows = list(
            TrainingRun.objects.filter(project_id__in=profile)
            .order_by("id")
            .values_list("id", "project_id", "git_commit")
        )
        Dataset.objects.bulk_create(
            [
                Dataset(
                    project_id=pid,
                    name=f"{slug}-train",
                    digest=_sha(slug)[:16],
                    external_source=SOURCE,
                    external_id=slug,
                )
                for pid, slug in projects
                if profile[pid] >= 2
            ],
            batch_size=BATCH,
        )
        datasets = dict(Dataset.objects.filter(project_id__in=profile).values_list("project_id", "id"))
        first_run: dict[int, tuple[int, str]] = {}
        for rid, pid, commit in run_rows:
            first_run.setdefault(pid, (rid, commit))
        with_data = {rid for rid, pid, _ in run_rows if pid in datasets and (rid % 2 == 0 or first_run[pid][0] == rid)}
        RunInput.objects.bulk_create(
            [
                RunInput(run_id=rid, dataset_id=datasets[pid], context="training")
                for rid, pid, _ in run_rows
                if rid in with_data
            ],
            batch_size=BATCH,
        )

        RegisteredModel.objects.bulk_create(
            [
                RegisteredModel(
                    project_id=pid, name=f"{slug}-model", external_source=SOURCE, external_id=f"{slug}-model"
                )
                for pid, slug in projects
                if profile[pid] >= 2
            ],
            batch_size=BATCH,
        )
        models = dict(RegisteredModel.objects.filter(project_id__in=profile).values_list("project_id", "id"))
        ModelVersion.objects.bulk_create(
            [
                ModelVersion(
                    model_id=mid,
                    version=str(v),
                    training_run_id=first_run[pid][0],
                    git_commit=first_run[pid][1],
                    registered_at=now - timedelta(days=10 - v),
                    external_source=SOURCE,
                    external_id=f"{mid}/{v}",
                )
                for pid, mid in models.items()
                for v in range(1, 6)
            ],
            batch_size=BATCH,
        )
        newest = {}
        for vid, mid in (
            ModelVersion.objects.filter(model_id__in=models.values()).order_by("id").values_list("id", "model_id")
        ):
            newest[mid] = vid
        ModelAlias.objects.bulk_create(
            [
                ModelAlias(model_id=mid, version_id=newest[mid], alias="champion")
                for pid, mid in models.items()
                if profile[pid] >= 3
            ],
            batch_size=BATCH,
        )

        GitRepository.objects.bulk_create(
            [
                GitRepository(
                    name=slug,
                    url=f"https://git.example.com/{slug}.git",
                    web_url=f"https://github.com/acme/{slug}",
                    project_id=pid,
                    head_sha=_sha(slug),
                    scanned_at=now,
                    activity={"committers": [{"name": "Ada", "email": "ada@example.com", "commits": 9}]},
                )
                for pid, slug in projects
                if profile[pid] >= 1
            ],
            batch_size=BATCH,
        )
        kinds = {
            1: ["data_versioning", "scoring_code", "test_file", "ci_config", "dependency_lock"],
            2: ["training_code", "scoring_test"],
            3: ["dockerfile", "infrastructure"],
            4: ["monitoring"],
        }
        signals = []
        for rid, pid, sha in GitRepository.objects.filter(project_id__in=profile).values_list(
            "id", "project_id", "head_sha"
        ):
            for level in range(1, profile[pid] + 1):
                for kind in kinds[level]:
                    signals.extend(
                        RepoSignal(repository_id=rid, kind=kind, path=f"{kind}/{n}.py", commit_sha=sha, observed_at=now)
                        for n in range(2)
                    )
        RepoSignal.objects.bulk_create(signals, batch_size=BATCH)

        pipelines = []
        for pid, slug in projects:
            p, source = profile[pid], f"repo:github.com/acme/{slug}"
            if p >= 1:
                pipelines.append(_pipeline(pid, source, "ci", "ci", "push", "test"))
            if p >= 3:
                pipelines.append(_pipeline(pid, source, "deploy", "deployment", "push", "deploy"))
            if p >= 4:
                pipelines.append(_pipeline(pid, source, "train", "training", "schedule", "train"))
        Pipeline.objects.bulk_create(pipelines, batch_size=BATCH)
        ci_runs = []
        for plid, pid, kind, source in Pipeline.objects.filter(project_id__in=profile).values_list(
            "id", "project_id", "kind", "external_source"
        ):
            p = profile[pid]
            for n in range(6 if kind == "ci" else 3):
                tested = kind == "ci" and p >= 3
                ci_runs.append(
                    PipelineRun(
                        pipeline_id=plid,
                        external_source=source,
                        external_id=str(n),
                        status="success" if n % 5 else "failure",
                        commit_sha=first_run[pid][1] if first_run[pid][1] and n == 1 else _sha(plid, n),
                        trigger="push",
                        started_at=now - timedelta(days=n),
                        finished_at=now - timedelta(days=n) + timedelta(minutes=7),
                        url=f"https://github.com/acme/x/actions/runs/{plid * 10 + n}",
                        tests_total=40 if tested else None,
                        tests_failed=0 if tested else None,
                        tests_errors=0 if tested else None,
                    )
                )
        PipelineRun.objects.bulk_create(ci_runs, batch_size=BATCH)
        links = [
            PipelineRun.training_runs.through(pipelinerun_id=prid, trainingrun_id=first_run[pid][0])
            for prid, pid in PipelineRun.objects.filter(pipeline__project_id__in=profile, external_id="1").values_list(
                "id", "pipeline__project_id"
            )
            if profile[pid] >= 2
        ]
        PipelineRun.training_runs.through.objects.bulk_create(links, batch_size=BATCH)

        attested = {2: ["release.engineering-managed"], 3: ["release.engineering-managed"]}
        attested[4] = [*attested[3], "people.production-markers"]
        Attestation.objects.bulk_create(
            [
                Attestation(
                    project_id=pid,
                    rubric_id="azure-mlops",
                    criterion_id=c,
                    statement="Confirmed by the team.",
                    attested_by=maintainer,
                    attested_by_name=maintainer.username,
                    expires_at=now + timedelta(days=120),
                )
                for pid in profile
                for c in attested.get(profile[pid], [])
            ],
            batch_size=BATCH,
        )
        waivers = [
            Waiver(
                project_id=pid,
                rubric_id="azure-mlops",
                criterion_id=c,
                justification="Governance rolls out in Q2.",
                granted_by=manager,
                granted_by_name=manager.username,
                expires_at=now + timedelta(days=120),
            )
            for pid in profile
            if profile[pid] == 4
            for c in ("release.governed-promotions", "release.governed-aliases")
        ]
        Waiver.objects.bulk_create(waivers, batch_size=BATCH)
    return len(projects)


def _analyze() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def _collect() -> tuple[float, int, dict]:
    with CaptureQueriesContext(connection) as ctx:
        started = perf_counter()
        evidence = collect_evidence(now=timezone.now())
        took = perf_counter() - started
    return took, len(ctx.captured_queries), evidence


def _dashboard(client: Client, path: str) -> tuple[float, float, int]:
    for _ in range(3):
        assert client.get(path).status_code == 200
    samples = []
    for _ in range(DASHBOARD_SAMPLES):
        started = perf_counter()
        response = client.get(path)
        samples.append((perf_counter() - started) * 1000)
        assert response.status_code == 200
    with CaptureQueriesContext(connection) as ctx:
        client.get(path)
    return statistics.median(samples), sorted(samples)[int(0.95 * (len(samples) - 1))], len(ctx.captured_queries)


def _stage(label: str, rubric, client: Client | None) -> dict[str, Any]:
    n = Project.objects.count()
    evidence_s, queries, evidence = _collect()  # with the garbage collector on (the service pauses it)
    records = sum(len(e.records) for e in evidence.values())
    now = timezone.now()
    started = perf_counter()
    cards = {pid: score(rubric, ev, now=now) for pid, ev in evidence.items()}
    engine_s = perf_counter() - started
    levels = Counter(c.level for c in cards.values())
    # Profiles 0..4 in equal shares: each level holds a fifth of the projects.
    assert levels == Counter(dict.fromkeys(range(5), n // 5)), levels

    started = perf_counter()
    first = projects_score(actor="bench", trigger="cli")
    first_s = perf_counter() - started
    started = perf_counter()
    again = projects_score(actor="bench", trigger="cli")
    again_s = perf_counter() - started
    assert again.counts["snapshots"] == 0
    assert again.counts["unchanged"] == n
    size = sum(len(str(s)) for s in Assessment.objects.filter(is_latest=True).values_list("scorecard", flat=True)[:200])
    out = {
        "projects": n,
        "records": records,
        "evidence_s": evidence_s,
        "queries": queries,
        "engine_s": engine_s,
        "first": first,
        "first_s": first_s,
        "again": again,
        "again_s": again_s,
        "snapshot_kb": size / 200 / 1024,
    }
    print(
        f"\n--- {label}: {n:,} projects, {records:,} evidence records (load {_load()}) ---\n"
        f"evidence   {evidence_s:.2f} s, {queries} queries\n"
        f"engine     {engine_s:.2f} s ({engine_s / n * 1e6:.0f} us per project)\n"
        f"levels     {dict(sorted(levels.items()))}\n"
        f"run 1      {first_s:.2f} s total (service timings {first.timings}); {first.counts}\n"
        f"run 2      {again_s:.2f} s total (service timings {again.timings}); {again.counts['unchanged']:,} unchanged\n"
        f"snapshot   {out['snapshot_kb']:.1f} KiB of JSON per project",
        flush=True,
    )
    if client is not None:
        # History behind the trend: older snapshots for a fifth of the projects.
        latest = list(Assessment.objects.filter(is_latest=True).order_by("id")[: n // 5])
        old = []
        for a in latest:
            for days in (20, 60, 120):
                at = a.computed_at - timedelta(days=days)
                old.append(
                    Assessment(
                        project_id=a.project_id,
                        rubric_id=a.rubric_id,
                        rubric_version=a.rubric_version,
                        level=max(a.level - 1, 0),
                        dimensions=a.dimensions,
                        fingerprint="old",
                        is_latest=False,
                        trigger="nightly",
                        computed_at=at,
                        checked_at=at,
                    )
                )
        Assessment.objects.bulk_create(old, batch_size=BATCH)
        MaturityGoal.objects.create(
            name="Tier 1 at 3", rubric_id="azure-mlops", target_level=3, due_date=now.date(), risk_tier=1
        )
        p50, p95, dq = _dashboard(client, "/maturity/")
        t50, t95, tq = _dashboard(client, "/maturity/?team=bench-000&risk_tier=1")
        out.update(dashboard=(p50, p95, dq), filtered=(t50, t95, tq))
        print(
            f"dashboard  /maturity/ p50 {p50:.0f} ms, p95 {p95:.0f} ms, {dq} queries ({DASHBOARD_SAMPLES} requests); "
            f"filtered p50 {t50:.0f} ms, p95 {t95:.0f} ms, {tq} queries",
            flush=True,
        )
    return out


def test_scoring_10k_projects() -> None:
    rubric = get_rubric("azure-mlops")
    maintainer = User.objects.create_user(username="bench-maintainer")
    manager = User.objects.create_user(username="bench-manager")
    manager.groups.add(Group.objects.get_or_create(name="managers")[0])
    client = Client()
    client.force_login(manager)
    print(
        f"\n=== mlgov benchmark: scoring ===\nbackend   {_backend()}\n"
        f"machine   {os.cpu_count()} CPUs, load average {_load()}, Python {platform.python_version()}, "
        f"Django {django.get_version()}",
        flush=True,
    )
    stages = []
    first_team = 0
    for index, teams in enumerate(STAGES):
        started = perf_counter()
        _seed(first_team, teams, maintainer, manager)
        _analyze()
        first_team += teams
        print(f"\nseeded {teams * PROJECTS_PER_TEAM:,} more projects in {perf_counter() - started:.1f} s", flush=True)
        stages.append(_stage(f"stage {index + 1}", rubric, client if index == 0 else None))
    small, large = stages
    assert small["queries"] == large["queries"], "evidence collection must cost the same queries at any size"
    print(
        f"\nrows: training runs {TrainingRun.objects.count():,}, run inputs {RunInput.objects.count():,}, "
        f"versions {ModelVersion.objects.count():,}, signals {RepoSignal.objects.count():,}, "
        f"CI runs {PipelineRun.objects.count():,}, attestations {Attestation.objects.count():,}, "
        f"audit events {AuditEvent.objects.count():,}, scoring runs {ScoringRun.objects.count()}"
    )
    print(f"\nFor docs/performance.md ({_backend()}, load average now {_load()}):\n")
    print(
        "| Projects | Evidence records | Queries | Run | Evidence s | Engine s | Write s | Total s | Total / 10 s "
        "| Evidence s, GC on | Engine s, GC on |"
    )
    print("|--:|--:|--:|---|--:|--:|--:|--:|--:|--:|--:|")
    for s in stages:
        for label, run, total in (
            ("1: every snapshot new", s["first"], s["first_s"]),
            ("2: nothing changed", s["again"], s["again_s"]),
        ):
            t = run.timings
            print(
                f"| {s['projects']:,} | {s['records']:,} | {s['queries']} | {label} | {t['evidence_s']:.2f} "
                f"| {t['engine_s']:.2f} | {t['write_s']:.2f} | {total:.2f} | {total / TARGET_RUN_S:.2f} "
                f"| {s['evidence_s']:.2f} | {s['engine_s']:.2f} |"
            )
    p50, p95, dq = small["dashboard"]
    t50, t95, tq = small["filtered"]
    print("\n| Dashboard (1,000 projects) | p50 ms | p95 ms | Queries | p50 / 300 ms |")
    print("|---|--:|--:|--:|--:|")
    print(f"| `/maturity/` | {p50:.0f} | {p95:.0f} | {dq} | {p50 / TARGET_DASHBOARD_MS:.2f} |")
    print(f"| `/maturity/?team=…&risk_tier=1` | {t50:.0f} | {t95:.0f} | {tq} | {t50 / TARGET_DASHBOARD_MS:.2f} |")
