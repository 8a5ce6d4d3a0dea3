"""Detectors, one test per signal, on real repositories built with GitPython and scanned through the
same code the sync uses (fetch into a cache, list the tree, read blobs). No database."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from integrations import detectors as d
from integrations.git import GitSource, cache_key
from integrations.git_services import ScanResult
from integrations.git_sync import MAX_SIGNALS_PER_KIND, scan_repository
from integrations.models import GitRepository
from tests.integrations.gitrepos import ADA, GRACE, RepoBuilder


def scan(builder: RepoBuilder, tmp_path: Path, *, subdirectory: str = "", now: datetime | None = None) -> ScanResult:
    repository = GitRepository(name="r", url=str(builder.path), branch=builder.branch, subdirectory=subdirectory)
    source = GitSource(tmp_path / "cache", cache_key("r", repository.url))
    with source.locked():
        head = source.fetch(repository.url, repository.branch)
        assert head == builder.head
        return scan_repository(source, repository, head, now=now)


def kinds(result: ScanResult, kind: str) -> dict[str, dict]:
    return {s.path: dict(s.detail) for s in result.signals if s.kind == kind}


@pytest.fixture
def repo(tmp_path) -> RepoBuilder:
    return RepoBuilder(tmp_path / "work")


def test_training_code(repo, tmp_path):
    repo.commit(
        {
            "train.py": "print('fit')\n",
            "src/training/pipeline.py": "def run(): ...\n",
            "models/fraud_train.py": "",
            "MLproject": "name: fraud\nentry_points:\n  main:\n    command: python train.py\n",
            "tests/test_train.py": "def test_x(): ...\n",
            "README.md": "# fraud\n",
        }
    )
    found = kinds(scan(repo, tmp_path), d.TRAINING_CODE)
    assert found == {
        "MLproject": {"via": "mlproject"},
        "models/fraud_train.py": {"via": "name"},
        "src/training/pipeline.py": {"via": "directory"},
        "train.py": {"via": "name"},
    }


def test_scoring_code(repo, tmp_path):
    repo.commit(
        {
            "score.py": "def score(x): ...\n",
            "serving/app.py": "app = None\n",
            "serving/__init__.py": "",
            "src/batch_predict.py": "",
            "utils.py": "",
        }
    )
    found = kinds(scan(repo, tmp_path), d.SCORING_CODE)
    assert set(found) == {"score.py", "serving/app.py", "src/batch_predict.py"}
    assert found["serving/app.py"] == {"via": "directory"}


def test_test_files(repo, tmp_path):
    repo.commit(
        {
            "tests/test_features.py": "def test_a(): ...\n",
            "tests/conftest.py": "",
            "tests/helpers/factories.py": "",
            "pkg/thing_test.py": "",
            "web/app.test.ts": "",
            "tests/testthat/test-model.R": "",
            "pkg/thing.py": "",
        }
    )
    found = kinds(scan(repo, tmp_path), d.TEST_FILE)
    assert set(found) == {
        "pkg/thing_test.py",
        "tests/helpers/factories.py",
        "tests/test_features.py",
        "tests/testthat/test-model.R",
        "web/app.test.ts",
    }
    assert found["web/app.test.ts"] == {"language": "typescript"}


def test_tests_that_touch_the_scoring_code(repo, tmp_path):
    repo.commit(
        {
            "src/fraud/serving/predict.py": "def score(x):\n    return 1\n",
            "tests/test_model_api.py": "from fraud.serving.predict import (\n    score,\n)\n\ndef test_score(): ...\n",
            "tests/test_predict.py": "def test_nothing_imported(): ...\n",
            "tests/test_http.py": "def test_post(client):\n    client.post('/v1/predict', json={})\n",
            "tests/test_utils.py": "import os\nfrom fraud.features import build\n",
        }
    )
    found = kinds(scan(repo, tmp_path), d.SCORING_TEST)
    assert found == {
        "tests/test_model_api.py": {
            "via": "import",
            "module": "fraud.serving.predict",
            "scoring_path": "src/fraud/serving/predict.py",
        },
        "tests/test_predict.py": {"via": "name", "scoring_path": "src/fraud/serving/predict.py"},
        "tests/test_http.py": {"via": "endpoint", "endpoint": "/v1/predict"},
    }


def test_no_scoring_code_means_no_scoring_tests(repo, tmp_path):
    repo.commit({"tests/test_a.py": "from app.predict import x\n", "lib.py": ""})
    assert kinds(scan(repo, tmp_path), d.SCORING_TEST) == {}


def test_ci_configuration(repo, tmp_path):
    workflow = "name: ci\non: [push]\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps: [{run: pytest}]\n"
    repo.commit(
        {
            ".github/workflows/ci.yml": workflow,
            ".gitlab-ci.yml": "test:\n  stage: test\n  script: [pytest]\n",
            "Jenkinsfile": "pipeline { agent any }\n",
            "docs/ci.yml": "not: ci\n",
        }
    )
    result = scan(repo, tmp_path)
    assert kinds(result, d.CI_CONFIG) == {
        ".github/workflows/ci.yml": {"provider": "github"},
        ".gitlab-ci.yml": {"provider": "gitlab"},
        "Jenkinsfile": {"provider": "jenkins"},
    }
    assert {p["config_path"] for p in result.pipelines} == {".github/workflows/ci.yml", ".gitlab-ci.yml", "Jenkinsfile"}
    assert result.ci_paths == result.parsed_paths


def test_a_repository_with_no_ci_at_all(repo, tmp_path):
    repo.commit({"train.py": "", "README.md": "", "notes/ci.md": "we should add CI\n"})
    result = scan(repo, tmp_path)
    assert kinds(result, d.CI_CONFIG) == {}
    assert result.pipelines == ()
    assert result.findings == ()
    assert result.ci_paths == frozenset()
    assert {s.kind for s in result.signals} == {d.TRAINING_CODE}


def test_a_broken_workflow_is_a_finding_not_a_crash(repo, tmp_path):
    repo.commit(
        {
            ".github/workflows/broken.yml": "name: broken\non: [push\njobs: {\n",
            ".github/workflows/ok.yml": "name: ok\non: [push]\njobs:\n  test: {runs-on: x, steps: []}\n",
        }
    )
    result = scan(repo, tmp_path)
    assert set(kinds(result, d.CI_CONFIG)) == {".github/workflows/broken.yml", ".github/workflows/ok.yml"}
    broken = [f for f in result.findings if f.path == ".github/workflows/broken.yml"]
    assert [f.kind for f in broken] == ["broken_yaml"]
    assert [p["config_path"] for p in result.pipelines] == [".github/workflows/ok.yml"]
    assert result.parsed_paths == {".github/workflows/ok.yml"}


def test_data_versioning(repo, tmp_path):
    repo.commit(
        {
            "dvc.yaml": "stages:\n  prepare:\n    cmd: python prep.py\n  train:\n    cmd: python train.py\n",
            "dvc.lock": "schema: '2.0'\n",
            "data/raw.csv.dvc": "outs:\n- md5: abc\n  path: raw.csv\n",
            ".dvc/config": "[core]\n    remote = s3\n",
            ".dvc/.gitignore": "/cache\n",
        }
    )
    assert kinds(scan(repo, tmp_path), d.DATA_VERSIONING) == {
        ".dvc/config": {"tool": "dvc", "file": "config"},
        "data/raw.csv.dvc": {"tool": "dvc", "file": "tracked", "target": "raw.csv"},
        "dvc.lock": {"tool": "dvc", "file": "lock"},
        "dvc.yaml": {"tool": "dvc", "file": "pipeline", "stages": ["prepare", "train"]},
    }


FEAST = """
from datetime import timedelta
from feast import Entity, FeatureView, Field
from feast.on_demand_feature_view import on_demand_feature_view

driver = Entity(name="driver", join_keys=["driver_id"])
driver_stats = FeatureView(
    entities=[driver],
    ttl=timedelta(days=1),
    name="driver_hourly_stats",
)
conv = FeatureView(name='conversion_rates', entities=[driver])

@on_demand_feature_view(sources=[driver_stats], schema=[])
def transformed_conv_rate(inputs):
    return inputs
"""


def test_feature_store_and_feature_views(repo, tmp_path):
    repo.commit(
        {
            "feature_repo/feature_store.yaml": "project: fraud\nprovider: local\nregistry: data/registry.db\n",
            "feature_repo/definitions.py": FEAST,
            "feature_repo/broken.py": "FeatureView(name='half_written'\n",
            "other/not_feast.py": "x = 1\n",
        }
    )
    result = scan(repo, tmp_path)
    assert kinds(result, d.FEATURE_STORE) == {
        "feature_repo/feature_store.yaml": {
            "tool": "feast",
            "project": "fraud",
            "provider": "local",
            "feature_views": ["conversion_rates", "driver_hourly_stats", "half_written", "transformed_conv_rate"],
        }
    }
    assert kinds(result, d.FEATURE_VIEW) == {
        "feature_repo/broken.py": {"tool": "feast", "names": ["half_written"]},
        "feature_repo/definitions.py": {
            "tool": "feast",
            "names": ["conversion_rates", "driver_hourly_stats", "transformed_conv_rate"],
        },
    }


def test_data_validation(repo, tmp_path):
    repo.commit(
        {
            "great_expectations/great_expectations.yml": "config_version: 3\n",
            "great_expectations/expectations/orders.json": json.dumps({"expectations": []}),
            "validation/checks.py": "import pandera as pa\n\nschema = pa.DataFrameSchema({})\n",
            "contracts/schema.py": "from pydantic import BaseModel\n\nclass Order(BaseModel):\n    id: int\n",
            "api/payloads.py": "from pydantic import BaseModel\n",
            "soda/checks_orders.yml": "checks for orders:\n  - row_count > 0\n",
        }
    )
    found = kinds(scan(repo, tmp_path), d.DATA_VALIDATION)
    assert found == {
        "contracts/schema.py": {"tools": ["pydantic"], "via": "import"},
        "great_expectations/expectations/orders.json": {
            "tools": ["great_expectations"],
            "via": "suite",
            "suite": "orders",
        },
        "great_expectations/great_expectations.yml": {"tools": ["great_expectations"], "via": "config"},
        "soda/checks_orders.yml": {"tools": ["soda"], "via": "config"},
        "validation/checks.py": {"tools": ["pandera"], "via": "import"},
    }


def test_monitoring(repo, tmp_path):
    rules = "groups:\n- name: model\n  rules:\n  - alert: DriftHigh\n    expr: drift_score > 0.3\n"
    repo.commit(
        {
            "monitoring/drift.py": "from evidently.report import Report\n",
            "monitoring/profile.py": "import whylogs as why\n",
            "serving/metrics.py": "from prometheus_client import Counter\n",
            "deploy/prometheus/rules.yml": rules,
            "deploy/prometheus/prometheus.yml": "scrape_configs:\n  - job_name: scorer\n",
            "grafana/dashboards/model.json": json.dumps({"panels": []}),
            "notes.yml": "groups: none\n",
        }
    )
    found = kinds(scan(repo, tmp_path), d.MONITORING)
    assert found == {
        "deploy/prometheus/prometheus.yml": {"tools": ["prometheus"], "via": "scrape_config"},
        "deploy/prometheus/rules.yml": {"tools": ["prometheus"], "via": "rules"},
        "grafana/dashboards/model.json": {"tools": ["grafana"], "via": "dashboard"},
        "monitoring/drift.py": {"tools": ["evidently"], "via": "import"},
        "monitoring/profile.py": {"tools": ["whylogs"], "via": "import"},
        "serving/metrics.py": {"tools": ["prometheus"], "via": "import"},
    }


def test_dockerfiles(repo, tmp_path):
    repo.commit(
        {
            "Dockerfile": "FROM python:3.11-slim AS base\nRUN pip install .\nFROM base\n",
            "docker/serve.Dockerfile": "FROM --platform=linux/amd64 nvidia/cuda:12.1\n",
            "docs/Dockerfile.md": "about docker\n",
        }
    )
    assert kinds(scan(repo, tmp_path), d.DOCKERFILE) == {
        "Dockerfile": {"base_images": ["python:3.11-slim", "base"]},
        "docker/serve.Dockerfile": {"base_images": ["nvidia/cuda:12.1"]},
        "docs/Dockerfile.md": {"base_images": []},
    }


def test_infrastructure_as_code(repo, tmp_path):
    deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: scorer\n"
    repo.commit(
        {
            "infra/main.tf": 'resource "aws_s3_bucket" "models" {}\n',
            "charts/scorer/Chart.yaml": "apiVersion: v2\nname: scorer\n",
            "charts/scorer/templates/deployment.yaml": deployment,
            "k8s/deployment.yaml": deployment + "---\napiVersion: v1\nkind: Service\n",
            "k8s/kustomization.yaml": "resources: [deployment.yaml]\n",
            "config/app.yaml": "debug: true\n",
        }
    )
    assert kinds(scan(repo, tmp_path), d.INFRASTRUCTURE) == {
        "charts/scorer/Chart.yaml": {"tool": "helm"},
        "infra/main.tf": {"tool": "terraform"},
        "k8s/deployment.yaml": {"tool": "kubernetes", "kinds": ["Deployment", "Service"]},
        "k8s/kustomization.yaml": {"tool": "kustomize"},
    }


def test_dependency_locks(repo, tmp_path):
    repo.commit(
        {
            "poetry.lock": "[[package]]\n",
            "services/api/uv.lock": "version = 1\n",
            "requirements.txt": "# pinned\n-r base.txt\nnumpy==1.26.4\nscikit-learn==1.4.2 ; python_version >= '3.9'\n",
            "requirements-dev.txt": "pytest\nruff>=0.5\n",
            "envs/conda-linux-64.lock": "@EXPLICIT\n",
        }
    )
    assert kinds(scan(repo, tmp_path), d.DEPENDENCY_LOCK) == {
        "envs/conda-linux-64.lock": {"tool": "conda-lock"},
        "poetry.lock": {"tool": "poetry"},
        "requirements.txt": {"tool": "pip", "pinned": 2},
        "services/api/uv.lock": {"tool": "uv"},
    }


def test_monorepo_subdirectory(repo, tmp_path):
    repo.commit(
        {
            "services/fraud/train.py": "",
            "services/fraud/tests/test_train.py": "",
            "services/fraud/Dockerfile": "FROM python:3.11\n",
            "services/churn/train.py": "",
            "services/churn/Dockerfile": "FROM python:3.11\n",
            "services/fraud-legacy/train.py": "",
            ".github/workflows/fraud.yml": "name: fraud\non:\n  push:\n    paths: ['services/fraud/**']\njobs: {}\n",
            ".github/workflows/churn.yml": "name: churn\non:\n  push:\n    paths: ['services/churn/**']\njobs: {}\n",
            ".github/workflows/legacy.yml": "name: legacy\non:\n  push:\n    paths: ['services/fraud-legacy/**']\n",
        },
        author=GRACE,
    )
    repo.commit({"services/churn/model.py": "x = 1\n"}, author=ADA)
    result = scan(repo, tmp_path, subdirectory="services/fraud")
    assert {(s.kind, s.path) for s in result.signals} == {
        (d.TRAINING_CODE, "services/fraud/train.py"),
        (d.TEST_FILE, "services/fraud/tests/test_train.py"),
        (d.DOCKERFILE, "services/fraud/Dockerfile"),
        (d.CI_CONFIG, ".github/workflows/fraud.yml"),
    }
    assert [p["config_path"] for p in result.pipelines] == [".github/workflows/fraud.yml"]
    # Every CI file of the tree is known (so a scan never retires another subdirectory's pipelines).
    assert result.ci_paths == {
        ".github/workflows/fraud.yml",
        ".github/workflows/churn.yml",
        ".github/workflows/legacy.yml",
    }
    # Activity counts only the commits that touch the subdirectory.
    assert result.activity["total_commits"] == 1
    assert [c["name"] for c in result.activity["committers"]] == ["Grace Hopper"]


def test_a_missing_subdirectory_is_a_finding(repo, tmp_path):
    repo.commit({"train.py": ""})
    result = scan(repo, tmp_path, subdirectory="services/gone")
    assert result.signals == ()
    assert [(f.kind, f.path) for f in result.findings] == [("subdirectory_not_found", "services/gone")]


def test_signals_per_kind_are_bounded(repo, tmp_path):
    repo.commit({f"tests/test_{i:03}.py": "" for i in range(MAX_SIGNALS_PER_KIND + 5)})
    result = scan(repo, tmp_path)
    assert len(kinds(result, d.TEST_FILE)) == MAX_SIGNALS_PER_KIND
    assert [(f.kind, f.message) for f in result.findings] == [
        ("signals_truncated", f"{MAX_SIGNALS_PER_KIND + 5} test_file signals found; the first 200 are kept")
    ]


def test_binary_and_oversized_files_are_not_read(repo, tmp_path):
    repo.commit(
        {
            "requirements.txt": b"numpy==1.0\x00\x01binary",
            "Dockerfile": "FROM python:3.11\n" + "#" * 600_000,
        }
    )
    result = scan(repo, tmp_path)
    assert kinds(result, d.DEPENDENCY_LOCK) == {}
    assert kinds(result, d.DOCKERFILE) == {"Dockerfile": {"base_images": []}}


def test_commit_activity(repo, tmp_path):
    now = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)  # a Wednesday, ISO week 2026-W10
    repo.commit({"a.py": "1"}, author=ADA, when=now - timedelta(weeks=40))  # outside the window
    repo.commit({"a.py": "2"}, author=ADA, when=now - timedelta(weeks=2))
    repo.commit({"a.py": "3"}, author=GRACE, when=now - timedelta(days=1))
    last = repo.commit({"a.py": "4"}, author=GRACE, when=now - timedelta(hours=1))
    activity = scan(repo, tmp_path, now=now).activity
    assert activity["last_commit_sha"] == last
    assert activity["last_commit_at"] == (now - timedelta(hours=1)).isoformat()
    assert activity["total_commits"] == 4
    weeks = activity["commits_per_week"]
    assert len(weeks) == 26
    assert weeks[-1] == {"week": "2026-W10", "commits": 2}
    assert weeks[-3] == {"week": "2026-W08", "commits": 1}
    assert sum(w["commits"] for w in weeks) == 3
    assert activity["committers"] == [
        {"name": "Grace Hopper", "email": "grace@example.com", "commits": 2},
        {"name": "Ada Lovelace", "email": "ada@example.com", "commits": 1},
    ]


# --- the pure helpers ---


def test_module_names_cover_src_layouts_and_packages():
    assert d.module_names("src/fraud/serving/predict.py") == [
        "predict",
        "serving.predict",
        "fraud.serving.predict",
        "src.fraud.serving.predict",
    ]
    assert d.module_names("services/fraud-api/serving/__init__.py") == ["serving"]


def test_requirements_pins():
    assert d.requirements_pins("a==1\nb===2\n# c\n-e .\nd>=1\n") == (2, 3)
    hashed = "numpy==1.26.4 \\\n    --hash=sha256:abc\n"
    assert d.requirements_pins(hashed) == (1, 1)


def test_adding_a_detector_is_one_entry():
    def notebooks(files, read):
        return [d.Signal("notebook", p) for p in files if p.endswith(".ipynb")]

    table = (*d.DETECTORS, d.Detector("notebook", "Jupyter notebooks", notebooks))
    signals = d.run_detectors(["eda.ipynb", "train.py"], lambda p: "", table)
    assert [(s.kind, s.path) for s in signals] == [("notebook", "eda.ipynb"), ("training_code", "train.py")]


def test_every_detector_is_documented():
    from django.conf import settings

    text = (settings.BASE_DIR / "docs" / "integrations.md").read_text()
    git_section = text[text.index("\n## Git") :]
    missing = [det.kind for det in d.DETECTORS if f"| `{det.kind}` |" not in git_section]
    assert missing == [], f"add these detectors to the table in docs/integrations.md: {missing}"
