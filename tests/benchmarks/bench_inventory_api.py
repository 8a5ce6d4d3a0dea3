"""Benchmark: a 100-row page of GET /api/v1/model-versions/ over 100,000 model versions, in process.

The issue: seed 100k model versions and report p50 and p95 latency of a 100-row list page, on SQLite
and PostgreSQL. Target: p50 under 50 ms. Anchor: MLflow's own registry search takes 0.5-0.85 s on
PostgreSQL with a few hundred models (mlflow/mlflow#13633).

It runs on whatever DATABASE_URL points at (SQLite by default):

    make bench
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/mlgov_bench make bench

Every request goes through the whole stack (middleware, bearer-token authentication, filters, cursor
pagination, serializer, JSON renderer) with DRF's APIClient, in the same process: no network and no
connection set-up, so the figures are the server's own cost. Timings are printed, never asserted
(performance is measured by benchmarks, not timed tests); the content of every timed response is
checked against the ORM, so the benchmark also fails if a page is wrong.

Results are recorded in docs/performance.md.
"""

from __future__ import annotations

import hashlib
import os
import platform
import sqlite3
import statistics
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from time import perf_counter, process_time
from typing import Any
from urllib.parse import urlencode
from uuid import uuid4

import django
import pytest
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from rest_framework.test import APIClient

from mlgov.accounts.models import User
from mlgov.accounts.services import api_token_create
from mlgov.inventory import selectors
from mlgov.inventory.choices import Lifecycle, ModelVersionStatus
from mlgov.inventory.filters import ModelVersionFilterSet
from mlgov.inventory.models import ModelAlias, ModelVersion, Project, RegisteredModel, Team

# --- Scale: 10 teams x 5 projects x 20 models x 100 versions = 100,000 model versions ---
TEAMS = 10
PROJECTS_PER_TEAM = 5
MODELS_PER_PROJECT = 20
VERSIONS_PER_MODEL = 100
BATCH_SIZE = 1000
SOURCE = "mlflow:bench"

# --- Measurement ---
URL = "/api/v1/model-versions/"
PAGE_SIZE = 100
WARMUP = 10
SAMPLES = int(os.environ.get("MLGOV_BENCH_SAMPLES", "200"))
ORM_SAMPLES = 50  # the same page through the ORM alone, to split database+ORM time from the rest
DEEP_PAGE = 500  # the page reached by following `next` from the first page

# --- References named in the issue ---
TARGET_MS = 50.0
ANCHOR_MS = 500.0  # MLflow registry search, lower end of 0.5-0.85 s (mlflow/mlflow#13633)

RESULTS: list[dict[str, Any]] = []

# The marker makes pytest-django create the test database; each test runs in a transaction that is
# rolled back, while the seeded rows (committed by the module fixture) stay for every case.
pytestmark = pytest.mark.django_db


def _hex(text: str, length: int) -> str:
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:length]


def _backend() -> str:
    if connection.vendor == "postgresql":
        major, rest = divmod(connection.pg_version, 10000)
        return f"PostgreSQL {major}.{rest % 100}"
    if connection.vendor == "sqlite":
        name = connection.settings_dict["NAME"]
        where = "in memory" if "memory" in str(name) else f"file {os.path.basename(str(name))}"
        return f"SQLite {sqlite3.sqlite_version} ({where})"
    return connection.vendor


# --------------------------------------------------------------------------------------------------
# Seed
# --------------------------------------------------------------------------------------------------


def _seed() -> dict[str, Any]:
    """Bulk-create the inventory. Versions are registered round by round across all models (as
    retraining does), so a model's versions are spread over the whole id range, not one block."""
    now = timezone.now()
    with transaction.atomic():
        Team.objects.bulk_create(
            Team(slug=f"bench-team-{t:02d}", name=f"Bench team {t:02d}", description="Benchmark team.")
            for t in range(TEAMS)
        )
        teams = list(Team.objects.filter(slug__startswith="bench-team-").order_by("slug"))
        Project.objects.bulk_create(
            Project(
                team=team,
                slug=f"bench-{team.slug[-2:]}-project-{p}",
                name=f"Project {p} of {team.name}",
                description="A benchmark project.",
                risk_tier=1 + p % 3,
                lifecycle=Lifecycle.IN_USE,
            )
            for team in teams
            for p in range(PROJECTS_PER_TEAM)
        )
        projects = list(Project.objects.filter(team__in=teams).select_related("team").order_by("slug"))
        RegisteredModel.objects.bulk_create(
            (
                RegisteredModel(
                    project=project,
                    name=f"model-{i * MODELS_PER_PROJECT + m:04d}",
                    description="A benchmark model.",
                    tags={"owner": project.team.slug, "domain": "churn" if m % 2 else "fraud"},
                    external_source=SOURCE,
                    external_id=f"model-{i * MODELS_PER_PROJECT + m:04d}",
                )
                for i, project in enumerate(projects)
                for m in range(MODELS_PER_PROJECT)
            ),
            batch_size=BATCH_SIZE,
        )
        models = list(RegisteredModel.objects.filter(external_source=SOURCE).select_related("project").order_by("id"))

        for v in range(1, VERSIONS_PER_MODEL + 1):
            registered_at = now - timedelta(hours=VERSIONS_PER_MODEL - v)
            batch = []
            for model in models:
                run_id = _hex(f"run:{model.name}:{v}", 32)
                batch.append(
                    ModelVersion(
                        model=model,
                        version=str(v),
                        status=ModelVersionStatus.READY,
                        source=f"s3://mlflow-artifacts/{model.pk}/{run_id}/artifacts/model",
                        run_id=run_id,
                        # One commit per project per training round: the project's models share it.
                        git_commit=_hex(f"commit:{model.project.slug}:{v}", 40),
                        tags={"mlflow.source.type": "JOB", "framework": "xgboost", "round": str(v)},
                        metrics={"auc": 0.8 + (v % 17) / 100, "f1": 0.7 + (v % 13) / 100, "logloss": 0.3},
                        registered_at=registered_at,
                        external_source=SOURCE,
                        external_id=f"{model.name}/{v}",
                    )
                )
            ModelVersion.objects.bulk_create(batch, batch_size=BATCH_SIZE)

        # champion on one of the last 10 versions; challenger on the newest version of every other model.
        wanted = {}
        for n, model in enumerate(models):
            wanted[(model.pk, str(VERSIONS_PER_MODEL - 10 + n % 10))] = "champion"
            if n % 2 == 0:
                wanted[(model.pk, str(VERSIONS_PER_MODEL))] = "challenger"
        version_ids = {
            (model_id, version): pk
            for pk, model_id, version in ModelVersion.objects.filter(
                external_source=SOURCE, version__in={version for _, version in wanted}
            ).values_list("pk", "model_id", "version")
        }
        ModelAlias.objects.bulk_create(
            (
                ModelAlias(model_id=model_id, version_id=version_ids[(model_id, version)], alias=alias)
                for (model_id, version), alias in wanted.items()
            ),
            batch_size=BATCH_SIZE,
        )
    return {"teams": teams, "projects": projects, "models": models}


def _analyze() -> None:
    """PostgreSQL: VACUUM ANALYZE, which autovacuum does on its own after a bulk load like this one.
    SQLite: nothing; a production SQLite file has no planner statistics unless someone runs ANALYZE."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for model in (Team, Project, RegisteredModel, ModelVersion, ModelAlias):
            cursor.execute(f"VACUUM ANALYZE {connection.ops.quote_name(model._meta.db_table)}")


def _cleanup() -> None:
    """Remove the seeded rows, so a run with --reuse-db can seed again."""
    with transaction.atomic(), connection.cursor() as cursor:
        q = connection.ops.quote_name
        alias_t, version_t, model_t = (q(m._meta.db_table) for m in (ModelAlias, ModelVersion, RegisteredModel))
        project_t, team_t = q(Project._meta.db_table), q(Team._meta.db_table)
        cursor.execute(
            f"DELETE FROM {alias_t} WHERE model_id IN (SELECT id FROM {model_t} WHERE external_source = %s)",
            [SOURCE],
        )
        cursor.execute(f"DELETE FROM {version_t} WHERE external_source = %s", [SOURCE])
        cursor.execute(f"DELETE FROM {model_t} WHERE external_source = %s", [SOURCE])
        cursor.execute(f"DELETE FROM {project_t} WHERE slug LIKE %s", ["bench-%"])
        cursor.execute(f"DELETE FROM {team_t} WHERE slug LIKE %s", ["bench-team-%"])


@dataclass
class Bench:
    client: APIClient
    teams: list[Team]
    projects: list[Project]
    models: list[RegisteredModel]


def _on_test_database() -> bool:
    """pytest-django only creates the test database when a collected test carries the django_db
    marker; without it, unblocked code would write to the real database. Never seed that."""
    name = str(connection.settings_dict["NAME"])
    return "test" in os.path.basename(name) or "memory" in name


@pytest.fixture(scope="module")
def bench(django_db_setup: None, django_db_blocker: Any) -> Iterator[Bench]:
    """Seed once per module and commit (outside the per-test transactions), then remove it again."""
    with django_db_blocker.unblock():
        assert _on_test_database(), f"refusing to seed {connection.settings_dict['NAME']}: not a test database"
        _cleanup()
        started = perf_counter()
        seeded = _seed()
        seed_s = perf_counter() - started
        started = perf_counter()
        _analyze()
        analyze_s = perf_counter() - started
        counts = {m.__name__: m.objects.count() for m in (Team, Project, RegisteredModel, ModelVersion, ModelAlias)}
        seeded_versions = ModelVersion.objects.filter(external_source=SOURCE).count()
        assert seeded_versions == TEAMS * PROJECTS_PER_TEAM * MODELS_PER_PROJECT * VERSIONS_PER_MODEL

        user = User.objects.create_user(username=f"bench-{uuid4().hex[:8]}")
        _, raw = api_token_create(actor=user, user=user, name="bench", scope="read")
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")

        print(
            f"\n=== mlgov benchmark: model-version list API ===\n"
            f"backend   {_backend()}\n"
            f"machine   {os.cpu_count()} CPUs, load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}, "
            f"Python {platform.python_version()}, Django {django.get_version()}\n"
            f"seeded    {', '.join(f'{n} {c:,}' for n, c in counts.items())}\n"
            f"seed time {seed_s:.1f} s (bulk_create, batches of {BATCH_SIZE})"
            + (f", VACUUM ANALYZE {analyze_s:.1f} s" if connection.vendor == "postgresql" else "")
            + f"\nmeasure   {WARMUP} warm-up + {SAMPLES} timed requests per case, page_size={PAGE_SIZE}, "
            f"target p50 < {TARGET_MS:.0f} ms, anchor {ANCHOR_MS:.0f} ms (mlflow/mlflow#13633)",
            flush=True,
        )
    yield Bench(client=client, **seeded)
    _print_table()
    with django_db_blocker.unblock():
        _cleanup()


# --------------------------------------------------------------------------------------------------
# Measure
# --------------------------------------------------------------------------------------------------


def _check(response: Any, expected_ids: list[int]) -> None:
    assert response.status_code == 200, response.content[:500]
    got = [row["id"] for row in response.json()["results"]]
    assert got == expected_ids, f"page differs from the ORM: got {got[:5]}..., expected {expected_ids[:5]}..."


def _median_ms(fn: Callable[[], object], n: int) -> float:
    samples = []
    for _ in range(n):
        started = perf_counter()
        fn()
        samples.append((perf_counter() - started) * 1000)
    return statistics.median(samples)


def _measure(
    case: str,
    client: APIClient,
    url: str,
    page: QuerySet[ModelVersion],
    params: dict[str, str] | None = None,
    upto: int | None = None,
) -> dict[str, Any]:
    """Time `url`. `page` is the oracle: the expected rows written plainly with the ORM (the object
    selector, `Q(...__icontains)` for the search), independent of the view's code, so a wrong page fails.
    "ORM" times the view's own queryset (the API list selector and the filterset with `params`), to split
    the ORM's share (SQL, fetching, model instances, prefetch) from the rest (auth, DRF, serializer, JSON)."""
    page = page.order_by("-id")
    own = ModelVersionFilterSet(params or {}, queryset=selectors.model_version_api_list(user=None)).qs
    own = (own if upto is None else own.filter(id__lte=upto)).order_by("-id")
    expected_ids = [mv.pk for mv in page[:PAGE_SIZE]]
    assert expected_ids, f"{case}: the seed data has no matching rows"
    for _ in range(WARMUP):
        _check(client.get(url), expected_ids)
    queries: list[str] = []
    with connection.execute_wrapper(lambda execute, sql, *args: queries.append(sql) or execute(sql, *args)):
        _check(client.get(url), expected_ids)
    assert [mv.pk for mv in own[:PAGE_SIZE]] == expected_ids, f"{case}: the view's queryset differs from the oracle"
    orm_p50 = _median_ms(lambda: list(own[: PAGE_SIZE + 1]), ORM_SAMPLES)

    samples, cpu, size = [], [], 0
    for _ in range(SAMPLES):
        started, cpu_started = perf_counter(), process_time()
        response = client.get(url)
        samples.append((perf_counter() - started) * 1000)
        cpu.append((process_time() - cpu_started) * 1000)
        _check(response, expected_ids)
        size = len(response.content)

    p50 = statistics.median(samples)
    result = {
        "case": case,
        "rows": len(expected_ids),
        "p50": p50,
        "p95": statistics.quantiles(samples, n=20, method="inclusive")[18],
        "max": max(samples),
        "cpu_p50": statistics.median(cpu),
        "orm_p50": orm_p50,
        "queries": len(queries),
        "kb": size / 1024,
    }
    RESULTS.append(result)
    verdict = "meets target" if p50 < TARGET_MS else "MISSES TARGET"
    print(
        f"{case:<34} p50 {p50:6.1f} ms  p95 {result['p95']:6.1f} ms  max {result['max']:6.1f} ms "
        f"| CPU {result['cpu_p50']:5.1f} ms, ORM {orm_p50:5.1f} ms, {result['queries']} queries, "
        f"{result['rows']} rows, {result['kb']:.0f} KB "
        f"| p50/target {p50 / TARGET_MS:.2f} ({verdict}), p50/anchor {p50 / ANCHOR_MS:.3f}",
        flush=True,
    )
    return result


def _print_table() -> None:
    if not RESULTS:
        return
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\nFor docs/performance.md ({_backend()}, {SAMPLES} requests per case, load average now {load}):\n")
    print("| Case | Rows | p50 ms | p95 ms | max ms | CPU p50 ms | ORM ms | Queries | p50 / target | p50 / anchor |")
    print("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    for r in RESULTS:
        print(
            f"| {r['case']} | {r['rows']} | {r['p50']:.1f} | {r['p95']:.1f} | {r['max']:.1f} | {r['cpu_p50']:.1f} "
            f"| {r['orm_p50']:.1f} "
            f"| {r['queries']} | {r['p50'] / TARGET_MS:.2f} | {r['p50'] / ANCHOR_MS:.3f} |"
        )
    RESULTS.clear()


def _list_url(**params: str) -> str:
    return f"{URL}?{urlencode({'page_size': PAGE_SIZE, **params})}"


def _versions() -> QuerySet[ModelVersion]:
    """What the view lists: the selector's queryset (joins and prefetch included)."""
    return selectors.model_version_list(user=None)


# --------------------------------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------------------------------


def test_first_page(bench: Bench) -> None:
    _measure("first page", bench.client, _list_url(), _versions())


def test_deep_page(bench: Bench) -> None:
    """Follow `next` from the first page to page DEEP_PAGE, then time that page."""
    url = _list_url()
    started = perf_counter()
    for _ in range(DEEP_PAGE - 1):
        response = bench.client.get(url)
        assert response.status_code == 200
        url = response.json()["next"]
        assert url
    walk_ms = (perf_counter() - started) * 1000 / (DEEP_PAGE - 1)
    print(f"{'(cursor walk)':<34} {DEEP_PAGE - 1} pages followed, {walk_ms:.1f} ms per page (mean)", flush=True)
    offset = (DEEP_PAGE - 1) * PAGE_SIZE
    first_id = ModelVersion.objects.order_by("-id").values_list("id", flat=True)[offset]
    _measure(f"page {DEEP_PAGE} (via cursor)", bench.client, url, _versions().filter(id__lte=first_id), upto=first_id)


Filter = Callable[[Bench], tuple[dict[str, str], QuerySet[ModelVersion]]]


def by_team(b: Bench) -> tuple[dict[str, str], QuerySet[ModelVersion]]:
    slug = b.teams[3].slug
    return {"team": slug}, _versions().filter(model__project__team__slug=slug)


def by_project(b: Bench) -> tuple[dict[str, str], QuerySet[ModelVersion]]:
    slug = b.projects[17].slug
    return {"project": slug}, _versions().filter(model__project__slug=slug)


def by_alias(b: Bench) -> tuple[dict[str, str], QuerySet[ModelVersion]]:
    return {"alias": "champion"}, _versions().filter(aliases__alias="champion")


def by_commit(b: Bench) -> tuple[dict[str, str], QuerySet[ModelVersion]]:
    prefix = _hex(f"commit:{b.projects[7].slug}:{VERSIONS_PER_MODEL // 2}", 7)
    return {"commit": prefix}, _versions().filter(git_commit__startswith=prefix)


def by_search(b: Bench) -> tuple[dict[str, str], QuerySet[ModelVersion]]:
    """Free-text search (?q=) over model name, run id and commit: not a plain list page, shown for
    comparison."""
    name = b.models[421].name
    return {"q": name}, _versions().filter(
        Q(model__name__icontains=name) | Q(run_id__icontains=name) | Q(git_commit__icontains=name)
    )


@pytest.mark.parametrize("make", [by_team, by_project, by_alias, by_commit, by_search], ids=lambda f: f.__name__)
def test_filtered_page(bench: Bench, make: Filter) -> None:
    params, page = make(bench)
    label = "filter " + "&".join(f"{k}={v}" for k, v in params.items())
    _measure(label, bench.client, _list_url(**params), page, params)
