"""The CI configuration parsers (integrations/ci/parsers.py): a pure core, tested without a database.

Real-world-shaped files live in fixtures/; small cases are inline tables."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integrations.ci.contracts import CiFinding, ParsedPipeline
from integrations.ci.parsers import MAX_CONFIG_BYTES, MAX_JOBS, is_ci_config, parse_ci_file, pipeline_kind

FIXTURES = Path(__file__).parent / "fixtures"
WORKFLOW = ".github/workflows/ci.yml"
GITLAB = ".gitlab-ci.yml"
JENKINS = "Jenkinsfile"
JOB_KINDS = {"test", "train", "evaluate", "deploy", "data", "other"}
PIPELINE_KINDS = {"data", "training", "evaluation", "deployment", "ci"}
TRIGGER_TYPES = {"push", "pull_request", "tag", "schedule", "manual", "other"}


def parse_one(path: str, text: str) -> tuple[ParsedPipeline, list[CiFinding]]:
    pipelines, findings = parse_ci_file(path, text)
    assert len(pipelines) == 1, findings
    return pipelines[0], findings


def triggers(p: ParsedPipeline) -> list[tuple[str, dict[str, Any]]]:
    return [(t.type, t.detail) for t in p.triggers]


def jobs(p: ParsedPipeline) -> list[tuple[str, str, str]]:
    return [(j.name, j.kind, j.stage) for j in p.jobs]


def finding_kinds(findings: list[CiFinding]) -> list[str]:
    return [f.kind for f in findings]


# --- which files are CI configuration -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (".github/workflows/ci.yml", True),
        (".github/workflows/train-model.yaml", True),
        (".github/workflows/release.prod.yml", True),
        (".github/workflows/README.md", False),
        (".github/workflows/sub/ci.yml", False),  # GitHub does not read subfolders
        (".github/workflows/.yml", False),
        (".github/ci.yml", False),
        ("services/scorer/.github/workflows/ci.yml", False),  # only the root's .github/workflows counts
        ("docs/ci.yml", False),
        (".gitlab-ci.yml", True),
        ("services/scorer/.gitlab-ci.yml", True),  # a monorepo service's own pipeline (a local include)
        ("ci/.gitlab-ci.yml.bak", False),
        ("gitlab-ci.yml", False),
        ("Jenkinsfile", True),
        ("Jenkinsfile.release", True),
        ("services/scorer/Jenkinsfile", True),
        ("jenkins/Jenkinsfile.groovy", True),
        ("Jenkinsfile.", False),
        ("MyJenkinsfile", False),
        ("jenkinsfile", False),
        ("README.md", False),
        ("./Jenkinsfile", True),
    ],
)
def test_is_ci_config(path, expected):
    assert is_ci_config(path) is expected


def test_a_path_that_is_not_ci_configuration_is_a_finding():
    assert parse_ci_file("README.md", "# hello\n") == (
        [],
        [CiFinding("README.md", "unsupported", "not a CI configuration file this parser reads")],
    )


# --- real-world-shaped files ----------------------------------------------------------------------------

INCLUDES = (
    "local:/ci/templates/python.yml",
    "remote:https://gitlab.example.com/platform/ci/-/raw/main/security.yml",
    "template:Jobs/SAST.gitlab-ci.yml",
    "project:platform/ci-templates:/templates/docker.yml@v3.2.0",
    "project:platform/ci-templates:/templates/helm.yml@v3.2.0",
    "component:$CI_SERVER_FQDN/components/secret-detection/secret-detection@1.1",
    "local:ci/extra.yml",
)

FILES = [
    pytest.param(
        "github/ci.yml",
        ".github/workflows/ci.yml",
        {
            "name": "CI",
            "kind": "ci",
            "triggers": [("push", {}), ("pull_request", {})],
            "jobs": [
                ("lint", "other", ""),
                ("Tests (py${{ matrix.python-version }}, ${{ matrix.os }})", "test", ""),
                ("build", "other", ""),
            ],
        },
        id="github-matrix-on-list",
    ),
    pytest.param(
        "github/train.yml",
        ".github/workflows/train.yml",
        {
            "name": "Train fraud model",
            "kind": "training",
            "triggers": [
                ("schedule", {"cron": "0 3 * * 1"}),
                ("schedule", {"cron": "30 2 1 * *"}),
                ("manual", {"event": "workflow_dispatch", "inputs": ["epochs", "register"]}),
                ("push", {"branches": ["main"], "paths": ["src/fraud/**", "params.yaml"]}),
            ],
            "jobs": [
                ("prepare-data", "data", ""),
                ("train", "train", ""),
                ("evaluate", "evaluate", ""),
                ("register", "other", ""),
            ],
        },
        id="github-two-crons-dispatch-inputs",
    ),
    pytest.param(
        "github/release.yml",
        ".github/workflows/release.yml",
        {
            "name": "Release scorer",
            "kind": "deployment",
            "triggers": [("tag", {"tags": ["v*.*.*"]})],
            "jobs": [("image", "other", ""), ("rollout", "deploy", "")],
        },
        id="github-tag-push",
    ),
    pytest.param(
        "github/deploy.yml",
        ".github/workflows/deploy.yml",
        {
            "name": "Deploy",
            "kind": "deployment",
            "triggers": [
                (
                    "other",
                    {
                        "event": "workflow_run",
                        "workflows": ["Train fraud model"],
                        "types": ["completed"],
                        "branches": ["main"],
                    },
                ),
                ("push", {"branches": ["main"]}),
                ("tag", {"tags": ["release-*"]}),
            ],
            "jobs": [("call-evaluation", "evaluate", ""), ("ship", "deploy", "")],
        },
        id="github-calls-reusable-workflows",
    ),
    pytest.param(
        "github/model-gate.yml",
        ".github/workflows/model-gate.yml",
        {
            "name": "model-gate",
            "kind": "evaluation",
            "triggers": [("other", {"event": "workflow_call"})],
            "jobs": [("validate-data", "data", ""), ("check-model", "evaluate", "")],
        },
        id="github-reusable-workflow-no-name",
    ),
    pytest.param(
        "github/nightly-etl.yaml",
        ".github/workflows/nightly-etl.yaml",
        {
            "name": "nightly-etl",
            "kind": "data",
            "triggers": [
                ("schedule", {"cron": "15 1 * * *"}),
                ("manual", {"event": "repository_dispatch", "types": ["refresh-features"]}),
            ],
            "jobs": [("refresh", "data", "")],
        },
        id="github-quoted-on-yaml-extension",
    ),
    pytest.param(
        "github/docs.yml",
        ".github/workflows/docs.yml",
        {"name": "docs", "kind": "ci", "triggers": [("push", {})], "jobs": [("deploy-docs", "other", "")]},
        id="github-docs-deploy-is-not-a-deployment",
    ),
    pytest.param(
        "gitlab/fraud.gitlab-ci.yml",
        "services/fraud/.gitlab-ci.yml",
        {
            "name": "Fraud model: $CI_COMMIT_REF_NAME",
            "kind": "deployment",
            "triggers": [
                ("pull_request", {}),
                ("push", {"branches": ["$CI_DEFAULT_BRANCH"]}),
                ("schedule", {}),
                ("manual", {"source": "web"}),
                ("tag", {"tags": [r"/^v\d+\.\d+\.\d+$/"]}),
                ("tag", {}),
                ("manual", {"job": "deploy-production"}),
                ("push", {"branches": ["main"]}),
            ],
            "jobs": [
                ("validate-data", "data", "validate"),
                ("unit-tests", "test", "test"),
                ("train-model", "train", "train"),
                ("evaluate-model", "evaluate", "evaluate"),
                ("deploy-production", "deploy", "deploy"),
                ("retrain-downstream", "train", "deploy"),
                ("pages", "other", "deploy"),
            ],
            "includes": INCLUDES,
            "findings": ["include_not_fetched"] * len(INCLUDES) + ["unsupported"],
        },
        id="gitlab-monorepo-anchors-extends-includes-rules",
    ),
    pytest.param(
        "gitlab/legacy.gitlab-ci.yml",
        ".gitlab-ci.yml",
        {
            "name": ".gitlab-ci.yml",
            "kind": "deployment",
            "triggers": [
                ("push", {}),
                ("pull_request", {}),
                ("schedule", {}),
                ("push", {"branches": ["develop", "/^release-.*$/"]}),
                ("tag", {}),
                ("manual", {"source": "web"}),
                ("manual", {"job": "production"}),
            ],
            "jobs": [
                ("build", "other", "build"),
                ("test", "test", "test"),
                ("nightly-retrain", "train", "build"),
                ("staging", "deploy", "deploy"),
                ("production", "deploy", "deploy"),
            ],
        },
        id="gitlab-only-except-merge-keys",
    ),
    pytest.param(
        "gitlab/extends.gitlab-ci.yml",
        ".gitlab-ci.yml",
        {
            "name": ".gitlab-ci.yml",
            "kind": "deployment",
            "triggers": [("push", {})],
            "jobs": [
                ("nightly", "train", "train"),  # stage and script come from .trainer, two levels up
                ("smoke", "test", "test"),
                ("release-fraud", "deploy", "release"),  # environment.name merged in from .prod-env
                ("ghost", "other", "test"),
                ("loop-a", "other", "test"),
                ("loop-b", "other", "test"),
            ],
            "findings": ["invalid_config", "invalid_config"],
        },
        id="gitlab-extends-chains-cycles-missing",
    ),
    pytest.param(
        "gitlab/component.gitlab-ci.yml",
        ".gitlab-ci.yml",
        {
            "name": ".gitlab-ci.yml",
            "kind": "ci",
            "triggers": [("push", {})],
            "jobs": [("component-tests", "test", "$[[ inputs.stage ]]")],
        },
        id="gitlab-component-with-spec-header",
    ),
    pytest.param(
        "jenkins/Jenkinsfile",
        "Jenkinsfile",
        {
            "name": "Jenkinsfile",
            "kind": "deployment",
            "triggers": [
                ("schedule", {"cron": "H 2 * * 1-5", "timezone": "Europe/Berlin"}),
                ("schedule", {"cron": "H 6 * * 6", "timezone": "Europe/Berlin"}),
                ("push", {"poll": "H/15 * * * *"}),
                ("other", {"upstream": ["feature-store/main", "data-ingest/main"]}),
                ("push", {"branches": ["main"]}),
                ("tag", {}),
                ("manual", {"stage": "Deploy to production", "message": "Deploy the new fraud model to production?"}),
            ],
            "jobs": [
                ("Checkout", "other", "Checkout"),
                ("Unit tests", "test", "Quality"),
                ("Lint", "other", "Quality"),
                ("Build features", "data", "Build features"),
                ("Train", "train", "Train"),
                ("Evaluate", "evaluate", "Evaluate"),
                ("Deploy to production", "deploy", "Deploy to production"),
            ],
        },
        id="jenkins-declarative",
    ),
    pytest.param(
        "jenkins/Jenkinsfile.scripted",
        "services/fraud/Jenkinsfile.scripted",
        {
            "name": "services/fraud/Jenkinsfile.scripted",
            "kind": "deployment",
            "triggers": [
                ("schedule", {"cron": "H 4 * * *"}),
                ("push", {}),
                ("manual", {"stage": "Registry", "message": "Move this version to Production in the registry?"}),
            ],
            "jobs": [
                ("Checkout", "other", "Checkout"),
                ("Data", "data", "Data"),
                ("Model", "train", "Model"),  # from `python train.py` inside docker.image(...).inside { }
                ("Test", "test", "Test"),
                ("Registry", "deploy", "Registry"),  # transition_model_version_stage: a registry promotion
            ],
        },
        id="jenkins-scripted",
    ),
    pytest.param(
        "jenkins/Jenkinsfile.legacy",
        "Jenkinsfile.legacy",
        {
            "name": "Jenkinsfile.legacy",
            "kind": "training",
            "triggers": [("push", {})],
            "jobs": [("Checkout", "other", "Checkout"), ("Fit", "train", "Fit"), ("Score", "evaluate", "Score")],
        },
        id="jenkins-scripted-old-style-stages",
    ),
    pytest.param(
        "jenkins/Jenkinsfile.library",
        "Jenkinsfile",
        {
            "name": "Jenkinsfile",
            "kind": "ci",
            "triggers": [("push", {})],
            "jobs": [],
            "findings": ["unsupported", "no_jobs"],
        },
        id="jenkins-shared-library-only",
    ),
]


@pytest.mark.parametrize(("fixture", "path", "expected"), FILES)
def test_real_world_files(fixture, path, expected):
    pipeline, findings = parse_one(path, (FIXTURES / fixture).read_text())
    assert pipeline.provider == path_provider(path)
    assert pipeline.config_path == path
    assert pipeline.name == expected["name"]
    assert triggers(pipeline) == expected["triggers"]
    assert jobs(pipeline) == expected["jobs"]
    assert pipeline.kind == expected["kind"]
    assert pipeline.includes == expected.get("includes", ())
    assert finding_kinds(findings) == expected.get("findings", [])


def path_provider(path: str) -> str:
    return "github" if path.startswith(".github/") else "gitlab" if path.endswith(".gitlab-ci.yml") else "jenkins"


# --- GitHub Actions: `on:` in all its forms ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("on", "expected"),
    [
        ("on: push", [("push", {})]),
        ("on: [push, pull_request]", [("push", {}), ("pull_request", {})]),
        ("'on': [pull_request]", [("pull_request", {})]),
        ("true: [push]", [("push", {})]),  # what PyYAML makes of a bare `on:` key
        ("on:\n  push:\n  pull_request:\n", [("push", {}), ("pull_request", {})]),
        ("on:\n  push:\n    tags: ['v*']\n", [("tag", {"tags": ["v*"]})]),
        ("on:\n  push:\n    tags-ignore: ['nightly-*']\n", [("tag", {"tags-ignore": ["nightly-*"]})]),
        (
            "on:\n  push:\n    branches: [main, 'release/**']\n    tags: [v1.*]\n    paths: [src/**]\n",
            [("push", {"branches": ["main", "release/**"], "paths": ["src/**"]}), ("tag", {"tags": ["v1.*"]})],
        ),
        (
            "on:\n  push:\n    branches-ignore: [dependabot/**]\n    paths-ignore: ['**.md']\n",
            [("push", {"branches-ignore": ["dependabot/**"], "paths-ignore": ["**.md"]})],
        ),
        (
            "on:\n  pull_request:\n    types: [opened, synchronize]\n    branches: [main]\n",
            [("pull_request", {"branches": ["main"], "types": ["opened", "synchronize"]})],
        ),
        (
            "on:\n  pull_request_target:\n    paths: [models/**]\n",
            [("pull_request", {"event": "pull_request_target", "paths": ["models/**"]})],
        ),
        (
            "on:\n  schedule:\n    - cron: '0 4 * * *'\n    - cron: '0 16 * * 5'\n",
            [("schedule", {"cron": "0 4 * * *"}), ("schedule", {"cron": "0 16 * * 5"})],
        ),
        (
            "on:\n  schedule:\n    - cron: '0 9 * * 1'\n      timezone: Europe/Paris\n",
            [("schedule", {"cron": "0 9 * * 1", "timezone": "Europe/Paris"})],
        ),
        ("on: workflow_dispatch", [("manual", {"event": "workflow_dispatch"})]),
        (
            "on:\n  workflow_dispatch:\n    inputs:\n      model: {required: true}\n      dry_run: {type: boolean}\n",
            [("manual", {"event": "workflow_dispatch", "inputs": ["model", "dry_run"]})],
        ),
        (
            "on:\n  repository_dispatch:\n    types: [retrain]\n",
            [("manual", {"event": "repository_dispatch", "types": ["retrain"]})],
        ),
        (
            "on:\n  workflow_run:\n    workflows: [CI]\n    types: [completed]\n",
            [("other", {"event": "workflow_run", "workflows": ["CI"], "types": ["completed"]})],
        ),
        (
            "on: [workflow_call, merge_group]",
            [("other", {"event": "workflow_call"}), ("other", {"event": "merge_group"})],
        ),
        ("on:\n  release:\n    types: [published]\n", [("other", {"event": "release", "types": ["published"]})]),
        ("on: [push, push]", [("push", {})]),
    ],
)
def test_github_triggers(on, expected):
    pipeline, findings = parse_one(WORKFLOW, f"{on}\njobs:\n  build:\n    runs-on: x\n    steps: [{{run: make}}]\n")
    assert triggers(pipeline) == expected
    assert findings == []


@pytest.mark.parametrize(
    ("on", "kind", "message"),
    [
        ("name: x", "invalid_config", "no `on:`"),
        ("on:\n  schedule: []\n", "invalid_config", "no `cron:`"),
        ("on: 42", "unsupported", "`on:` is int"),
        ("on: [push, {pull_request: {}}]", "unsupported", "`on:` lists dict"),
    ],
)
def test_github_trigger_problems_are_findings(on, kind, message):
    _, findings = parse_one(WORKFLOW, f"{on}\njobs:\n  build: {{runs-on: x, steps: []}}\n")
    assert kind in finding_kinds(findings)
    assert any(message in f.message for f in findings)


ANCHORED_WORKFLOW = """\
# GitHub Actions accepts YAML anchors and aliases (not top-level `x-` keys): anchors are set where a value
# first appears and aliased later, including `<<:` merges of a mapping.
name: fraud model
on:
  push:
    branches: &release_branches [main, 'release/**']
    paths: &model_paths ['models/fraud/**', 'requirements.lock']
  pull_request:
    branches: *release_branches
    paths: *model_paths
  schedule:
    - cron: &nightly '0 2 * * *'
jobs:
  unit-tests:
    runs-on: &runner ubuntu-latest
    container: &image
      image: ghcr.io/acme/ml-base:3.11
      options: --cpus 2
    steps:
      - &checkout
        uses: actions/checkout@v4
      - &install
        run: pip install -r requirements.lock
      - run: pytest tests/
  train:
    runs-on: *runner
    container:
      <<: *image
      options: --cpus 8
    needs: unit-tests
    steps: &train_steps
      - *checkout
      - *install
      - run: python -m fraud.train --config configs/gbm.yaml
  retrain-weekly:
    runs-on: *runner
    steps: *train_steps
  evaluate:
    runs-on: *runner
    needs: train
    steps:
      - *checkout
      - run: python -m fraud.evaluate --model-uri runs:/latest/model
"""


def test_github_workflow_with_yaml_anchors_and_aliases():
    pipeline, findings = parse_one(WORKFLOW, ANCHORED_WORKFLOW)
    assert findings == []
    assert pipeline.name == "fraud model"
    # Aliased trigger settings resolve to the anchored values.
    assert triggers(pipeline) == [
        ("push", {"branches": ["main", "release/**"], "paths": ["models/fraud/**", "requirements.lock"]}),
        ("pull_request", {"branches": ["main", "release/**"], "paths": ["models/fraud/**", "requirements.lock"]}),
        ("schedule", {"cron": "0 2 * * *"}),
    ]
    # Merged defaults (`<<: *job_defaults`) do not hide the jobs; aliased step lists are read for their kind.
    assert jobs(pipeline) == [
        ("unit-tests", "test", ""),
        ("train", "train", ""),
        ("retrain-weekly", "train", ""),
        ("evaluate", "evaluate", ""),
    ]
    assert pipeline.kind == "training"


def test_github_workflow_without_jobs_is_a_pipeline_and_a_finding():
    pipeline, findings = parse_one(WORKFLOW, "name: fraud\non:\n  push:\n    paths: ['services/fraud/**']\njobs: {}\n")
    assert (pipeline.name, pipeline.jobs, pipeline.kind) == ("fraud", (), "ci")
    assert finding_kinds(findings) == ["no_jobs"]


def test_github_job_that_is_not_a_mapping():
    pipeline, findings = parse_one(WORKFLOW, "on: push\njobs:\n  build: make\n  test: {steps: [{run: pytest}]}\n")
    assert jobs(pipeline) == [("build", "other", ""), ("test", "test", "")]
    assert finding_kinds(findings) == ["invalid_config"]


# --- job classification -----------------------------------------------------------------------------------


def workflow_job(job: dict[str, Any], job_id: str = "build") -> str:
    return yaml.safe_dump({"on": "push", "jobs": {job_id: {"runs-on": "ubuntu-latest", **job}}})


@pytest.mark.parametrize(
    ("run", "kind"),
    [
        ("pytest -q", "test"),
        ("python -m pytest tests/test_train.py tests/test_deploy.py", "test"),
        ("poetry run pytest --cov", "test"),
        ("tox -e py311", "test"),
        ("make test", "test"),
        ("python tests/test_train.py", "test"),
        ("Rscript -e 'devtools::test()'", "test"),
        ("python train.py --epochs 5", "train"),
        ("python src/models/train_model.py", "train"),
        ("python -m src.pipeline.train", "train"),
        ("mlflow run . -P alpha=0.5 --experiment-name fraud", "train"),
        ("dvc exp run --set-param train.lr=0.01", "train"),
        ("dvc repro train", "train"),
        ("accelerate launch --multi_gpu finetune.py", "train"),
        ("make train", "train"),
        ("uv run python fit.py", "train"),
        ("python evaluate.py --model models/latest", "evaluate"),
        ("dvc metrics diff main --md", "evaluate"),
        ("python -m pipeline.validate_model --min-auc 0.8", "evaluate"),
        ("kubectl apply -f k8s/", "deploy"),
        ("helm upgrade --install api ./chart --wait", "deploy"),
        ("mlflow models serve -m models:/fraud@champion -p 5001", "deploy"),
        ("python -c \"MlflowClient().transition_model_version_stage('fraud', 3, 'Production')\"", "deploy"),
        ("python -c \"MlflowClient().set_registered_model_alias('fraud', 'champion', 7)\"", "deploy"),
        ("./scripts/deploy.sh production", "deploy"),
        ("gcloud run deploy scorer --image $IMAGE", "deploy"),
        ("terraform apply -auto-approve", "deploy"),
        ("dvc repro", "data"),
        ("python etl/ingest.py --date today", "data"),
        ("python src/data/make_dataset.py data/raw data/processed", "data"),
        ("great_expectations checkpoint run orders", "data"),
        ("dbt build --target prod", "data"),
        ("pip install pytest mlflow", "other"),
        ("ruff check . && mypy src", "other"),
        ("docker build -t scorer .", "other"),
        ("echo deploying the model", "other"),
        ("python -m pytest && python train.py", "train"),  # one job, two kinds: the higher wins
        ("pytest\nhelm upgrade --install api ./chart", "deploy"),
    ],
)
def test_job_kind_from_commands(run, kind):
    pipeline, _ = parse_one(WORKFLOW, workflow_job({"steps": [{"uses": "actions/checkout@v4"}, {"run": run}]}))
    assert pipeline.jobs[0].kind == kind


@pytest.mark.parametrize(
    ("job_id", "name", "kind"),
    [
        ("train-model", None, "train"),
        ("unit-tests", None, "test"),
        ("e2e", None, "test"),
        ("evaluate", None, "evaluate"),
        ("benchmark", None, "evaluate"),
        ("validate-model", None, "evaluate"),
        ("data-validation", None, "data"),
        ("etl", None, "data"),
        ("build-and-deploy", None, "deploy"),
        ("build", "Deploy to staging", "deploy"),
        ("fine-tune", None, "train"),
        ("retrainModel", None, "train"),
        ("smoke-test", None, "test"),
        ("deploy-docs", None, "other"),
        ("lint", None, "other"),
        ("pre-commit", None, "other"),
        ("unit-tests", "Unit tests (smoke run)", "test"),  # the name decides before `python train.py --smoke`
    ],
)
def test_job_kind_from_names_first(job_id, name, kind):
    job = {"steps": [{"run": "python train.py --smoke"}]} if "smoke" in (name or "") else {"steps": [{"run": "make"}]}
    if name:
        job["name"] = name
    pipeline, _ = parse_one(WORKFLOW, workflow_job(job, job_id))
    assert pipeline.jobs[0].kind == kind


@pytest.mark.parametrize(
    ("uses", "kind"),
    [
        ("azure/webapps-deploy@v3", "deploy"),
        ("google-github-actions/deploy-cloudrun@v2", "deploy"),
        ("aws-actions/amazon-ecs-deploy-task-definition@v1", "deploy"),
        ("./.github/actions/deploy-model", "deploy"),
        ("codecov/codecov-action@v4", "test"),
        ("dorny/test-reporter@v1", "test"),
        ("great-expectations/great_expectations_action@main", "data"),
        ("peaceiris/actions-gh-pages@v4", "other"),
        ("azure/setup-helm@v4", "other"),
        ("iterative/setup-dvc@v1", "other"),
        ("docker/build-push-action@v6", "other"),
        ("docker://ghcr.io/acme/trainer:latest", "train"),
    ],
)
def test_job_kind_from_actions(uses, kind):
    pipeline, _ = parse_one(WORKFLOW, workflow_job({"steps": [{"uses": uses}]}))
    assert pipeline.jobs[0].kind == kind


@pytest.mark.parametrize(
    ("environment", "kind"),
    [
        ("production", "deploy"),
        ({"name": "staging", "url": "https://staging.example.com"}, "deploy"),
        ("${{ inputs.environment }}", "deploy"),
        ("pypi", "other"),  # trusted publishing of a package
        (None, "other"),
    ],
)
def test_github_deployment_environment(environment, kind):
    job = {"steps": [{"run": "./release.sh"}]}
    if environment:
        job["environment"] = environment
    pipeline, _ = parse_one(WORKFLOW, workflow_job(job, "release"))
    assert pipeline.jobs[0].kind == kind


def test_step_commands_in_action_inputs_are_read():
    job = {"steps": [{"uses": "appleboy/ssh-action@v1", "with": {"host": "x", "script": "python train.py"}}]}
    pipeline, _ = parse_one(WORKFLOW, workflow_job(job))
    assert pipeline.jobs[0].kind == "train"


@pytest.mark.parametrize(
    ("kinds", "expected"),
    [
        (["test", "deploy", "train"], "deployment"),
        (["test", "train", "evaluate"], "training"),
        (["evaluate", "data"], "evaluation"),
        (["data", "test"], "data"),
        (["test", "other"], "ci"),
        ([], "ci"),
    ],
)
def test_pipeline_kind(kinds, expected):
    assert pipeline_kind(kinds) == expected


# --- GitLab CI --------------------------------------------------------------------------------------------


def gitlab_job(**job: Any) -> str:
    return yaml.safe_dump({"stages": ["build"], "job": {"script": ["make"], **job}})


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        ([{"if": '$CI_PIPELINE_SOURCE == "schedule"'}], [("schedule", {})]),
        ([{"if": "$CI_PIPELINE_SOURCE == 'merge_request_event'"}], [("pull_request", {})]),
        ([{"if": '$CI_PIPELINE_SOURCE == "web"'}], [("manual", {"source": "web"})]),
        ([{"if": '$CI_PIPELINE_SOURCE == "api"'}], [("other", {"source": "api"})]),
        ([{"if": "$CI_PIPELINE_SOURCE =~ /^(push|web)$/"}], [("push", {}), ("manual", {"source": "web"})]),
        ([{"if": "$CI_COMMIT_TAG"}], [("tag", {})]),
        ([{"if": "$CI_COMMIT_TAG =~ /^v\\d+/"}], [("tag", {"tags": ["/^v\\d+/"]})]),
        ([{"if": "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH"}], [("push", {"branches": ["$CI_DEFAULT_BRANCH"]})]),
        ([{"if": '$CI_COMMIT_REF_NAME == "main"'}], [("push", {"branches": ["main"]})]),
        ([{"if": '$CI_PIPELINE_SOURCE == "push" && $CI_COMMIT_BRANCH == "main"'}], [("push", {"branches": ["main"]})]),
        ([{"if": '$CI_PIPELINE_SOURCE == "schedule" && $CI_COMMIT_BRANCH == "main"'}], [("schedule", {})]),
        (
            [{"if": '$CI_MERGE_REQUEST_TARGET_BRANCH_NAME == "main"'}],
            [("pull_request", {"branches": ["main"]})],
        ),
        (
            [{"if": '$CI_PIPELINE_SOURCE == "schedule" || $CI_PIPELINE_SOURCE == "merge_request_event"'}],
            [("schedule", {}), ("pull_request", {})],
        ),
        ([{"if": '$CI_PIPELINE_SOURCE != "schedule"'}], [("push", {})]),
        ([{"if": '$DEPLOY_ENABLED == "true"'}], [("other", {"if": '$DEPLOY_ENABLED == "true"'})]),
        # A plain `when: never` excludes its source from the rules after it; a rule without `if` is a catch-all.
        ([{"if": '$CI_PIPELINE_SOURCE == "push"', "when": "never"}, {"when": "manual"}], [("manual", {"job": "job"})]),
        ([{"if": '$CI_PIPELINE_SOURCE == "schedule"', "when": "never"}, {"when": "on_success"}], [("push", {})]),
        ([{"when": "never"}, {"if": '$CI_PIPELINE_SOURCE == "schedule"'}], [("push", {})]),  # fallback
        ([{"changes": ["src/**"]}], [("push", {})]),
        ([{"if": "$CI_COMMIT_TAG", "when": "manual"}], [("tag", {}), ("manual", {"job": "job"})]),
    ],
)
def test_gitlab_job_rules(rules, expected):
    pipeline, findings = parse_one(GITLAB, gitlab_job(rules=rules))
    assert triggers(pipeline) == expected
    assert findings == []


@pytest.mark.parametrize(
    ("job", "expected"),
    [
        ({}, [("push", {})]),
        ({"only": ["main"]}, [("push", {"branches": ["main"]})]),
        ({"only": ["tags"]}, [("tag", {})]),
        ({"only": ["merge_requests", "schedules"]}, [("pull_request", {}), ("schedule", {})]),
        ({"only": {"refs": ["web", "api"]}}, [("manual", {"source": "web"}), ("other", {"source": "api"})]),
        ({"only": {"variables": ['$RETRAIN == "true"']}}, [("push", {})]),
        ({"except": ["schedules"]}, [("push", {})]),
        ({"only": ["branches", "schedules"], "except": ["schedules"]}, [("push", {})]),
        ({"when": "manual"}, [("push", {}), ("manual", {"job": "job"})]),
    ],
)
def test_gitlab_only_except_and_manual_jobs(job, expected):
    pipeline, _ = parse_one(GITLAB, gitlab_job(**job))
    assert triggers(pipeline) == expected


def test_gitlab_workflow_rules_decide_for_jobs_without_rules():
    text = """
workflow:
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
    - if: $CI_COMMIT_TAG
build:
  script: [make]
nightly:
  script: [python train.py]
  rules:
    - if: $CI_PIPELINE_SOURCE == "schedule"
"""
    pipeline, _ = parse_one(GITLAB, text)
    assert triggers(pipeline) == [("pull_request", {}), ("tag", {}), ("schedule", {})]


@pytest.mark.parametrize(
    ("include", "expected"),
    [
        ("ci/pipeline.yml", ("local:ci/pipeline.yml",)),
        ("/templates/.gitlab-ci-template.yml", ("local:/templates/.gitlab-ci-template.yml",)),
        ("https://example.com/ci/shared.yml", ("remote:https://example.com/ci/shared.yml",)),
        (["a.yml", "b.yml", "a.yml"], ("local:a.yml", "local:b.yml")),
        ({"local": "ci/train.yml"}, ("local:ci/train.yml",)),
        ({"local": "ci/train.yml", "rules": [{"if": "$TRAIN"}]}, ("local:ci/train.yml",)),
        ({"remote": "https://gitlab.com/x/-/raw/main/y.yml"}, ("remote:https://gitlab.com/x/-/raw/main/y.yml",)),
        ({"template": "Auto-DevOps.gitlab-ci.yml"}, ("template:Auto-DevOps.gitlab-ci.yml",)),
        ({"project": "group/ci", "file": "python.yml"}, ("project:group/ci:python.yml",)),
        (
            {"project": "group/ci", "ref": "main", "file": ["a.yml", "b.yml"]},
            ("project:group/ci:a.yml@main", "project:group/ci:b.yml@main"),
        ),
        ({"project": "group/ci"}, ("project:group/ci:(default)",)),
        (
            {"component": "gitlab.com/components/sast/sast@2.0", "inputs": {"stage": "test"}},
            ("component:gitlab.com/components/sast/sast@2.0",),
        ),
    ],
)
def test_gitlab_includes_are_recorded_not_fetched(include, expected):
    pipeline, findings = parse_one(GITLAB, yaml.safe_dump({"include": include, "test": {"script": ["pytest"]}}))
    assert pipeline.includes == expected
    assert finding_kinds(findings) == ["include_not_fetched"] * len(expected)
    assert all(any(e in f.message for e in expected) for f in findings)


def test_gitlab_include_of_an_unknown_form_is_unsupported():
    text = "include:\n  - {artifact: x.yml, job: gen}\n  - 42\ntest: {script: [pytest]}\n"
    pipeline, findings = parse_one(GITLAB, text)
    assert pipeline.includes == ()
    assert finding_kinds(findings) == ["unsupported", "unsupported"]


def test_gitlab_file_of_includes_only_is_a_pipeline_without_jobs():
    pipeline, findings = parse_one(GITLAB, "include:\n  - template: Auto-DevOps.gitlab-ci.yml\n")
    assert (pipeline.jobs, pipeline.includes, pipeline.kind) == ((), ("template:Auto-DevOps.gitlab-ci.yml",), "ci")
    assert finding_kinds(findings) == ["include_not_fetched"]


def test_gitlab_keywords_and_hidden_jobs_are_not_jobs():
    text = """
stages: [test]
variables: {A: "1"}
default: {image: python}
image: python:3.12
services: [redis]
before_script: [pip install .]
after_script: [echo done]
cache: {paths: [.cache]}
workflow: {name: x}
.hidden: {script: [pytest]}
.anchors: &a [one, two]
real: {script: [pytest]}
"""
    pipeline, findings = parse_one(GITLAB, text)
    assert jobs(pipeline) == [("real", "test", "test")]
    assert pipeline.name == "x"
    assert findings == []


def test_gitlab_extends_deep_merges_and_reference_resolves():
    text = """
.setup:
  script: [python -m fraud.train]
.base:
  stage: build
  variables: {A: "1"}
job:
  extends: .base
  variables: {B: "2"}
  script:
    - !reference [.setup, script]
broken:
  script:
    - !reference [.nowhere, script]
"""
    pipeline, findings = parse_one(GITLAB, text)
    assert jobs(pipeline) == [("job", "train", "build"), ("broken", "other", "test")]
    assert finding_kinds(findings) == ["invalid_config"]
    assert "!reference" in findings[0].message


def test_gitlab_non_mapping_job_is_a_finding():
    pipeline, findings = parse_one(GITLAB, "deploy: kubectl apply -f k8s\ntest: {script: [pytest]}\n")
    assert jobs(pipeline) == [("test", "test", "test")]
    assert finding_kinds(findings) == ["invalid_config"]


def test_gitlab_recursive_and_exponential_yaml_stay_bounded():
    laughs = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
    )
    recursive = ".loop: &loop\n  script: [*loop]\n  extends: .loop\njob:\n  <<: *loop\n  script: &s [make, *s]\n"
    start = time.monotonic()
    for text in (f"{laughs}job:\n  script: *i\n", recursive):
        pipelines, _ = parse_ci_file(GITLAB, text)
        assert all(j.kind in JOB_KINDS for p in pipelines for j in p.jobs)
    assert time.monotonic() - start < 5


# --- Jenkinsfiles -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected_jobs", "expected_triggers"),
    [
        (
            "pipeline { agent any\n stages { stage(\"Build\") { steps { bat 'msbuild /t:Test' } } } }",
            [("Build", "other", "Build")],
            [("push", {})],
        ),
        (
            "pipeline { agent any; stages { stage('Run') { steps { sh(script: 'python -m src.train', "
            "returnStatus: true) } } } }",
            [("Run", "train", "Run")],
            [("push", {})],
        ),
        (
            "pipeline { agent any; stages { stage('Run') { steps {"
            " sh label: 'Evaluate the model', script: 'make' } } } }",
            [("Run", "evaluate", "Run")],
            [("push", {})],
        ),
        (
            "pipeline { agent any; stages { stage('Ship') { steps {"
            " powershell 'az webapp deploy --src-path app.zip' } } } }",
            [("Ship", "deploy", "Ship")],
            [("push", {})],
        ),
        (
            "pipeline { agent any; stages { stage('Go') { steps { build job: 'deploy-scorer', wait: false } } } }",
            [("Go", "deploy", "Go")],
            [("push", {})],
        ),
        (
            "pipeline { agent any\n triggers { githubPush() }\n stages { stage('PR') {"
            " when { changeRequest target: 'main' } steps { sh 'pytest' } } } }",
            [("PR", "test", "PR")],
            [("push", {"via": "githubPush"}), ("pull_request", {"branches": ["main"]})],
        ),
        (
            "pipeline { agent any\n triggers { gitlab(triggerOnPush: false, triggerOnMergeRequest: true) }\n"
            " stages { stage('T') { steps { sh 'make' } } } }",
            [("T", "other", "T")],
            [("pull_request", {"via": "gitlab"}), ("push", {})],
        ),
        (
            "pipeline { agent any\n triggers { cron(env.BRANCH_NAME == 'main' ? '@daily' : '') }\n"
            " stages { stage('Nightly') { when { triggeredBy 'TimerTrigger' } steps { sh 'dvc repro' } } } }",
            [("Nightly", "data", "Nightly")],
            [("schedule", {"cron": "@daily"}), ("schedule", {"cause": "TimerTrigger"})],
        ),
        (
            "pipeline { agent any\n triggers { parameterizedCron('H 1 * * * %MODE=full') }\n"
            " stages { stage('Go') { when { triggeredBy cause: 'UserIdCause' } steps { sh 'make' } } } }",
            [("Go", "other", "Go")],
            [("schedule", {"cron": "H 1 * * *"}), ("manual", {"cause": "UserIdCause"})],
        ),
        (
            "node {\n  stage('Approve') {\n    input(message: 'Ship?', ok: 'Yes')\n  }\n  stage('Release') {\n"
            "    sh './release.sh'\n  }\n}\n",
            [("Approve", "other", "Approve"), ("Release", "other", "Release")],
            [("push", {}), ("manual", {"stage": "Approve", "message": "Ship?"})],
        ),
        (
            "node {\n  checkout scm\n  sh 'python train.py'\n  input 'Promote?'\n}\n",
            [("(no stage)", "train", "")],
            [("push", {}), ("manual", {"message": "Promote?"})],
        ),
        (
            "pipeline { agent any; stages { stage('E2E') { steps { script { def x = 'stage(\"fake\") {'; "
            "echo x } } } // stage('commented')\n } }",
            [("E2E", "test", "E2E")],
            [("push", {})],
        ),
        (
            "/* stage('old') { sh 'helm install' } */\npipeline { agent any; stages { stage('A') { steps {"
            " sh 'make' } } } }",
            [("A", "other", "A")],
            [("push", {})],
        ),
    ],
)
def test_jenkins_steps_and_triggers(text, expected_jobs, expected_triggers):
    pipeline, _ = parse_one(JENKINS, text)
    assert jobs(pipeline) == expected_jobs
    assert triggers(pipeline) == expected_triggers


def test_jenkins_load_is_unsupported():
    text = "node {\n  stage('Build') {\n    def steps = load 'ci/steps.groovy'\n    steps.build()\n  }\n}\n"
    pipeline, findings = parse_one(JENKINS, text)
    assert jobs(pipeline) == [("Build", "other", "Build")]
    assert finding_kinds(findings) == ["unsupported"]
    assert "ci/steps.groovy" in findings[0].message


def test_jenkins_declarative_without_stages():
    pipeline, findings = parse_one(JENKINS, "pipeline { agent any }\n")
    assert (pipeline.jobs, triggers(pipeline), pipeline.kind) == ((), [("push", {})], "ci")
    assert finding_kinds(findings) == ["no_jobs"]


# --- broken input: a finding, never an exception ------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "text", "kind", "message"),
    [
        (WORKFLOW, "name: broken\non: [push\njobs: {\n", "broken_yaml", "line 3"),
        (WORKFLOW, "on: push\njobs:\n  test:\n\truns-on: x\n", "broken_yaml", "line 4"),
        (WORKFLOW, "on: push\njobs:\n  a: 1\n b: 2\n", "broken_yaml", "line 4"),
        (WORKFLOW, "on:\n  schedule:\n    - cron: */5 * * * *\n", "broken_yaml", "line 3"),
        (WORKFLOW, "name: x\nstarted: 2024-13-45\n", "broken_yaml", "month must be in 1..12"),
        (WORKFLOW, "a: b\n---\nc: d\n", "broken_yaml", "line 2: but found another document"),
        (WORKFLOW, "- name: a list\n- on: push\n", "not_a_mapping", "a list"),
        (WORKFLOW, "just some text\n", "not_a_mapping", "a string"),
        (WORKFLOW, "", "not_a_mapping", "empty"),
        pytest.param(WORKFLOW, "[" * 5000, "unsupported", "nested too deeply", id="deep-nesting"),
        (GITLAB, "test:\n  script: ['pytest]\n", "broken_yaml", "line 3: found unexpected end of stream"),
        (GITLAB, "test:\n  script: !python/object:os.system [echo]\n", "broken_yaml", "line 2"),
        (GITLAB, "- test\n- deploy\n", "not_a_mapping", "a list"),
        (GITLAB, "variables:\n  A: 1\nstages: [test]\n.hidden: {script: [make]}\n", "no_jobs", "no jobs"),
        (GITLAB, "", "no_jobs", "no jobs"),
        (GITLAB, "a: {script: [x]}\n---\nb: {script: [y]}\n", "broken_yaml", "2 YAML documents"),
        (GITLAB, "\x00job: {}\n", "broken_yaml", "line 1"),
        (JENKINS, "pipeline {\n  stages {\n    stage('x') { steps { sh 'make' } }\n", "unparseable", "line 2"),
        (JENKINS, "node {\n  sh 'make\n}\n", "unparseable", "unterminated string starts at line 2"),
        (JENKINS, "node {\n  /* never closed\n}\n", "unparseable", "unterminated comment"),
        (JENKINS, "pipeline { }\n}\n", "unparseable", "line 2 closes nothing"),
        (JENKINS, "Release checklist\n\n1. bump the version\n2. tag it\n", "unparseable", "not a Jenkins pipeline"),
        (JENKINS, "", "unparseable", "not a Jenkins pipeline"),
    ],
)
def test_broken_files_are_findings(path, text, kind, message):
    pipelines, findings = parse_ci_file(path, text)
    assert kind in finding_kinds(findings)
    assert any(message in f.message for f in findings if f.kind == kind), findings
    if kind in ("broken_yaml", "not_a_mapping", "unparseable", "unsupported"):
        assert pipelines == []  # the caller keeps the last good pipeline


@pytest.mark.parametrize("path", [WORKFLOW, GITLAB, JENKINS])
def test_huge_files_are_not_parsed(path):
    text = "# " + "x" * MAX_CONFIG_BYTES
    message = f"{MAX_CONFIG_BYTES + 2} bytes: files over {MAX_CONFIG_BYTES} bytes are not parsed"
    assert parse_ci_file(path, text) == ([], [CiFinding(path, "too_large", message)])
    multibyte = "# " + "é" * (MAX_CONFIG_BYTES // 2)  # under the limit in characters, over it in bytes
    assert finding_kinds(parse_ci_file(path, multibyte)[1]) == ["too_large"]


def test_too_many_jobs_are_cut():
    text = "".join(f"job{i}:\n  script: [make]\n" for i in range(MAX_JOBS + 20))
    pipeline, findings = parse_one(GITLAB, text)
    assert len(pipeline.jobs) == MAX_JOBS
    assert finding_kinds(findings) == ["truncated"]


def test_names_are_cleaned_for_storage():
    text = 'name: "ci\\0\\ud800"\non: push\njobs:\n  "t\\0est": {name: "' + "x" * 400 + '", steps: []}\n'
    pipeline, _ = parse_one(WORKFLOW, text)
    assert pipeline.name == "ci?"
    assert pipeline.jobs[0].name == "x" * 255


def test_a_byte_order_mark_is_ignored():
    pipeline, findings = parse_one(GITLAB, "\ufefftest:\n  script: [pytest]\n")
    assert (jobs(pipeline), findings) == ([("test", "test", "test")], [])


# --- property: never raises --------------------------------------------------------------------------------

PATHS = [WORKFLOW, GITLAB, JENKINS, "services/scorer/.gitlab-ci.yml", "Jenkinsfile.release"]
YAML_KEYS = [
    "on", "true", "jobs", "name", "steps", "run", "uses", "with", "environment", "schedule", "cron", "push",
    "tags", "branches", "pull_request", "workflow_dispatch", "inputs", "stages", "stage", "script", "include",
    "local", "project", "file", "extends", "rules", "if", "when", "only", "except", "workflow", "trigger",
    ".hidden", "job", "variables", "default", "refs",
]  # fmt: skip
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from(["push", "pytest", "python train.py", "helm upgrade x", "$CI_COMMIT_TAG", ".hidden", "main"]),
    st.text(max_size=20),
)
YAML_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(YAML_KEYS), inner, max_size=5),
    max_leaves=30,
)
GROOVY_PIECES = [
    "pipeline {", "node {", "stages {", "stage('Build') {", 'stage("Deploy") {', "stage 'Old'", "steps {", "}",
    "{", "(", ")", "sh 'pytest'", 'sh """helm install"""', "sh(script: 'python train.py')", "when { tag 'v*' }",
    "when { branch 'main' }", "not {", "input message: 'ok?'", "input {", "cron('H 2 * * *')", "pollSCM('')",
    "upstream(upstreamProjects: 'a')", "triggers {", "'", '"', "'''", "/*", "*/", "//", "\n", " ", "$", "\\",
    "@Library('x') _", "load 'x.groovy'", "build job: 'deploy'", "stage(", "label:", "script:",
]  # fmt: skip
TEXTS = st.one_of(
    st.text(max_size=300),
    YAML_VALUES.map(lambda v: yaml.safe_dump(v, allow_unicode=True)),
    st.lists(st.sampled_from(GROOVY_PIECES), max_size=40).map(" ".join),
    st.lists(st.sampled_from(GROOVY_PIECES), max_size=40).map("".join),
    st.lists(
        st.sampled_from(["a: &a [x]", "b: *a", "<<: *a", "- ", "  ", "\n", ":", "!reference [a, b]", "{", "["])
    ).map("".join),
)


def assert_well_formed(path: str, pipelines: list[ParsedPipeline], findings: list[CiFinding]) -> None:
    assert isinstance(pipelines, list)
    assert isinstance(findings, list)
    assert len(pipelines) <= 1
    assert all(isinstance(f, CiFinding) for f in findings)
    assert all(f.path == path for f in findings)
    assert all(f.kind and isinstance(f.message, str) for f in findings)
    for p in pipelines:
        assert p.config_path == path
        assert p.provider in {"github", "gitlab", "jenkins"}
        assert isinstance(p.name, str)
        assert 0 < len(p.name) <= 255
        assert p.kind in PIPELINE_KINDS
        assert p.kind == pipeline_kind(j.kind for j in p.jobs)
        assert all(t.type in TRIGGER_TYPES for t in p.triggers)
        stored = json.dumps([t.detail for t in p.triggers] + [[j.name, j.stage] for j in p.jobs] + list(p.includes))
        assert "\\u0000" not in stored
        stored.encode("utf-8")  # no lone surrogates: PostgreSQL would refuse them
        assert all(j.kind in JOB_KINDS and isinstance(j.name, str) and len(j.name) <= 255 for j in p.jobs)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(path=st.sampled_from(PATHS), text=TEXTS)
def test_parse_never_raises(path, text):
    pipelines, findings = parse_ci_file(path, text)
    assert_well_formed(path, pipelines, findings)


@pytest.mark.parametrize(("fixture", "path", "expected"), FILES)
def test_fixtures_are_well_formed(fixture, path, expected):
    assert_well_formed(path, *parse_ci_file(path, (FIXTURES / fixture).read_text()))
