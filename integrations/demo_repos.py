"""The demo's Git repositories: real repositories, one per team codebase, built with GitPython.

Each repository holds what that team's code base would: training and scoring code, tests, CI
configuration, and (for the teams that have them) data versioning, a feature store, data validation,
monitoring, a Dockerfile and infrastructure as code. The practices differ on purpose, as the MLflow
store's do (integrations/demo.py):

| repository            | project          | what is in it                                                     |
|-----------------------|------------------|-------------------------------------------------------------------|
| acme/card-fraud       | card-fraud       | everything: tests of the scorer, train/CI/deploy workflows on a   |
|                       |                  | weekly schedule, DVC, Feast, Great Expectations, Prometheus rules, |
|                       |                  | Dockerfile, Terraform, poetry.lock                                |
| acme/account-takeover | account-takeover | training code, a few tests, a pull-request CI workflow            |
| credit-risk/pd-model  | pd-model         | a scorer with tests, GitLab CI with a validation stage, pinned    |
|                       |                  | dependencies, Great Expectations, Dockerfile                      |
| acme/demand-forecast  | store-demand     | scheduled Jenkins retraining and deployment, tests of the         |
|                       |                  | predictor, DVC, Prometheus rules, Dockerfile, Kubernetes          |
| acme/home-feed        | home-feed        | a notebook and a training script, one test, a pull-request CI     |

email-recs has no repository: its models come from a laptop.

The history is deterministic: the same anchor day gives the same files, authors, dates and therefore
the same commit shas. Each training run the MLflow plan records a commit for gets a commit of its own,
a day before the run (the change that the run trained), so the runs' `mlflow.source.git.commit` tags,
the CI runs and the repositories agree.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import git

MARKER = "mlgov-demo.json"
# The commit a run trained from landed this long before the run (CI tested it in between).
COMMIT_LEAD = timedelta(hours=26)


@dataclass(frozen=True)
class RepoTemplate:
    """One demo repository: where it lives on the (pretend) forge, whose it is, and its files."""

    name: str  # the GitRepository name and the directory name
    web_url: str  # what runs and CI events call it (mlflow.source.git.repoURL, the webhook's repository)
    project: str
    authors: tuple[tuple[str, str], ...]  # (name, email), in turn
    files: dict[str, str]


@dataclass(frozen=True)
class BuiltRepo:
    template: RepoTemplate
    path: Path
    head: str
    commits: int
    built: bool  # False: the repository was there already and was left as it was


def _py(doc: str, body: str) -> str:
    return f'"""{doc}"""\n\n{body.strip()}\n'


CARD_FRAUD_TRAIN_YML = """\
name: card-fraud training
on:
  schedule:
    - cron: "0 3 * * 1"
  push:
    branches: [main]
    paths: ["src/**", "config/**", "dvc.lock"]
  workflow_dispatch: {}
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with: {python-version: "3.11"}
      - run: pip install poetry && poetry install
      - run: poetry run pytest tests
  train:
    needs: test
    runs-on: ubuntu-latest
    env:
      MLFLOW_TRACKING_URI: ${{ secrets.MLFLOW_TRACKING_URI }}
    steps:
      - uses: actions/checkout@v4
      - run: dvc pull data/card-transactions.dvc
      - run: poetry run python -m card_fraud.train --config config/training.yaml
  evaluate:
    needs: train
    runs-on: ubuntu-latest
    steps:
      - run: poetry run python -m card_fraud.evaluate --holdout data/holdout
  register:
    needs: evaluate
    runs-on: ubuntu-latest
    environment: staging
    steps:
      - run: poetry run python -m card_fraud.register --alias champion
"""

CARD_FRAUD_CI_YML = """\
name: card-fraud CI
on:
  pull_request:
    branches: [main]
jobs:
  lint:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: pip install ruff && ruff check .
  unit-tests:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: pip install poetry && poetry install
      - run: poetry run pytest tests/unit --junitxml=report.xml
  integration-tests:
    runs-on: ubuntu-latest
    services:
      redis: {image: "redis:7"}
    steps:
      - run: poetry run pytest tests/integration
"""

CARD_FRAUD_DEPLOY_YML = """\
name: card-fraud deploy
on:
  push:
    tags: ["v*"]
jobs:
  build-image:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: docker build -t ghcr.io/acme/card-fraud:${{ github.ref_name }} .
  deploy-production:
    needs: build-image
    runs-on: ubuntu-latest
    environment: production
    steps:
      - run: terraform -chdir=terraform apply -auto-approve
      - run: kubectl rollout status deployment/card-fraud-scorer
"""

PD_MODEL_GITLAB_CI = """\
stages: [test, validate, deploy]

.python: &python
  image: python:3.11
  before_script:
    - pip install -r requirements.lock

unit-tests:
  <<: *python
  stage: test
  script:
    - pytest tests --junitxml=report.xml
  artifacts:
    reports:
      junit: report.xml

model-validation:
  <<: *python
  stage: validate
  script:
    - python -m pd_model.validate --out reports/validation.html
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
    - if: $CI_COMMIT_BRANCH == "main"

deploy-scorecard:
  stage: deploy
  script:
    - ./deploy.sh
  when: manual
  environment: production
"""

FORECAST_JENKINSFILE = """\
pipeline {
    agent any
    triggers {
        cron('0 2 * * 1')
    }
    stages {
        stage('Test') {
            steps {
                sh 'pip install -r requirements.txt && pytest tests'
            }
        }
        stage('Train') {
            steps {
                sh 'dvc pull && python -m forecast.train --horizon 28'
            }
        }
        stage('Evaluate backtest') {
            steps {
                sh 'python -m forecast.backtest --folds 4'
            }
        }
        stage('Deploy') {
            when { branch 'main' }
            steps {
                sh 'kubectl apply -f k8s/'
            }
        }
    }
}
"""

HOME_FEED_CI_YML = """\
name: home-feed CI
on:
  pull_request:
    branches: [main]
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: pip install -r requirements.txt
      - run: pytest
"""

ATO_CI_YML = """\
name: account-takeover CI
on:
  pull_request:
    branches: [main]
jobs:
  lint:
    runs-on: ubuntu-latest
    steps:
      - run: pip install ruff && ruff check .
  test:
    runs-on: ubuntu-latest
    steps:
      - run: pip install -r requirements.txt
      - run: pytest tests
"""

PROMETHEUS_RULES = """\
groups:
  - name: {name}
    rules:
      - alert: {alert}
        expr: {expr}
        for: 30m
        labels: {{severity: page}}
      - record: {record}
        expr: {record_expr}
"""

TEMPLATES: tuple[RepoTemplate, ...] = (
    RepoTemplate(
        name="card-fraud",
        web_url="https://github.com/acme/card-fraud",
        project="card-fraud",
        authors=(("Femi Okafor", "femi@acme.example"), ("Fatima Haddad", "fatima@acme.example")),
        files={
            "README.md": "# card-fraud\n\nScores every card authorisation. Trained weekly by CI from `main`.\n",
            "pyproject.toml": '[tool.poetry]\nname = "card-fraud"\nversion = "3.4.0"\n',
            "poetry.lock": "# This file is automatically @generated by Poetry 1.8.3.\n"
            '[[package]]\nname = "lightgbm"\nversion = "4.5.0"\n',
            "config/training.yaml": "learning_rate: 0.05\nnum_leaves: 63\nrevision: 0\n",
            "src/card_fraud/__init__.py": "",
            "src/card_fraud/train.py": _py(
                "Train the card fraud scorer and log it to MLflow.",
                "import mlflow\n\nfrom card_fraud.features import build_features\n\n\n"
                "def main() -> None:\n    with mlflow.start_run():\n        mlflow.log_params({'num_leaves': 63})\n",
            ),
            "src/card_fraud/features.py": _py("Feature engineering.", "def build_features(df):\n    return df\n"),
            "src/card_fraud/score.py": _py(
                "The scoring entry point the authorisation service calls.",
                "def score(transaction: dict) -> float:\n    return 0.0\n",
            ),
            "src/card_fraud/evaluate.py": _py("Holdout evaluation.", "def evaluate(model, holdout):\n    ...\n"),
            "tests/unit/test_score.py": "from card_fraud.score import score\n\n\n"
            "def test_score_is_a_probability():\n    assert 0.0 <= score({'amount': 12.5}) <= 1.0\n",
            "tests/unit/test_features.py": "from card_fraud.features import build_features\n\n\n"
            "def test_features_keep_rows():\n    assert build_features([]) == []\n",
            "tests/integration/test_api.py": "def test_predict_endpoint(client):\n"
            "    assert client.post('/predict', json={'amount': 1}).status_code == 200\n",
            ".github/workflows/train.yml": CARD_FRAUD_TRAIN_YML,
            ".github/workflows/ci.yml": CARD_FRAUD_CI_YML,
            ".github/workflows/deploy.yml": CARD_FRAUD_DEPLOY_YML,
            "dvc.yaml": "stages:\n  prepare:\n    cmd: python -m card_fraud.prepare\n    outs: [data/prepared]\n",
            "data/card-transactions.dvc": "outs:\n- md5: 3f2a9c0d7e1b4a5c6d7e8f9012345678\n  path: card-transactions\n",
            "feature_repo/feature_store.yaml": "project: card_fraud\nprovider: aws\nregistry: s3://acme-ml/feast\n",
            "feature_repo/features.py": "from feast import Entity, FeatureView, Field\n\n"
            "card = Entity(name='card_id')\n"
            "card_txn_stats = FeatureView(name='card_txn_stats', entities=[card], schema=[])\n"
            "merchant_risk = FeatureView(name='merchant_risk', entities=[card], schema=[])\n"
            "device_profile = FeatureView(name='device_profile', entities=[card], schema=[])\n",
            "great_expectations/great_expectations.yml": "config_version: 3.0\ndatasources: {}\n",
            "great_expectations/expectations/card_transactions.json": json.dumps(
                {
                    "expectation_suite_name": "card_transactions",
                    "expectations": [
                        {"expectation_type": "expect_column_values_to_not_be_null", "kwargs": {"column": "amount"}}
                    ],
                },
                indent=2,
            )
            + "\n",
            "monitoring/prometheus-rules.yml": PROMETHEUS_RULES.format(
                name="card-fraud",
                alert="FraudScoreDrift",
                expr="card_fraud_psi > 0.2",
                record="card_fraud:latency_p95",
                record_expr="histogram_quantile(0.95, rate(score_latency_seconds_bucket[5m]))",
            ),
            "Dockerfile": "FROM python:3.11-slim\nCOPY . /app\nRUN pip install /app\n"
            'CMD ["uvicorn", "card_fraud.serve:app"]\n',
            "terraform/main.tf": 'resource "aws_sagemaker_endpoint" "card_fraud" {\n  name = "card-fraud"\n}\n',
        },
    ),
    RepoTemplate(
        name="account-takeover",
        web_url="https://github.com/acme/account-takeover",
        project="account-takeover",
        authors=(("Fatima Haddad", "fatima@acme.example"),),
        files={
            "README.md": "# account-takeover\n\nExperiments for account takeover detection.\n",
            "requirements.txt": "lightgbm>=4\npandas\nmlflow\n",
            "config/training.yaml": "learning_rate: 0.1\nrevision: 0\n",
            "ato/__init__.py": "",
            "ato/train.py": _py("Train the ATO classifier.", "import mlflow\n\n\ndef main():\n    mlflow.autolog()\n"),
            "ato/features.py": _py("Login features.", "def ip_risk(ip):\n    return 0.0\n"),
            "ato/score.py": _py(
                "Score a login for the auth service (not yet in production).",
                "def score(login: dict) -> float:\n    return 0.0\n",
            ),
            "notebooks/eda.ipynb": json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}),
            "tests/test_features.py": "from ato.features import ip_risk\n\n\n"
            "def test_ip_risk():\n    assert ip_risk('10.0.0.1') == 0.0\n",
            ".github/workflows/ci.yml": ATO_CI_YML,
        },
    ),
    RepoTemplate(
        name="pd-model",
        web_url="https://gitlab.acme.internal/credit-risk/pd-model",
        project="pd-model",
        authors=(("Kofi Mensah", "kofi@acme.example"), ("Kim Lee", "kim@acme.example")),
        files={
            "README.md": "# pd-model\n\nProbability of default. Model risk validation is required for every release.\n",
            "requirements.lock": "numpy==2.1.3\npandas==2.2.3\nscikit-learn==1.5.2\nmlflow==3.1.0\n",
            "config/training.yaml": "bins: 10\nregularisation: 0.01\nrevision: 0\n",
            "pd_model/__init__.py": "",
            "pd_model/train.py": _py("Fit the WoE scorecard.", "import mlflow\n\n\ndef main():\n    ...\n"),
            "pd_model/woe.py": _py("Weight-of-evidence binning.", "def bin_edges(values, bins):\n    return []\n"),
            "pd_model/score.py": _py(
                "Score an application.", "def score(application: dict) -> float:\n    return 0.05\n"
            ),
            "pd_model/validate.py": _py(
                "The model risk validation report.",
                "import great_expectations as gx\n\n\ndef report(out):\n    ...\n",
            ),
            "tests/test_score.py": "from pd_model.score import score\n\n\n"
            "def test_pd_between_0_and_1():\n    assert 0 <= score({}) <= 1\n",
            "tests/test_woe.py": "from pd_model.woe import bin_edges\n\n\n"
            "def test_no_edges_for_empty():\n    assert bin_edges([], 10) == []\n",
            ".gitlab-ci.yml": PD_MODEL_GITLAB_CI,
            "Dockerfile": "FROM python:3.11-slim\nCOPY requirements.lock .\nRUN pip install -r requirements.lock\n",
        },
    ),
    RepoTemplate(
        name="demand-forecast",
        web_url="https://github.com/acme/demand-forecast",
        project="store-demand",
        authors=(("Freya Nilsson", "freya@acme.example"), ("svc-forecasting", "svc-forecasting@acme.example")),
        files={
            "README.md": "# demand-forecast\n\nDaily units per store and SKU, retrained every Monday by Jenkins.\n",
            "requirements.txt": "lightgbm==4.5.0\npandas==2.2.3\nmlflow==3.1.0\nprometheus-client==0.21.0\n",
            "config/training.yaml": "horizon: 28\nrevision: 0\n",
            "forecast/__init__.py": "",
            "forecast/train.py": _py("Train the store demand model.", "import mlflow\n\n\ndef main():\n    ...\n"),
            "forecast/predict.py": _py(
                "Batch predictions for the replenishment system.",
                "from prometheus_client import Counter\n\nPREDICTIONS = Counter('forecast_predictions', 'rows')\n",
            ),
            "forecast/backtest.py": _py("Rolling-origin backtest.", "def backtest(folds):\n    ...\n"),
            "tests/test_predict.py": "from forecast.predict import PREDICTIONS\n\n\n"
            "def test_counter():\n    assert PREDICTIONS is not None\n",
            "Jenkinsfile": FORECAST_JENKINSFILE,
            "dvc.yaml": "stages:\n  sales:\n    cmd: python -m forecast.extract\n    outs: [data/sales]\n",
            "monitoring/prometheus-rules.yml": PROMETHEUS_RULES.format(
                name="demand-forecast",
                alert="ForecastErrorHigh",
                expr="forecast_wape_7d > 0.35",
                record="forecast:wape_7d",
                record_expr="avg_over_time(forecast_wape[7d])",
            ),
            "Dockerfile": "FROM python:3.11-slim\nCOPY . /app\nRUN pip install -r /app/requirements.txt\n",
            "k8s/cronjob.yaml": "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: store-demand-predict\n"
            'spec:\n  schedule: "0 5 * * *"\n',
        },
    ),
    RepoTemplate(
        name="home-feed",
        web_url="https://github.com/acme/home-feed",
        project="home-feed",
        authors=(("Ravi Patel", "ravi@acme.example"),),
        files={
            "README.md": "# home-feed\n\nCandidate retrieval and ranking for the home feed.\n",
            "requirements.txt": "torch\nfaiss-cpu\nmlflow\n",
            "config/training.yaml": "embedding_dim: 64\nrevision: 0\n",
            "ranker.ipynb": json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}),
            "candidates/__init__.py": "",
            "candidates/train.py": _py("Train the two-tower retrieval model.", "def main():\n    ...\n"),
            "tests/test_candidates.py": "def test_import():\n    import candidates.train  # noqa: F401\n",
            ".github/workflows/ci.yml": HOME_FEED_CI_YML,
        },
    ),
)
BY_WEB_URL = {t.web_url: t for t in TEMPLATES}


def build_repo(template: RepoTemplate, path: Path, commit_times: list[datetime]) -> tuple[str, list[str]]:
    """Write the repository at `path`: one initial commit with every file, then one commit per entry of
    `commit_times` (each bumps the training config's revision). Returns (head, the commits' shas in order)."""
    path.mkdir(parents=True, exist_ok=True)
    repo = git.Repo.init(path, initial_branch="main")
    with repo.config_writer() as config:  # a repository of its own: no user config or hooks leak in
        config.set_value("commit", "gpgsign", "false")
    first = min(commit_times, default=datetime.now(UTC)) - timedelta(days=45)
    for rel, text in template.files.items():
        target = path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    repo.index.add(list(template.files))
    _commit(repo, template, 0, first, "Initial import")
    shas = []
    config = path / "config" / "training.yaml"
    for n, at in enumerate(commit_times, start=1):
        lines = [line for line in config.read_text().splitlines() if not line.startswith("revision:")]
        config.write_text("\n".join([*lines, f"revision: {n}"]) + "\n")
        repo.index.add(["config/training.yaml"])
        shas.append(_commit(repo, template, n, at, f"Retrain: training config revision {n}"))
    return repo.head.commit.hexsha, shas


def _commit(repo: git.Repo, template: RepoTemplate, n: int, at: datetime, message: str) -> str:
    name, email = template.authors[n % len(template.authors)]
    author = git.Actor(name, email)
    stamp = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")
    commit = repo.index.commit(
        message, author=author, committer=author, author_date=stamp, commit_date=stamp, skip_hooks=True
    )
    return commit.hexsha


def ensure_repos(directory: Path, wanted: dict[str, list[datetime]], anchor: str) -> dict[str, BuiltRepo]:
    """Every demo repository under `directory`, built unless it is there from the same anchor.

    `wanted` maps a repository's web URL to the times of the commits the MLflow plan needs (sorted).
    Returns the repositories by web URL, with the shas of those commits in `BuiltRepo` order.
    """
    out: dict[str, BuiltRepo] = {}
    for template in TEMPLATES:
        path = directory / template.name
        marker = path / ".git" / MARKER
        times = sorted(wanted.get(template.web_url, []))
        if marker.exists() and json.loads(marker.read_text()).get("anchor") == anchor:
            repo = git.Repo(path)
            out[template.web_url] = BuiltRepo(
                template, path, repo.head.commit.hexsha, int(repo.git.rev_list("--count", "HEAD")), False
            )
            continue
        if path.exists():  # built from another anchor, or interrupted: build it again
            shutil.rmtree(path)
        head, _ = build_repo(template, path, times)
        marker.write_text(json.dumps({"anchor": anchor, "head": head}))
        out[template.web_url] = BuiltRepo(template, path, head, len(times) + 1, True)
    return out


def commit_shas(repo: BuiltRepo) -> list[str]:
    """The shas after the initial import, oldest first (one per commit the plan asked for)."""
    shas = git.Repo(repo.path).git.rev_list("--reverse", "HEAD").split()
    return shas[1:]
