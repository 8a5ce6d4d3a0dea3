"""Benchmark: approve-and-gate latency with 10,000 open promotion requests, and the CD gate endpoint.

The issue: approve-and-gate latency p50 under 50 ms with 10k open requests; the gate endpoint
(`GET /api/v1/promotions/gate?model=&version=&target=`) under 30 ms. Print the ratios.

What runs, in process, on DATABASE_URL (SQLite file by default, see conftest.py; PostgreSQL when set):

- a seed, bulk-created and committed once: 100 registered models x 100 versions, each with its training run
  (metrics, params, a dataset input with a digest) and a green CI run on its commit, and 10,000 pending
  requests to `production` under a policy with every gate (a metric expression, green CI, dataset lineage,
  no regression against the current holder), two approvals, an approver team and strict independence;
- `POST /api/v1/promotions/<id>/approve` through the whole stack (bearer-token authentication, DRF, the
  service under its row lock, gate evaluation from the evidence, the review, the audit event, the commit,
  the JSON answer): a first approval (stays pending) and a last approval (moves the request to approved;
  the apply task is published to kombu's in-memory transport on commit, as to a broker, and not run);
- the gate endpoint for versions that hold production through an applied promotion (allowed) and versions
  that do not (refused, with the open request and the gates evaluated);
- the review queue (`GET /api/v1/promotions?actionable=true`) over the 10k pending requests, for context.

Every timed response is checked (status, state, allowed). Timings are printed, not asserted.

    make bench BENCH_ARGS=tests/benchmarks/bench_promotions.py
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/mlgov_bench \
        make bench BENCH_ARGS=tests/benchmarks/bench_promotions.py

Results are recorded in docs/performance.md ("Promotions").
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

import django
import pytest
from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from mlgov.accounts.models import Membership, User
from mlgov.accounts.services import api_token_create
from mlgov.governance.models import AliasChange, PromotionPolicy, PromotionRequest, Review
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

MODELS = 100
VERSIONS = 100  # 10,000 versions, one open request each
SOURCE = "mlflow:bench-promotions"
BATCH = 1000
WARMUP = 5
SAMPLES = int(os.environ.get("MLGOV_BENCH_SAMPLES", "200"))
TARGET_APPROVE_MS = 50.0
TARGET_GATE_MS = 30.0
RESULTS: list[dict[str, Any]] = []

pytestmark = pytest.mark.django_db


def _hex(text: str, n: int) -> str:
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:n]


def _backend() -> str:
    if connection.vendor == "postgresql":
        major, rest = divmod(connection.pg_version, 10000)
        return f"PostgreSQL {major}.{rest % 100}"
    return f"SQLite {sqlite3.sqlite_version} (file {os.path.basename(str(connection.settings_dict['NAME']))})"


def _load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


@dataclass
class Bench:
    requests: list[int]  # pending request ids, in version order
    clients: dict[str, APIClient]
    models: list[RegisteredModel]
    policy: PromotionPolicy


def _seed() -> dict[str, Any]:
    now = timezone.now()
    with transaction.atomic():
        team = Team.objects.create(slug="bench-promo", name="Bench promotions")
        risk = Team.objects.create(slug="bench-promo-risk", name="Bench model risk")
        project = Project.objects.create(team=team, slug="bench-promo", name="Bench promotions", risk_tier=1)
        experiment = Experiment.objects.create(project=project, name="bench", external_source=SOURCE, external_id="1")
        pipeline = Pipeline.objects.create(project=project, provider="github", name="train", external_source=SOURCE)
        Dataset.objects.bulk_create(
            Dataset(
                project=project,
                name=f"ds-{m}",
                digest=_hex(f"ds{m}", 16),
                external_source=SOURCE,
                external_id=f"ds-{m}",
            )
            for m in range(MODELS)
        )
        datasets = list(Dataset.objects.filter(external_source=SOURCE).order_by("id"))
        RegisteredModel.objects.bulk_create(
            RegisteredModel(
                project=project, name=f"bench-model-{m:03d}", external_source=SOURCE, external_id=f"bench-model-{m:03d}"
            )
            for m in range(MODELS)
        )
        models = list(RegisteredModel.objects.filter(external_source=SOURCE).order_by("id"))
        TrainingRun.objects.bulk_create(
            (
                TrainingRun(
                    project=project,
                    experiment=experiment,
                    name=f"run-{m}-{v}",
                    status="FINISHED",
                    user=f"ds-{m % 7}",
                    launched_by="person",
                    git_commit=_hex(f"c{m}/{v}", 40),
                    params={"max_depth": str(4 + v % 4), "optimizer": "adam"},
                    metrics={"auc": 0.86 + (v % 10) / 100, "latency_p95_ms": 30 + v % 15, "f1": 0.8},
                    external_source=SOURCE,
                    external_id=_hex(f"r{m}/{v}", 32),
                    started_at=now,
                )
                for m in range(MODELS)
                for v in range(1, VERSIONS + 1)
            ),
            batch_size=BATCH,
        )
        runs = {r.external_id: r for r in TrainingRun.objects.filter(external_source=SOURCE)}
        RunInput.objects.bulk_create(
            (
                RunInput(run=runs[_hex(f"r{m}/{v}", 32)], dataset=datasets[m], context="training")
                for m in range(MODELS)
                for v in range(1, VERSIONS + 1)
            ),
            batch_size=BATCH,
        )
        PipelineRun.objects.bulk_create(
            (
                PipelineRun(
                    pipeline=pipeline,
                    external_id=f"{m}-{v}",
                    status="success",
                    commit_sha=_hex(f"c{m}/{v}", 40),
                    started_at=now,
                    finished_at=now,
                    external_source=SOURCE,
                )
                for m in range(MODELS)
                for v in range(1, VERSIONS + 1)
            ),
            batch_size=BATCH,
        )
        ModelVersion.objects.bulk_create(
            (
                ModelVersion(
                    model=models[m],
                    version=str(v),
                    run_id=_hex(f"r{m}/{v}", 32),
                    training_run=runs[_hex(f"r{m}/{v}", 32)],
                    git_commit=_hex(f"c{m}/{v}", 40),
                    metrics={"auc": 0.86 + (v % 10) / 100},
                    external_source=SOURCE,
                    external_id=f"bench-model-{m:03d}/{v}",
                    registered_at=now,
                )
                for m in range(MODELS)
                for v in range(1, VERSIONS + 1)
            ),
            batch_size=BATCH,
        )
        versions = {(mv.model_id, mv.version): mv for mv in ModelVersion.objects.filter(external_source=SOURCE)}
        # Every model's production is held by its v1, through an applied promotion (the history says so).
        ModelAlias.objects.bulk_create(
            ModelAlias(model=m, alias="production", version=versions[(m.pk, "1")]) for m in models
        )
        AliasChange.objects.bulk_create(
            AliasChange(
                model=m,
                alias="production",
                version=versions[(m.pk, "1")],
                version_number="1",
                source="promotion",
                started_at=now,
            )
            for m in models
        )
        policy = PromotionPolicy.objects.create(
            name="bench-production",
            target="production",
            approvals_required=2,
            approver_team=risk,
            independence="strict",
            metric_gate="metrics.auc >= 0.85 and metrics.latency_p95_ms < 50",
            require_green_ci=True,
            require_dataset_lineage=True,
            no_regression={"auc": "higher"},
            max_age_hours=24 * 30,
        )
        requester = User.objects.create_user(username="bench-requester", email="req@example.com")
        Membership.objects.create(user=requester, team=team, role="member")
        reviewers = Group.objects.get_or_create(name="reviewers")[0]
        people = {}
        for name in ("bench-rui", "bench-rosa"):
            people[name] = User.objects.create_user(username=name, email=f"{name}@example.com")
            people[name].groups.add(reviewers)
            Membership.objects.create(user=people[name], team=risk, role="member")
        expires = now + timedelta(days=30)
        gates = [{"gate": "metric_gate", "status": "pass", "reason": "seeded"}]
        PromotionRequest.objects.bulk_create(
            (
                PromotionRequest(
                    model=models[m],
                    version=versions[(models[m].pk, str(v))],
                    target="production",
                    policy=policy,
                    requested_by=requester,
                    justification="Retrained on fresh data.",
                    approvals_required=2,
                    gates=gates,
                    gates_passed=True,
                    gates_evaluated_at=now,
                    expires_at=expires,
                )
                for v in range(2, VERSIONS + 1)
                for m in range(MODELS)
            ),
            batch_size=BATCH,
        )
        # 10,000 open requests in all: the 9,900 above and one more per model for a version that holds nothing.
        extra = ModelVersion.objects.bulk_create(
            ModelVersion(
                model=m,
                version="101",
                run_id=_hex(f"r{i}/2", 32),
                external_source=SOURCE,
                external_id=f"{m.name}/101",
                training_run=runs[_hex(f"r{i}/2", 32)],
                git_commit=_hex(f"c{i}/2", 40),
                metrics={"auc": 0.9},
                registered_at=now,
            )
            for i, m in enumerate(models)
        )
        PromotionRequest.objects.bulk_create(
            PromotionRequest(
                model=v.model,
                version=v,
                target="production",
                policy=policy,
                requested_by=requester,
                justification="x",
                approvals_required=2,
                expires_at=expires,
            )
            for v in extra
        )
    return {"models": models, "policy": policy, "people": people}


def _analyze() -> None:
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for model in (PromotionRequest, ModelVersion, TrainingRun, RunInput, PipelineRun, AliasChange, Review):
            cursor.execute(f"VACUUM ANALYZE {connection.ops.quote_name(model._meta.db_table)}")


def _cleanup() -> None:
    with transaction.atomic():
        Review.objects.filter(request__model__external_source=SOURCE).delete()
        PromotionRequest.objects.filter(model__external_source=SOURCE).delete()
        AliasChange.objects.filter(model__external_source=SOURCE).delete()
        PromotionPolicy.objects.filter(name="bench-production").delete()
        ModelAlias.objects.filter(model__external_source=SOURCE).delete()
        RunInput.objects.filter(run__external_source=SOURCE).delete()
        ModelVersion.objects.filter(external_source=SOURCE).delete()
        RegisteredModel.objects.filter(external_source=SOURCE).delete()
        PipelineRun.objects.filter(external_source=SOURCE).delete()
        Pipeline.objects.filter(external_source=SOURCE).delete()
        TrainingRun.objects.filter(external_source=SOURCE).delete()
        Dataset.objects.filter(external_source=SOURCE).delete()
        Experiment.objects.filter(external_source=SOURCE).delete()
        Membership.objects.filter(user__username__startswith="bench-").delete()
        User.objects.filter(username__in=["bench-requester", "bench-rui", "bench-rosa"]).delete()
        Project.objects.filter(slug="bench-promo").delete()
        Team.objects.filter(slug__startswith="bench-promo").delete()


@pytest.fixture(scope="module")
def bench(django_db_setup: None, django_db_blocker: Any) -> Iterator[Bench]:
    with django_db_blocker.unblock():
        name = str(connection.settings_dict["NAME"])
        assert "test" in os.path.basename(name) or "memory" in name, f"refusing to seed {name}"
        _cleanup()
        started = perf_counter()
        seeded = _seed()
        seed_s = perf_counter() - started
        _analyze()
        open_requests = PromotionRequest.objects.filter(model__external_source=SOURCE, state="pending").count()
        assert open_requests == MODELS * VERSIONS  # 10,000
        n_versions = ModelVersion.objects.filter(external_source=SOURCE).count()
        clients = {}
        for username, user in seeded["people"].items():
            _, raw = api_token_create(actor=user, user=user, name="bench", scope="write")
            clients[username] = APIClient()
            clients[username].credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        requests = list(
            PromotionRequest.objects.filter(
                model__external_source=SOURCE, version__version__in=[str(v) for v in range(2, 101)]
            )
            .order_by("id")
            .values_list("id", flat=True)
        )
        print(
            f"\n=== mlgov benchmark: promotions ===\n"
            f"backend   {_backend()}\n"
            f"machine   {os.cpu_count()} CPUs, load average {_load()}, Python {platform.python_version()}, "
            f"Django {django.get_version()}\n"
            f"seeded    {open_requests:,} open requests over {n_versions:,} versions "
            f"({seed_s:.1f} s); policy gates {', '.join(seeded['policy'].as_rules().gates)}\n"
            f"measure   {WARMUP} warm-up + {SAMPLES} timed requests per case; targets: approve p50 < "
            f"{TARGET_APPROVE_MS:.0f} ms, gate p50 < {TARGET_GATE_MS:.0f} ms",
            flush=True,
        )
    yield Bench(requests=requests, clients=clients, models=seeded["models"], policy=seeded["policy"])
    _print_table()
    with django_db_blocker.unblock():
        _cleanup()


def _time(case: str, target: float, call: Callable[[int], Any], check: Callable[[Any], None], n: int) -> None:
    for i in range(WARMUP):
        check(call(i))
    queries: list[str] = []
    with connection.execute_wrapper(lambda execute, sql, *a: queries.append(sql) or execute(sql, *a)):
        check(call(WARMUP))
    samples, cpu = [], []
    for i in range(WARMUP + 1, WARMUP + 1 + n):
        started, cpu_started = perf_counter(), process_time()
        response = call(i)
        samples.append((perf_counter() - started) * 1000)
        cpu.append((process_time() - cpu_started) * 1000)
        check(response)
    p50 = statistics.median(samples)
    row = {
        "case": case,
        "p50": p50,
        "p95": statistics.quantiles(samples, n=20, method="inclusive")[18],
        "max": max(samples),
        "cpu": statistics.median(cpu),
        "queries": len(queries),
        "target": target,
    }
    RESULTS.append(row)
    print(
        f"{case:<44} p50 {p50:6.1f} ms  p95 {row['p95']:6.1f} ms  max {row['max']:6.1f} ms | CPU {row['cpu']:5.1f} ms,"
        f" {row['queries']} queries | p50/target {p50 / target:.2f} "
        f"({'meets target' if p50 < target else 'MISSES TARGET'})",
        flush=True,
    )


def _print_table() -> None:
    print("\n| Case | p50 | p95 | max | CPU p50 | queries | p50 / target |\n|---|---|---|---|---|---|---|")
    for r in RESULTS:
        print(
            f"| {r['case']} | {r['p50']:.1f} ms | {r['p95']:.1f} ms | {r['max']:.1f} ms | {r['cpu']:.1f} ms | "
            f"{r['queries']} | {r['p50'] / r['target']:.2f} ({r['target']:.0f} ms) |"
        )
    print(f"load average at the end: {_load()}")


def test_the_gate_endpoint(bench: Bench):
    client = bench.clients["bench-rui"]
    models = bench.models

    def allowed(i: int) -> Any:
        return client.get(f"/api/v1/promotions/gate?model={models[i % MODELS].pk}&version=1&target=production")

    def refused(i: int) -> Any:
        model = models[i % MODELS]
        return client.get(f"/api/v1/promotions/gate?model={model.name}&version={2 + i % 99}&target=production")

    def is_allowed(response: Any) -> None:
        assert response.status_code == 200, response.content[:300]
        assert response.json()["allowed"] is True, response.json()

    def is_refused(response: Any) -> None:
        assert response.status_code == 200, response.content[:300]
        body = response.json()
        assert body["allowed"] is False
        assert body["open_request"] is not None

    _time("gate: approved holder (allowed)", TARGET_GATE_MS, allowed, is_allowed, SAMPLES)
    _time("gate: pending candidate (refused, by name)", TARGET_GATE_MS, refused, is_refused, SAMPLES)


def test_the_review_queue(bench: Bench):
    client = bench.clients["bench-rui"]

    def queue(i: int) -> Any:
        return client.get("/api/v1/promotions?actionable=true&page_size=50")

    def fifty(response: Any) -> None:
        assert response.status_code == 200, response.content[:300]
        assert len(response.json()["results"]) == 50

    _time("review queue, 50 of ~10k actionable (context)", TARGET_APPROVE_MS, queue, fifty, min(SAMPLES, 50))


@pytest.fixture
def broker_without_worker() -> Iterator[None]:
    """Tasks are published (kombu's in-memory transport) and not run, as with a broker and a busy worker:
    the apply task queued by the last approval is not part of the request's latency."""
    from mlgov.celery import app

    saved = {k: app.conf[k] for k in ("broker_url", "task_always_eager")}
    app.conf.update(broker_url="memory://", task_always_eager=False)
    app._pool = None
    yield
    app.conf.update(saved)
    app._pool = None


# Last: its approvals commit for real (as a request's do), and the flush that ends a transactional test
# empties the tables the other cases read.
@pytest.mark.django_db(transaction=True)
def test_approve_first_and_last_approval(bench: Bench, broker_without_worker: None):
    """Approving distinct requests, each committed: rui's is the first approval of each (pending stays),
    rosa's the last (approved; the apply task is published on commit)."""
    n = min(SAMPLES, len(bench.requests) // 2 - WARMUP - 1)
    first_ids = bench.requests[: WARMUP + 1 + n]

    def approve(client: APIClient, pk: int) -> Any:
        return client.post(f"/api/v1/promotions/{pk}/approve", {"comment": "gates pass"}, format="json")

    def pending(response: Any) -> None:
        assert response.status_code == 200, response.content[:300]
        body = response.json()
        assert (body["state"], body["approvals"], body["gates_passed"]) == ("pending", 1, True), body

    def approved(response: Any) -> None:
        assert response.status_code == 200, response.content[:300]
        assert response.json()["state"] == "approved", response.json()

    _time(
        "approve (first of two, gates evaluated)",
        TARGET_APPROVE_MS,
        lambda i: approve(bench.clients["bench-rui"], first_ids[i]),
        pending,
        n,
    )
    _time(
        "approve (last: pending -> approved)",
        TARGET_APPROVE_MS,
        lambda i: approve(bench.clients["bench-rosa"], first_ids[i]),
        approved,
        n,
    )
    assert PromotionRequest.objects.filter(model__external_source=SOURCE, state="pending").count() == (
        MODELS * VERSIONS - len(first_ids)
    )
