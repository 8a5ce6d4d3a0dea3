"""The demo's MLflow store: the teams' training code, replayed through the MLflow client.

`seed_store` writes a local MLflow store (SQLite and a local artifact root; no server) the way each demo
team's training code would have: experiments, runs with params, metric histories, commit tags and
dataset inputs, MLflow 3 logged models or classic ``runs:/`` sources, registered models, versions and
aliases. The runs' commits are real: `integrations.demo_repos` builds the git repositories they trained
from, and `integrations.demo_ci` delivers the CI runs behind them as signed webhooks. The demo command
then syncs the store and the repositories like any others.

The practices differ per project on purpose, from careless to exemplary, so that the maturity scoring
has something to tell apart:

| project          | practice                                                                              |
|------------------|---------------------------------------------------------------------------------------|
| card-fraud       | exemplary: trained by CI (github-actions[bot]), a commit on every run, dataset inputs   |
|                  | with digests, feature refs, MLflow 3 logged models, champion and production aliases     |
| pd-model         | regulated, good: people train from committed code, datasets with digests, validation    |
|                  | tags on versions; classic runs:/ sources for the scorecard, logged models for the GBM   |
| store-demand     | good: a scheduled service account retrains weekly, commits and datasets                 |
| account-takeover | in development: a data scientist's runs, commits and datasets, no aliases yet           |
| home-feed        | medium: tracked, but no dataset inputs, commits on some runs only, no project tag       |
|                  | (a name-prefix rule maps it)                                                            |
| email-recs       | careless: no run tags at all, versions registered from a laptop (file:///home/...),     |
|                  | no aliases                                                                              |
| (none)           | a scratch experiment no project claims: it stays unassigned on purpose                  |

Deterministic: every value comes from a seeded random generator, and dates count back from the day the
store was seeded (kept in the store's marker file). Idempotent: a store the demo has seeded is left as
it is.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import random
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

# A demo does not phone home (the user can still opt in by setting the variable).
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import mlflow
import sqlalchemy
from mlflow import MlflowClient
from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

from integrations import demo_repos

SEED = 2026
MARKER = "seeded.json"
MARKER_VERSION = 1
CONNECTION_NAME = "demo"
# How the demo connection maps MLflow objects onto projects. home-feed and email-recs do not tag their
# experiments and models, so name prefixes map them; "churn-exploration" matches no rule.
MAPPING = {"tag": "mlgov.project", "prefixes": {"feed-": "home-feed", "email-recs": "email-recs"}}
UNASSIGNED_EXPERIMENT = "churn-exploration"


class DemoStoreError(Exception):
    """The demo's MLflow directory holds something the demo cannot safely seed or reuse."""


# --- the plan: what the store holds, as plain data (no MLflow, no database) ------------------------


@dataclass(frozen=True)
class DatasetRef:
    name: str
    digest: str
    source_type: str
    source: dict[str, Any]
    columns: tuple[tuple[str, str], ...]
    rows: int
    context: str


@dataclass(frozen=True)
class RunPlan:
    key: str
    name: str
    status: str  # FINISHED or FAILED
    start: datetime
    end: datetime
    tags: dict[str, str]
    params: dict[str, str]
    history: dict[str, tuple[tuple[int, float], ...]]  # metric -> (step, value) ...
    metrics: dict[str, float]  # logged once, at the end
    datasets: tuple[DatasetRef, ...]
    commit: str  # "" when the run recorded none


@dataclass(frozen=True)
class VersionPlan:
    run: str  # the RunPlan key; "" for a version registered from a local path
    flavor: str  # "logged" (MLflow 3 logged model), "runs" (runs:/<id>/model) or "local"
    source: str = ""  # for "local": the path it was registered from
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelPlan:
    name: str
    description: str
    tags: dict[str, str]
    model_type: str
    versions: tuple[VersionPlan, ...]
    aliases: dict[str, int]  # alias -> version number (1-based)


@dataclass(frozen=True)
class ExperimentPlan:
    name: str
    tags: dict[str, str]
    runs: tuple[RunPlan, ...]
    models: tuple[ModelPlan, ...]


@dataclass(frozen=True)
class PipelineRunPlan:
    external_id: str
    status: str
    commit: str
    trigger: str
    started: datetime
    finished: datetime
    url: str


@dataclass(frozen=True)
class PipelinePlan:
    """A CI pipeline's runs, delivered to mlgov as signed webhooks (integrations/demo_ci.py). What the
    pipeline is (triggers, jobs) comes from its config file in the demo repository."""

    project: str
    repository: str  # the web URL, as the CI provider reports it
    provider: str
    name: str
    config_path: str
    kind: str
    runs: tuple[PipelineRunPlan, ...]


@dataclass(frozen=True)
class Plan:
    anchor: date
    experiments: tuple[ExperimentPlan, ...]
    pipelines: tuple[PipelinePlan, ...]

    @property
    def experiment_names(self) -> list[str]:
        return [e.name for e in self.experiments]

    def commit_requests(self) -> dict[str, list[tuple[datetime, str]]]:
        """Per repository (web URL): (when the commit landed, its placeholder) for every commit a run
        records, oldest first. A run's commit lands `COMMIT_LEAD` before the run starts."""
        wanted: dict[str, dict[str, datetime]] = {}
        for exp in self.experiments:
            for r in exp.runs:
                if r.commit:
                    at = r.start - demo_repos.COMMIT_LEAD
                    slot = wanted.setdefault(r.tags["mlflow.source.git.repoURL"], {})
                    slot[r.commit] = min(at, slot.get(r.commit, at))
        return {repo: sorted((at, key) for key, at in commits.items()) for repo, commits in wanted.items()}

    def with_commits(self, shas: dict[str, str]) -> Plan:
        """The plan with each placeholder commit replaced by the real sha of the demo repository."""

        def run(r: RunPlan) -> RunPlan:
            if not r.commit:
                return r
            tags = {**r.tags, "mlflow.source.git.commit": shas[r.commit]}
            return replace(r, commit=shas[r.commit], tags=tags)

        experiments = tuple(replace(e, runs=tuple(run(r) for r in e.runs)) for e in self.experiments)
        pipelines = tuple(
            replace(p, runs=tuple(replace(r, commit=shas.get(r.commit, r.commit)) for r in p.runs))
            for p in self.pipelines
        )
        return replace(self, experiments=experiments, pipelines=pipelines)


# --- how each team works ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Practice:
    """What a team's training code records on every run."""

    users: tuple[str, ...] = ()  # who launches the runs, in turn; () records no user
    source_type: str = ""  # mlflow.source.type: JOB (CI, schedulers), LOCAL, NOTEBOOK; "" records none
    source_name: str = ""
    repo: str = ""  # the git repository; "" records no commit
    commit_every: int = 1  # 1: every run records its commit; 2: every other run
    project_tag: str = ""  # mlgov.project on the experiment, its models and runs
    feature_refs: str = ""  # feast.feature_refs
    hour: int = 10  # when runs start (CI schedules run at night)
    run_names: str = "people"  # "people": MLflow-style random names; "ci": named after the CI run


@dataclass(frozen=True)
class DatasetTemplate:
    name: str
    context: str
    source_type: str  # "s3" or "delta_table"
    location: str
    columns: tuple[tuple[str, str], ...]
    rows: int
    refresh_every: int = 1  # a new snapshot (digest) every N runs


@dataclass(frozen=True)
class CiTemplate:
    """The pipeline that launched (kind "training") or tested (kind "ci") the training code. Its file is in
    the demo repository (integrations/demo_repos.py), which says what it runs and when."""

    project: str
    provider: str
    name: str
    config_path: str
    kind: str
    url: str  # with {id}


@dataclass(frozen=True)
class ModelTemplate:
    name: str
    family: str  # see FAMILIES
    runs: int
    every_days: int
    versions: int = 0  # the last N successful runs are registered
    flavor: str = "logged"  # "logged", "runs" or "local" (registered from `local_path`, with no run)
    local_path: str = ""  # for "local": where version {n} was registered from
    failed: tuple[int, ...] = ()  # run indexes that fail
    aliases: dict[str, int] = field(default_factory=dict)
    description: str = ""
    first_days_ago: int = 0  # 0: the last run is yesterday
    version_tags: dict[int, dict[str, str]] = field(default_factory=dict)  # version number -> tags


@dataclass(frozen=True)
class ExperimentTemplate:
    name: str
    practice: Practice
    models: tuple[ModelTemplate, ...]
    datasets: tuple[DatasetTemplate, ...] = ()
    ci: CiTemplate | None = None


TXN_COLUMNS = (
    ("transaction_id", "string"),
    ("card_id", "string"),
    ("amount", "double"),
    ("merchant_category", "string"),
    ("country", "string"),
    ("event_time", "datetime"),
    ("is_fraud", "long"),
)
LOAN_COLUMNS = (
    ("application_id", "string"),
    ("income", "double"),
    ("debt_to_income", "double"),
    ("bureau_score", "long"),
    ("months_employed", "long"),
    ("defaulted_12m", "long"),
)
SALES_COLUMNS = (("store_id", "string"), ("sku", "string"), ("date", "datetime"), ("units", "double"))
LOGIN_COLUMNS = (("account_id", "string"), ("ip_risk", "double"), ("new_device", "boolean"), ("is_ato", "long"))

TEMPLATES = (
    ExperimentTemplate(
        name="card-fraud-training",
        practice=Practice(
            users=("github-actions[bot]",),
            source_type="JOB",
            source_name="src/card_fraud/train.py",
            repo="https://github.com/acme/card-fraud",
            project_tag="card-fraud",
            feature_refs=(
                "card_txn_stats:amount_sum_7d,card_txn_stats:txn_count_24h,"
                "merchant_risk:chargeback_rate_30d,device_profile:new_device_flag"
            ),
            hour=3,
            run_names="ci",
        ),
        models=(
            ModelTemplate(
                "card-fraud-gbm",
                "fraud-gbm",
                runs=9,
                every_days=7,
                versions=7,
                failed=(4,),
                aliases={"champion": 7, "production": 6},
                description="LightGBM scorer for card authorisations. Retrained weekly by CI from main.",
                version_tags={v: {"validation": "passed"} for v in range(1, 8)},
            ),
        ),
        datasets=(
            DatasetTemplate(
                "card-transactions-train",
                "training",
                "s3",
                "s3://acme-ml/fraud/card-transactions",
                TXN_COLUMNS,
                4_800_000,
            ),
            DatasetTemplate(
                "card-transactions-holdout",
                "evaluation",
                "s3",
                "s3://acme-ml/fraud/card-transactions-holdout",
                TXN_COLUMNS,
                600_000,
                refresh_every=100,
            ),
        ),
        ci=CiTemplate(
            "card-fraud",
            "github",
            "card-fraud training",
            ".github/workflows/train.yml",
            "training",
            "https://github.com/acme/card-fraud/actions/runs/{id}",
        ),
    ),
    ExperimentTemplate(
        name="account-takeover",
        practice=Practice(
            users=("fatima",),
            source_type="LOCAL",
            source_name="ato/train.py",
            repo="https://github.com/acme/account-takeover",
            project_tag="account-takeover",
            hour=14,
        ),
        models=(ModelTemplate("ato-classifier", "ato-gbm", runs=3, every_days=5, versions=2, first_days_ago=2),),
        datasets=(
            DatasetTemplate(
                "login-events-train", "training", "s3", "s3://acme-ml/fraud/login-events", LOGIN_COLUMNS, 1_200_000, 2
            ),
        ),
        ci=CiTemplate(
            "account-takeover",
            "github",
            "account-takeover CI",
            ".github/workflows/ci.yml",
            "ci",
            "https://github.com/acme/account-takeover/actions/runs/{id}",
        ),
    ),
    ExperimentTemplate(
        name="pd-model",
        practice=Practice(
            users=("kim", "kofi"),
            source_type="LOCAL",
            source_name="pd_model/train.py",
            repo="https://gitlab.acme.internal/credit-risk/pd-model",
            project_tag="pd-model",
            hour=11,
        ),
        models=(
            ModelTemplate(
                "pd-logit",
                "pd-logit",
                runs=5,
                every_days=21,
                versions=4,
                flavor="runs",
                aliases={"production": 3, "champion": 4},
                description="Scorecard (logistic regression on WoE bins). Regulated: model risk validation required.",
                version_tags={
                    3: {"validation_report": "MRM-2026-031", "approved_by": "model-risk-committee"},
                    4: {"validation_report": "MRM-2026-044", "approved_by": "model-risk-committee"},
                },
            ),
            ModelTemplate(
                "pd-xgb",
                "pd-xgb",
                runs=3,
                every_days=14,
                versions=2,
                aliases={"challenger": 2},
                description="Gradient-boosted challenger to the scorecard.",
                first_days_ago=3,
                version_tags={2: {"validation_report": "MRM-2026-047"}},
            ),
        ),
        datasets=(
            DatasetTemplate(
                "loan-applications-train",
                "training",
                "delta_table",
                "s3://acme-risk/lake/loan_applications",
                LOAN_COLUMNS,
                850_000,
                2,
            ),
            DatasetTemplate(
                "loan-applications-oot",
                "evaluation",
                "delta_table",
                "s3://acme-risk/lake/loan_applications_oot",
                LOAN_COLUMNS,
                120_000,
                100,
            ),
        ),
        ci=CiTemplate(
            "pd-model",
            "gitlab",
            "pd-model CI",
            ".gitlab-ci.yml",
            "ci",
            "https://gitlab.acme.internal/credit-risk/pd-model/-/pipelines/{id}",
        ),
    ),
    ExperimentTemplate(
        name="store-demand",
        practice=Practice(
            users=("svc-forecasting",),
            source_type="JOB",
            source_name="forecast/train.py",
            repo="https://github.com/acme/demand-forecast",
            project_tag="store-demand",
            hour=2,
            run_names="ci",
        ),
        models=(
            ModelTemplate(
                "store-demand-lgbm",
                "forecast",
                runs=6,
                every_days=7,
                versions=5,
                flavor="runs",
                failed=(2,),
                aliases={"production": 5},
                description="Daily units per store and SKU, 28 days ahead.",
            ),
        ),
        datasets=(
            DatasetTemplate(
                "store-sales-daily", "training", "s3", "s3://acme-ml/forecasting/store-sales", SALES_COLUMNS, 9_500_000
            ),
        ),
        ci=CiTemplate(
            "store-demand",
            "jenkins",
            "store-demand retrain",
            "Jenkinsfile",
            "training",
            "https://jenkins.acme.internal/job/store-demand-retrain/{id}/",
        ),
    ),
    ExperimentTemplate(
        name="feed-ranker",
        practice=Practice(
            users=("ravi",),
            source_type="NOTEBOOK",
            source_name="/Repos/ravi/home-feed/ranker.ipynb",
            repo="https://github.com/acme/home-feed",
            commit_every=2,
            hour=15,
        ),
        models=(ModelTemplate("feed-ranker", "ranker", runs=5, every_days=10, versions=3, aliases={"champion": 3}),),
        ci=CiTemplate(
            "home-feed",
            "github",
            "home-feed CI",
            ".github/workflows/ci.yml",
            "ci",
            "https://github.com/acme/home-feed/actions/runs/{id}",
        ),
    ),
    ExperimentTemplate(
        name="feed-candidates",
        practice=Practice(
            users=("ravi",),
            source_type="LOCAL",
            source_name="candidates/train.py",
            repo="https://github.com/acme/home-feed",
            commit_every=2,
            hour=16,
        ),
        models=(
            ModelTemplate(
                "feed-candidates", "retrieval", runs=3, every_days=20, versions=2, flavor="runs", first_days_ago=4
            ),
        ),
    ),
    ExperimentTemplate(
        name="email-recs-als",
        practice=Practice(),  # no tags at all
        models=(
            ModelTemplate(
                "email-recs-als",
                "als",
                runs=3,
                every_days=30,
                versions=2,
                flavor="local",
                local_path="file:///home/jdoe/email_recs/model_v{n}",
                first_days_ago=120,
            ),
        ),
    ),
    ExperimentTemplate(
        name=UNASSIGNED_EXPERIMENT,
        practice=Practice(users=("jdoe",), source_type="NOTEBOOK", source_name="/home/jdoe/notebooks/churn.ipynb"),
        models=(ModelTemplate("churn", "churn", runs=4, every_days=1, first_days_ago=6),),
    ),
)


# --- values: params, metric histories and final metrics per model family ---------------------------


def _r(x: float, n: int = 4) -> float:
    return round(x, n)


def _curve(rng: random.Random, start: float, end: float, steps: list[int]) -> tuple[tuple[int, float], ...]:
    """A training curve from `start` towards `end`, saturating, with a little noise."""
    last = max(steps)
    return tuple(
        (s, _r(start + (end - start) * (1 - (1 - s / last) ** 2.5) + rng.uniform(-0.002, 0.002) * abs(end - start)))
        for s in steps
    )


def _gbm(
    rng: random.Random, quality: float, *, auc: tuple[float, float], prefix: str = "val"
) -> tuple[dict, dict, dict]:
    n_est = rng.choice([400, 500, 600, 800])
    params = {
        "learning_rate": str(rng.choice([0.03, 0.05, 0.08])),
        "num_leaves": str(rng.choice([31, 63, 127])),
        "n_estimators": str(n_est),
        "min_child_samples": str(rng.choice([50, 100, 200])),
        "feature_fraction": str(rng.choice([0.7, 0.8, 0.9])),
        "bagging_fraction": str(rng.choice([0.8, 0.9])),
        "scale_pos_weight": str(rng.choice([20, 50, 80])),
        "seed": "42",
    }
    final = auc[0] + (auc[1] - auc[0]) * quality
    steps = [n_est * k // 10 for k in range(1, 11)]
    history = {
        f"{prefix}_auc": _curve(rng, final - 0.06, final, steps),
        f"{prefix}_logloss": _curve(rng, 0.09, 0.02 + (1 - quality) * 0.01, steps),
        "train_logloss": _curve(rng, 0.09, 0.012, steps),
    }
    return params, history, {"auc": _r(final), "pr_auc": _r(final - 0.32 + rng.uniform(-0.01, 0.01))}


def _fraud_gbm(rng, quality):
    params, history, metrics = _gbm(rng, quality, auc=(0.941, 0.958))
    metrics |= {
        "recall_at_1pct_fpr": _r(0.61 + 0.08 * quality + rng.uniform(-0.01, 0.01)),
        "latency_p95_ms": _r(rng.uniform(11, 16), 1),
    }
    return params, history, metrics


def _ato_gbm(rng, quality):
    params, history, metrics = _gbm(rng, quality, auc=(0.87, 0.90))
    return params, history, metrics | {"latency_p95_ms": _r(rng.uniform(20, 30), 1)}


def _pd_logit(rng, quality):
    params = {
        "C": str(rng.choice([0.1, 0.3, 1.0])),
        "penalty": "l2",
        "solver": "lbfgs",
        "max_iter": "500",
        "binning": "woe",
        "n_features": str(rng.choice([14, 16, 18])),
        "class_weight": "balanced",
    }
    auc = 0.781 + 0.012 * quality
    folds = list(range(5))
    history = {"cv_auc": tuple((f, _r(auc + rng.uniform(-0.006, 0.006))) for f in folds)}
    return params, history, _credit_metrics(rng, auc)


def _pd_xgb(rng, quality):
    n_est = rng.choice([300, 400])
    params = {
        "max_depth": str(rng.choice([3, 4])),
        "eta": str(rng.choice([0.05, 0.1])),
        "n_estimators": str(n_est),
        "subsample": "0.8",
        "monotone_constraints": "bureau_score:+1,debt_to_income:-1",
    }
    auc = 0.797 + 0.008 * quality
    history = {"val_auc": _curve(rng, auc - 0.05, auc, [n_est * k // 8 for k in range(1, 9)])}
    return params, history, _credit_metrics(rng, auc)


def _credit_metrics(rng: random.Random, auc: float) -> dict[str, float]:
    return {
        "auc": _r(auc),
        "gini": _r(2 * auc - 1),
        "ks": _r(0.41 + (auc - 0.78) * 1.5 + rng.uniform(-0.005, 0.005)),
        "brier": _r(0.061 - (auc - 0.78) * 0.1),
        "psi_oot": _r(rng.uniform(0.02, 0.08)),
    }


def _forecast(rng, quality):
    n_est = rng.choice([600, 900])
    params = {
        "objective": "tweedie",
        "tweedie_variance_power": str(rng.choice([1.1, 1.2, 1.3])),
        "learning_rate": "0.05",
        "num_leaves": str(rng.choice([63, 127])),
        "n_estimators": str(n_est),
        "horizon_days": "28",
    }
    wape = 0.241 - 0.02 * quality + rng.uniform(-0.004, 0.004)
    history = {"val_wape": _curve(rng, wape + 0.12, wape, [n_est * k // 10 for k in range(1, 11)])}
    metrics = {
        "wape": _r(wape),
        "mape": _r(wape * 1.31),
        "rmse": _r(3.9 - quality * 0.3 + rng.uniform(-0.05, 0.05), 3),
        "bias": _r(rng.uniform(-0.02, 0.02)),
    }
    return params, history, metrics


def _ranker(rng, quality):
    n_est = rng.choice([200, 300])
    params = {
        "objective": "lambdarank",
        "learning_rate": str(rng.choice([0.05, 0.1])),
        "num_leaves": str(rng.choice([63, 255])),
        "n_estimators": str(n_est),
        "label_gain": "0,1,3,7",
    }
    ndcg = 0.402 + 0.02 * quality
    history = {"val_ndcg_at_10": _curve(rng, ndcg - 0.07, ndcg, [n_est * k // 10 for k in range(1, 11)])}
    metrics = {
        "ndcg_at_10": _r(ndcg),
        "map_at_10": _r(ndcg - 0.11),
        "latency_p95_ms": _r(rng.uniform(34, 48), 1),
    }
    return params, history, metrics


def _retrieval(rng, quality):
    epochs = rng.choice([6, 8])
    params = {
        "embedding_dim": str(rng.choice([64, 128])),
        "epochs": str(epochs),
        "batch_size": "4096",
        "learning_rate": "0.001",
        "negatives": "in-batch",
    }
    recall = 0.31 + 0.03 * quality
    history = {
        "train_loss": _curve(rng, 6.2, 3.1, list(range(1, epochs + 1))),
        "val_recall_at_100": _curve(rng, recall - 0.12, recall, list(range(1, epochs + 1))),
    }
    return params, history, {"recall_at_100": _r(recall), "latency_p95_ms": _r(rng.uniform(8, 12), 1)}


def _als(rng, quality):
    iterations = 15
    params = {
        "factors": str(rng.choice([64, 128])),
        "regularization": str(rng.choice([0.01, 0.05])),
        "iterations": str(iterations),
        "alpha": "40",
    }
    history = {"train_loss": _curve(rng, 0.9, 0.31, list(range(1, iterations + 1)))}
    return params, history, {"precision_at_10": _r(0.081 + 0.01 * quality), "recall_at_50": _r(0.22 + 0.02 * quality)}


def _churn(rng, quality):
    params = {"model": rng.choice(["logreg", "random_forest", "xgboost"]), "features": "v" + str(rng.randint(1, 3))}
    history = {"val_auc": tuple((k, _r(0.66 + 0.01 * k + rng.uniform(-0.01, 0.01))) for k in range(4))}
    return params, history, {"auc": _r(0.69 + 0.03 * quality)}


FAMILIES = {
    "fraud-gbm": (_fraud_gbm, "lightgbm"),
    "ato-gbm": (_ato_gbm, "lightgbm"),
    "pd-logit": (_pd_logit, "sklearn"),
    "pd-xgb": (_pd_xgb, "xgboost"),
    "forecast": (_forecast, "lightgbm"),
    "ranker": (_ranker, "lightgbm"),
    "retrieval": (_retrieval, "pytorch"),
    "als": (_als, "implicit"),
    "churn": (_churn, "sklearn"),
}
ADJECTIVES = ("bold", "calm", "eager", "gentle", "keen", "lucid", "merry", "nimble", "quiet", "sunny", "witty")
ANIMALS = ("otter", "heron", "lynx", "panda", "wren", "moose", "gecko", "finch", "koala", "bison", "shrew")


def _hex(*parts: object, n: int = 40) -> str:
    return hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()[:n]


def _at(anchor: date, days_ago: int, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(anchor - timedelta(days=days_ago), time(hour, minute), tzinfo=UTC)


def build_plan(anchor: date) -> Plan:
    """Everything the demo store holds, as data. Same anchor, same plan."""
    experiments, pipelines = [], []
    for t in TEMPLATES:
        rng = random.Random(f"{SEED}:{t.name}")  # noqa: S311 - deterministic demo data, not security
        p = t.practice
        runs: list[RunPlan] = []
        models: list[ModelPlan] = []
        ci_runs: list[PipelineRunPlan] = []
        commit_no = 0
        for m in t.models:
            fn, model_type = FAMILIES[m.family]
            ci_base = int(_hex(t.name, m.name, "ci", n=6), 16) + 5_000_000
            model_runs: list[RunPlan] = []
            for i in range(m.runs):
                days_ago = 1 + m.first_days_ago + m.every_days * (m.runs - 1 - i)
                start = _at(anchor, days_ago, p.hour, rng.randint(0, 50))
                failed = i in m.failed
                params, history, metrics = fn(rng, (i + 1) / m.runs)
                if failed:  # a failed run stops part-way: a truncated history and no final metrics
                    history = {k: v[: len(v) // 3] for k, v in history.items()}
                    metrics = {}
                end = start + timedelta(minutes=rng.randint(6, 25) if failed else rng.randint(25, 90))
                commit_no += 1
                commit = _hex(p.repo, t.name, commit_no) if p.repo and (commit_no - 1) % p.commit_every == 0 else ""
                ci_id = str(ci_base + i * 7 + rng.randint(0, 6))
                tags = _run_tags(p, user=p.users[i % len(p.users)] if p.users else "", commit=commit)
                if p.run_names == "ci" and t.ci is not None:
                    tags["ci.run_url"] = t.ci.url.format(id=ci_id)
                    name = f"{t.ci.provider}-{ci_id}"
                else:
                    name = f"{rng.choice(ADJECTIVES)}-{rng.choice(ANIMALS)}-{rng.randint(10, 99)}"
                datasets = tuple(_dataset(d, anchor=anchor, run_index=i, days_ago=days_ago) for d in t.datasets)
                run = RunPlan(
                    key=f"{m.name}#{i}",
                    name=name,
                    status="FAILED" if failed else "FINISHED",
                    start=start,
                    end=end,
                    tags=tags,
                    params=params,
                    history=history,
                    metrics=metrics,
                    datasets=datasets,
                    commit=commit,
                )
                model_runs.append(run)
                if t.ci is not None and (t.ci.kind == "training" or commit):
                    ci_runs.append(_ci_run(t.ci, run, ci_id, rng))
            runs += model_runs
            if m.versions:
                registered = [r for r in model_runs if r.status == "FINISHED"][-m.versions :]
                versions = tuple(
                    VersionPlan(
                        run="" if m.flavor == "local" else r.key,
                        flavor=m.flavor,
                        source=m.local_path.format(n=n) if m.flavor == "local" else "",
                        tags=m.version_tags.get(n, {}),
                    )
                    for n, r in enumerate(registered, start=1)
                )
                model_tags = {"mlgov.project": p.project_tag} if p.project_tag else {}
                models.append(ModelPlan(m.name, m.description, model_tags, model_type, versions, dict(m.aliases)))
        exp_tags = {"mlgov.project": p.project_tag} if p.project_tag else {}
        experiments.append(ExperimentPlan(t.name, exp_tags, tuple(runs), tuple(models)))
        if t.ci is not None:
            pipelines.append(
                PipelinePlan(
                    project=t.ci.project,
                    repository=p.repo,
                    provider=t.ci.provider,
                    name=t.ci.name,
                    config_path=t.ci.config_path,
                    kind=t.ci.kind,
                    runs=tuple(ci_runs),
                )
            )
    return Plan(anchor=anchor, experiments=tuple(experiments), pipelines=tuple(pipelines))


def _run_tags(p: Practice, *, user: str, commit: str) -> dict[str, str]:
    tags = {}
    if user:
        tags["mlflow.user"] = user
    if p.source_type:
        tags["mlflow.source.type"] = p.source_type
    if p.source_name:
        tags["mlflow.source.name"] = p.source_name
    if commit:
        tags["mlflow.source.git.commit"] = commit
        tags["mlflow.source.git.repoURL"] = p.repo
    if p.project_tag:
        tags["mlgov.project"] = p.project_tag
    if p.feature_refs:
        tags["feast.feature_refs"] = p.feature_refs
    return tags


def _dataset(d: DatasetTemplate, *, anchor: date, run_index: int, days_ago: int) -> DatasetRef:
    snapshot = run_index // d.refresh_every
    if d.source_type == "delta_table":
        source: dict[str, Any] = {"path": d.location, "delta_table_version": 100 + snapshot * 3}
    else:
        day = (anchor - timedelta(days=days_ago + 1)).isoformat() if d.refresh_every == 1 else f"v{snapshot + 1}"
        source = {"uri": f"{d.location}/snapshot={day}/"}
    rows = d.rows + snapshot * d.rows // 50
    return DatasetRef(
        name=d.name,
        digest=_hex(d.name, json.dumps(source, sort_keys=True), n=8),
        source_type=d.source_type,
        source=source,
        columns=d.columns,
        rows=rows,
        context=d.context,
    )


def _ci_run(ci: CiTemplate, run: RunPlan, ci_id: str, rng: random.Random) -> PipelineRunPlan:
    if ci.kind == "training":  # the pipeline launched the training run: same commit, same hour
        started, finished = run.start - timedelta(minutes=4), run.end + timedelta(minutes=3)
        status = "success" if run.status == "FINISHED" else "failure"
        trigger = "schedule"
    else:  # the pipeline tested the commit the training ran from, shortly before
        started = run.start - timedelta(hours=rng.randint(1, 20))
        finished = started + timedelta(minutes=rng.randint(4, 15))
        status, trigger = "success", "push"
    return PipelineRunPlan(ci_id, status, run.commit, trigger, started, finished, ci.url.format(id=ci_id))


# --- the store --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoStore:
    """A local MLflow store in one directory: mlflow.db, artifacts/ and the demo's marker."""

    directory: Path

    @classmethod
    def at(cls, directory: str | Path) -> DemoStore:
        return cls(Path(directory).expanduser().resolve())

    @property
    def db_path(self) -> Path:
        return self.directory / "mlflow.db"

    @property
    def tracking_uri(self) -> str:
        return f"sqlite:///{self.db_path}"

    @property
    def artifact_root(self) -> str:
        return (self.directory / "artifacts").as_uri()

    @property
    def marker_path(self) -> Path:
        return self.directory / MARKER

    @property
    def git_directory(self) -> Path:
        return self.directory / "git"

    def read_marker(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.marker_path.read_text())
        except FileNotFoundError:
            return None


@dataclass
class SeedResult:
    seeded: bool  # False: the store held the demo already and was left as it was
    plan: Plan
    counts: dict[str, int] = field(default_factory=dict)
    repos: dict[str, demo_repos.BuiltRepo] = field(default_factory=dict)  # by web URL


@contextlib.contextmanager
def _global_tracking_uri(uri: str) -> Iterator[None]:
    """MLflow's registry resolves `models:/m-...` sources through the *global* tracking URI, not the
    client's, so point it at the demo store while seeding and put it back afterwards."""
    previous = mlflow.get_tracking_uri() if mlflow.is_tracking_uri_set() else None
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(previous)


@contextlib.contextmanager
def _unsynced_sqlite(db_path: Path) -> Iterator[None]:
    """Skip fsync on the demo store's connections while seeding: it halves the time (every MLflow call
    commits). Safe enough here: a crash mid-seed leaves a store without the marker, which is refused."""

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        if isinstance(dbapi_connection, sqlite3.Connection):
            files = [row[2] for row in dbapi_connection.execute("PRAGMA database_list")]
            if str(db_path) in files:
                dbapi_connection.execute("PRAGMA synchronous=OFF")

    sqlalchemy.event.listen(sqlalchemy.engine.Engine, "connect", on_connect)
    try:
        yield
    finally:
        sqlalchemy.event.remove(sqlalchemy.engine.Engine, "connect", on_connect)


@contextlib.contextmanager
def _quiet(*names: str) -> Iterator[None]:
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def with_repositories(store: DemoStore, plan: Plan) -> tuple[Plan, dict[str, demo_repos.BuiltRepo]]:
    """Build (or find) the demo's git repositories under the store directory, and put their real commit
    shas into the plan. Deterministic: the same anchor gives the same shas."""
    requests = plan.commit_requests()
    repos = demo_repos.ensure_repos(
        store.git_directory,
        {repo: [at for at, _ in wanted] for repo, wanted in requests.items()},
        plan.anchor.isoformat(),
    )
    shas: dict[str, str] = {}
    for repo, wanted in requests.items():
        real = demo_repos.commit_shas(repos[repo])
        if len(real) != len(wanted):
            raise DemoStoreError(
                f"{repos[repo].path} has {len(real)} commits after its import, the plan needs {len(wanted)}; "
                f"remove {store.directory} and run again."
            )
        shas.update({key: sha for (_, key), sha in zip(wanted, real, strict=True)})
    return plan.with_commits(shas), repos


def seed_store(store: DemoStore, *, today: date | None = None) -> SeedResult:
    """Seed `store` through the MLflow client, unless the demo seeded it already; build the git
    repositories the runs trained from (under `store.git_directory`) first."""
    marker = store.read_marker()
    if marker is not None:
        plan, repos = with_repositories(store, build_plan(date.fromisoformat(marker["anchor"])))
        client = MlflowClient(tracking_uri=store.tracking_uri, registry_uri=store.tracking_uri)
        missing = [n for n in plan.experiment_names if client.get_experiment_by_name(n) is None]
        if missing:
            raise DemoStoreError(
                f"{store.directory} was seeded by the demo but lacks the experiments {missing}; "
                f"remove the directory and run again."
            )
        return SeedResult(seeded=False, plan=plan, counts=marker.get("counts", {}), repos=repos)
    if store.db_path.exists():
        raise DemoStoreError(
            f"{store.directory} holds an MLflow store the demo did not finish seeding (interrupted?); "
            f"remove the directory and run again."
        )
    store.directory.mkdir(parents=True, exist_ok=True)
    plan, repos = with_repositories(store, build_plan(today or datetime.now(UTC).date()))
    with _unsynced_sqlite(store.db_path):
        with _quiet("mlflow.store.db.utils", "alembic"):
            # Creating the store here (rather than through the client) gives MLflow's "Default" experiment
            # an artifact location under the demo directory instead of ./mlruns in the current directory.
            SqlAlchemyStore(store.tracking_uri, store.artifact_root)
        client = MlflowClient(tracking_uri=store.tracking_uri, registry_uri=store.tracking_uri)
        with _global_tracking_uri(store.tracking_uri):
            counts = _write(client, store, plan)
    tmp = store.marker_path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"version": MARKER_VERSION, "anchor": plan.anchor.isoformat(), "counts": counts}))
    tmp.replace(store.marker_path)
    return SeedResult(seeded=True, plan=plan, counts=counts, repos=repos)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _write(client: MlflowClient, store: DemoStore, plan: Plan) -> dict[str, int]:
    counts = dict.fromkeys(
        ("experiments", "runs", "dataset_inputs", "logged_models", "registered_models", "versions", "aliases"), 0
    )
    for exp in plan.experiments:
        exp_id = client.create_experiment(
            exp.name, artifact_location=f"{store.artifact_root}/{exp.name}", tags=exp.tags
        )
        counts["experiments"] += 1
        run_ids: dict[str, str] = {}
        for r in exp.runs:
            run_ids[r.key] = _write_run(client, exp_id, r)
            counts["runs"] += 1
            counts["dataset_inputs"] += len(r.datasets)
        for m in exp.models:
            client.create_registered_model(m.name, tags=m.tags, description=m.description or None)
            counts["registered_models"] += 1
            for n, v in enumerate(m.versions, start=1):
                run = next((r for r in exp.runs if r.key == v.run), None)
                kwargs: dict[str, Any] = {"tags": v.tags or None, "await_creation_for": 0}
                if v.flavor == "logged":
                    logged = client.create_logged_model(
                        exp_id,
                        name="model",
                        source_run_id=run_ids[v.run],
                        params=run.params if run else None,
                        model_type=m.model_type,
                    )
                    client.finalize_logged_model(logged.model_id, "READY")
                    counts["logged_models"] += 1
                    mv = client.create_model_version(
                        m.name, source=f"models:/{logged.model_id}", model_id=logged.model_id, **kwargs
                    )
                elif v.flavor == "runs":
                    rid = run_ids[v.run]
                    mv = client.create_model_version(m.name, source=f"runs:/{rid}/model", run_id=rid, **kwargs)
                else:
                    mv = client.create_model_version(m.name, source=v.source, **kwargs)
                if str(mv.version) != str(n):  # aliases below name versions by number
                    raise DemoStoreError(f"{m.name}: MLflow numbered version {n} as {mv.version}")
                counts["versions"] += 1
            for alias, n in m.aliases.items():
                client.set_registered_model_alias(m.name, alias, str(n))
                counts["aliases"] += 1
    return counts


def _write_run(client: MlflowClient, exp_id: str, r: RunPlan) -> str:
    run = client.create_run(exp_id, start_time=_ms(r.start), tags=r.tags, run_name=r.name)
    rid = run.info.run_id
    span = (r.end - r.start) * 0.9
    metrics = []
    for key, points in r.history.items():
        last = max((s for s, _ in points), default=1) or 1
        metrics += [Metric(key, v, _ms(r.start + span * (s / last)), s) for s, v in points]
    last_step = max((s for points in r.history.values() for s, _ in points), default=0)
    metrics += [Metric(k, v, _ms(r.end), last_step) for k, v in r.metrics.items()]
    client.log_batch(rid, metrics=metrics, params=[Param(k, v) for k, v in r.params.items()])
    if r.datasets:
        client.log_inputs(
            rid,
            datasets=[
                DatasetInput(
                    Dataset(
                        name=d.name,
                        digest=d.digest,
                        source_type=d.source_type,
                        source=json.dumps(d.source),
                        schema=json.dumps({"mlflow_colspec": [{"name": n, "type": t} for n, t in d.columns]}),
                        profile=json.dumps({"num_rows": d.rows, "num_elements": d.rows * len(d.columns)}),
                    ),
                    tags=[InputTag("mlflow.data.context", d.context)],
                )
                for d in r.datasets
            ],
        )
    client.set_terminated(rid, status=r.status, end_time=_ms(r.end))
    return rid
