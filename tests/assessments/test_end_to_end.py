"""End to end: a real mlflow server, real git repositories and signed GitHub webhooks -> syncs -> scores.

Five projects are built to sit at levels 0, 1, 2, 3 and 4 of the default rubric, the way teams would get
there: code and CI configuration committed to Git (scanned by the Git sync), training logged to MLflow
through its client (MLflow sync), CI runs delivered as signed `workflow_run` webhooks and a JUnit report
posted to the API, what no system shows attested by the team's maintainer, and, for level 4, a promotion
of its model to production through mlgov's governance (a policy with a green-CI gate, a request, two
independent approvals, the alias moved in MLflow by the apply task, and the drift check of the sync it asks
for finding nothing), which the governance app's evidence provider reports.
Each project gets its level, and its criteria link to the evidence: the file at its commit, the CI run,
the MLflow run and model version in the MLflow UI.
"""

from __future__ import annotations

import json
import uuid
from io import StringIO

import pytest
from django.core.management import call_command
from mlflow import MlflowClient

from assessments.models import Assessment, ScoringRun
from assessments.services import attestation_create
from integrations.ci.signatures import hmac_sha256_signature
from integrations.git_services import git_repository_create
from integrations.git_sync import git_sync_now
from integrations.models import MlflowConnection, WebhookDelivery
from integrations.sync import mlflow_sync_now
from mlgov.governance import services as governance
from mlgov.governance.models import DriftFinding, PromotionPolicy, PromotionRequest
from mlgov.inventory.models import ModelVersion, PipelineRun
from tests import factories
from tests.integrations.ci import payloads as p
from tests.integrations.conftest import git_cache, mlflow_server, unique  # noqa: F401  (fixtures)
from tests.integrations.gitrepos import RepoBuilder
from tests.integrations.seed import seed_project

pytestmark = [pytest.mark.mlflow, pytest.mark.slow, pytest.mark.django_db]
SECRET = "e2e-webhook-secret"

CI = """name: ci
on: {push: {branches: [main]}, pull_request: {}}
jobs:
  test:
    runs-on: ubuntu-latest
    steps: [{uses: actions/checkout@v4}, {run: pytest}]
"""
DEPLOY = """name: deploy
on: {push: {branches: [main]}}
jobs:
  deploy:
    runs-on: ubuntu-latest
    steps: [{uses: actions/checkout@v4}, {run: ./deploy.sh production}]
"""
TRAIN = """name: train
on: {schedule: [{cron: "0 3 * * 1"}], workflow_dispatch: {}}
jobs:
  train:
    runs-on: ubuntu-latest
    steps: [{run: python train.py}]
"""
ALERTS = """groups:
  - name: fraud-model
    rules:
      - alert: PredictionDrift
        expr: fraud_psi > 0.2
        for: 1h
"""
JUNIT = b'<testsuite name="pytest" tests="3"><testcase name="a"/><testcase name="b"/><testcase name="c"/></testsuite>'

# What each level adds to the repository (cumulative).
FILES = {
    0: {"README.md": "# notes\n", "analysis.ipynb": "{}\n"},
    1: {
        "dvc.yaml": "stages:\n  prepare:\n    cmd: python prepare.py\n    outs: [data/train.parquet]\n",
        "serving/predict.py": "def score(features):\n    return 0.5\n",
        "tests/test_utils.py": "def test_nothing():\n    assert True\n",
        ".github/workflows/ci.yml": CI,
    },
    2: {
        "train.py": "import mlflow\n\ndef main():\n    mlflow.log_param('lr', 0.1)\n",
        "tests/test_predict.py": "from serving.predict import score\n\n\ndef test_score():\n    assert score({})\n",
    },
    3: {"Dockerfile": "FROM python:3.11-slim\nCOPY serving /app/serving\n", ".github/workflows/deploy.yml": DEPLOY},
    4: {"monitoring/alerts.yml": ALERTS, ".github/workflows/train.yml": TRAIN},
}
ATTESTED = {2: ["release.engineering-managed"], 3: ["release.engineering-managed"]}
ATTESTED[4] = [*ATTESTED[3], "people.production-markers"]


def files_for(level: int) -> dict[str, str]:
    out: dict[str, str] = {}
    for lv in range(level + 1):
        out.update(FILES[lv])
    return out


def deliver(client, event: dict) -> None:
    body = json.dumps(event).encode()
    headers = {
        "X-Hub-Signature-256": hmac_sha256_signature(SECRET, body),
        "X-GitHub-Event": "workflow_run",
        "X-GitHub-Delivery": str(uuid.uuid4()),
    }
    response = client.post("/hooks/github/", data=body, content_type="application/json", headers=headers)
    assert response.status_code == 202, response.content


def criterion(assessment: Assessment, criterion_id: str) -> dict:
    return next(c for d in assessment.scorecard["dimensions"] for c in d["criteria"] if c["id"] == criterion_id)


def links(assessment: Assessment, criterion_id: str) -> list[str]:
    return [e["link"] for e in criterion(assessment, criterion_id)["evidence"]]


def promote_to_production(project, maintainer, prefix: str) -> PromotionRequest:
    """Level 4's governance: the project's model version 2 promoted to production through mlgov, applied in MLflow."""
    risk = factories.TeamFactory(slug=f"{prefix}risk", name=f"{prefix}Model risk")
    reviewers = [factories.UserFactory(username=f"{prefix}{name}", groups=["reviewers"]) for name in ("rui", "rosa")]
    for reviewer in reviewers:
        factories.MembershipFactory(team=risk, user=reviewer)
    PromotionPolicy.objects.create(
        name=f"{prefix}production".strip("-")[:80],
        target="production",
        team=project.team,
        approvals_required=2,
        approver_team=risk,
        independence="strict",
        require_green_ci=True,
    )
    version = ModelVersion.objects.get(model__project=project, version="2")
    req = governance.promotion_request_create(
        actor=maintainer, version=version, target="production", justification="Level 4 ships through review."
    )
    assert req.gates_passed, req.gates
    for reviewer in reviewers:
        governance.promotion_approve(request=req, reviewer=reviewer, comment="Looks right.")
    return req


def test_projects_built_for_each_level_get_it_with_links_to_their_evidence(
    mlflow_server,  # noqa: F811
    unique,  # noqa: F811
    tmp_path,
    git_cache,  # noqa: F811
    settings,
    client,
    api_client_for,
    django_capture_on_commit_callbacks,
):
    settings.MLGOV_GITHUB_WEBHOOK_SECRET = SECRET
    mlflow = MlflowClient(mlflow_server.url)
    connection = MlflowConnection.objects.create(name=f"{unique}e2e".strip("-")[:60], tracking_uri=mlflow_server.url)
    bot = factories.UserFactory(username=f"{unique}ci-bot", is_service_account=True)
    ci_api = api_client_for(bot)

    projects, repos, heads = {}, {}, {}
    for level in range(5):
        team = factories.TeamFactory(slug=f"{unique}team{level}", name=f"{unique}Team {level}")
        maintainer = None
        if level:  # level 1 asks for a named maintainer
            maintainer = factories.MembershipFactory(team=team, role="maintainer").user
        project = factories.ProjectFactory(team=team, slug=f"{unique}level{level}", name=f"Level {level}")
        projects[level] = (project, maintainer)
        builder = RepoBuilder(tmp_path / f"repo{level}")
        heads[level] = builder.commit(files_for(level), "what the team has so far")
        name = f"{unique}repo{level}".strip("-")[:60]
        repos[level] = git_repository_create(
            actor="admin",
            name=name,
            url=str(builder.path),
            project=project,
            web_url=f"https://github.com/acme/{name}",
        )
        # Training logged through the MLflow client: a person's notebook at level 0, CI's job from level 2.
        if level == 0 or level >= 2:
            seed_project(
                mlflow,
                prefix=f"{unique}l{level}-",
                project=project.slug,
                n_models=1,
                n_versions=2,
                commit=heads[level],
                user="alice" if level == 0 else "github-actions[bot]",
            )

    # Sync: Git scans, then MLflow. Each succeeded sync queues the scoring of the projects it touched.
    with django_capture_on_commit_callbacks(execute=True):
        for level in range(5):
            run = git_sync_now(repository=repos[level], triggered_by="e2e")
            assert run.status == "succeeded", run.errors
        synced = mlflow_sync_now(connection=connection, mode="full", triggered_by="e2e")
        assert synced.status == "succeeded", synced.errors
    after_sync = ScoringRun.objects.filter(trigger="sync")
    assert after_sync.count() == 6
    assert set(after_sync.values_list("status", flat=True)) == {"succeeded"}

    # CI runs arrive as signed webhooks; a JUnit report is posted for the release's CI run.
    run_ids = iter(range(7_000_000, 8_000_000))
    ci_runs = {}
    with django_capture_on_commit_callbacks(execute=True):
        for level in range(1, 5):
            full_name = f"acme/{repos[level].name}"
            ci_runs[level] = next(run_ids)
            common = {"full_name": full_name, "sha": heads[level]}
            deliver(client, p.gh_workflow_run_event(run_id=ci_runs[level], path=".github/workflows/ci.yml", **common))
            if level >= 3:
                deploy = {"path": ".github/workflows/deploy.yml", "name": "deploy", **common}
                deliver(client, p.gh_workflow_run_event(run_id=next(run_ids), **deploy))
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"processed"}
    for level in (3, 4):
        run = PipelineRun.objects.get(external_id=str(ci_runs[level]))
        response = ci_api.post(
            f"/api/v1/pipeline-runs/{run.pk}/test-report", data=JUNIT, content_type="application/xml"
        )
        assert response.status_code == 200, response.content

    # What no system shows: attested by the maintainer.
    for level, criteria in ATTESTED.items():
        project, maintainer = projects[level]
        for criterion_id in criteria:
            attestation_create(actor=maintainer, project=project, criterion_id=criterion_id, statement="Confirmed.")
    # Level 4 promotes through mlgov: the apply task moves the alias in MLflow, then asks for a sync, whose
    # drift check finds MLflow as approved.
    with django_capture_on_commit_callbacks(execute=True):
        promoted = promote_to_production(*projects[4], prefix=f"{unique}l4-")
    promoted.refresh_from_db()
    assert promoted.state == "applied", promoted.error
    model4 = promoted.model
    assert mlflow.get_model_version_by_alias(model4.name, "production").version == "2"
    assert not DriftFinding.objects.filter(model=model4).exists()

    out = StringIO()
    call_command("score", stdout=out)

    assessments = {level: Assessment.objects.get(project=projects[level][0], is_latest=True) for level in range(5)}
    assert {level: a.level for level, a in assessments.items()} == {0: 0, 1: 1, 2: 2, 3: 3, 4: 4}, {
        level: (a.dimensions, [s["criterion"] for s in a.scorecard["next_steps"]]) for level, a in assessments.items()
    }
    for level in range(5):
        assert f"{projects[level][0].slug:<30} level {level}" in out.getvalue()

    # The evidence links: the file at its commit, the CI run, the MLflow run and the version in the MLflow UI.
    a1, a2, a3, a4 = (assessments[lv] for lv in (1, 2, 3, 4))
    web1 = f"https://github.com/acme/{repos[1].name}"
    assert f"{web1}/blob/{heads[1]}/.github/workflows/ci.yml" in links(a1, "integration.automated-app-release")
    assert f"{web1}/actions/runs/{ci_runs[1]}" in links(a1, "integration.automated-app-release")
    assert f"{web1}/blob/{heads[1]}/serving/predict.py" in links(a1, "release.scoring-script-versioned")
    assert f"{web1}/blob/{heads[1]}/dvc.yaml" in links(a1, "creation.data-pipeline")
    assert criterion(a1, "people.maintainer-named")["evidence"][0]["link"] == f"/teams/{projects[1][0].team.slug}/"
    ui = mlflow_server.url.rstrip("/")
    assert all(link.startswith(f"{ui}/#/experiments/") for link in links(a2, "creation.experiments-tracked"))
    assert criterion(a2, "release.engineering-managed")["status"] == "attested"
    assert any(link.startswith(f"{ui}/#/models/") for link in links(a3, "release.traceable"))
    deploy_links = links(a3, "release.automated")
    assert any(link.startswith(f"https://github.com/acme/{repos[3].name}/actions/runs/") for link in deploy_links)
    assert f"https://github.com/acme/{repos[3].name}/actions/runs/{ci_runs[3]}" in links(
        a3, "integration.release-tests"
    )
    assert f"https://github.com/acme/{repos[4].name}/blob/{heads[4]}/monitoring/alerts.yml" in links(
        a4, "people.post-deployment-metrics"
    )
    assert links(a4, "release.governed-promotions") == [f"/promotions/{promoted.pk}/"]
    assert links(a4, "release.governed-aliases") == [f"/promotions/?view=all&project={projects[4][0].slug}"]
    assert criterion(a3, "release.governed-promotions")["status"] == "unmet"  # level 3 never promoted
    assert criterion(a4, "people.production-markers")["status"] == "attested"
    assert a4.scorecard["next_steps"] == []
    # Level 0 is told what to do first.
    assert {s["criterion"] for s in assessments[0].scorecard["next_steps"]} >= {
        "people.maintainer-named",
        "creation.data-pipeline",
        "integration.automated-app-release",
    }
    # Every detected criterion that is met links to evidence with a source and a time.
    for a in assessments.values():
        for d in a.scorecard["dimensions"]:
            for c in d["criteria"]:
                if c["status"] == "met":
                    assert c["evidence"], c["id"]
                    assert all(e["link"] and e["source"] and e["observed_at"] for e in c["evidence"]), c
