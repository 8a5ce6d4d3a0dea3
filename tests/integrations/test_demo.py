"""`manage.py seed_demo`: the organisation, a real local MLflow store seeded through the MLflow client,
and its sync into the inventory. The store goes to a temporary directory (`--mlflow-dir`)."""

from __future__ import annotations

import io
from datetime import date

import git
import pytest
from django.core.management import CommandError, call_command
from django.db.models import Max
from mlflow import MlflowClient

from assessments.models import Assessment
from integrations import demo
from integrations.models import GitRepository, MlflowConnection, RepoFinding, RepoSignal, SyncRun, WebhookDelivery
from mlgov.accounts.models import ApiToken, Membership, User
from mlgov.audit.models import AuditEvent
from mlgov.inventory.models import (
    Dataset,
    Experiment,
    Feature,
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

PASSWORD = "demo-test-pw-2026"
SRC = "mlflow:demo"
COUNTED = (
    Team,
    Project,
    User,
    Membership,
    Experiment,
    TrainingRun,
    RegisteredModel,
    ModelVersion,
    ModelAlias,
    Dataset,
    Feature,
    RunInput,
    Pipeline,
    PipelineRun,
    MlflowConnection,
)


@pytest.fixture(scope="module")
def mlflow_dir(tmp_path_factory):
    """One demo store for the module: the first test seeds it, the others find it seeded."""
    return tmp_path_factory.mktemp("demo-mlflow")


def seed(mlflow_dir, **options) -> str:
    out = io.StringIO()
    call_command("seed_demo", password=PASSWORD, mlflow_dir=str(mlflow_dir), stdout=out, **options)
    return out.getvalue()


def client_for(mlflow_dir) -> MlflowClient:
    uri = demo.DemoStore.at(mlflow_dir).tracking_uri
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def counts() -> dict[str, int]:
    return {m._meta.model_name: m.objects.count() for m in COUNTED}


def models_of(project: str) -> set[str]:
    return set(RegisteredModel.objects.filter(project__slug=project).values_list("name", flat=True))


def runs_of(project: str):
    return TrainingRun.objects.filter(project__slug=project, external_source=SRC)


def test_the_organisation_and_its_users(mlflow_dir):
    out = seed(mlflow_dir, url="http://127.0.0.1:8123")

    assert set(Team.objects.values_list("slug", flat=True)) == {"fraud", "recsys", "forecasting", "credit-risk"}
    assert Project.objects.get(slug="card-fraud").team.slug == "fraud"
    assert Project.objects.get(slug="pd-model").risk_tier == 1
    assert Project.objects.count() == 7
    manager = User.objects.get(username="manager")
    assert manager.check_password(PASSWORD)
    assert list(manager.groups.values_list("name", flat=True)) == ["managers"]
    assert User.objects.get(username="admin").is_superuser
    roles = set(Membership.objects.values_list("user__username", "team__slug", "role"))
    assert ("fraud-lead", "fraud", "maintainer") in roles
    assert ("risk-ds", "credit-risk", "member") in roles
    # The command prints every demo user with the password.
    for username in ("admin", "manager", "reviewer", "fraud-lead", "risk-ds"):
        assert f"  {username:<14} password: {PASSWORD}" in out
    assert "Timings:" in out
    assert "Log in at http://127.0.0.1:8123/ as:" in out  # where `make demo` serves (HOST, PORT)


def test_the_inventory_holds_the_synced_mlflow_store(mlflow_dir):
    out = seed(mlflow_dir)

    connection = MlflowConnection.objects.get(name="demo")
    assert connection.tracking_uri == f"sqlite:///{mlflow_dir.resolve()}/mlflow.db"
    assert connection.mapping == demo.MAPPING
    sync = SyncRun.objects.get(target=SRC)
    assert (sync.status, sync.mode) == ("succeeded", "full")
    assert f"Sync #{sync.pk} (full) succeeded" in out

    # What the store holds (written through the MLflow client) is what the inventory now holds.
    client = client_for(mlflow_dir)
    names = {e.name for e in client.search_experiments()}
    assert names == {*demo.build_plan(date.today()).experiment_names, "Default"}
    assert set(Experiment.objects.filter(external_source=SRC).values_list("name", flat=True)) == names
    mlflow_runs = client.search_runs([e.experiment_id for e in client.search_experiments()], max_results=1000)
    assert TrainingRun.objects.filter(external_source=SRC).count() == len(mlflow_runs) > 30
    assert ModelVersion.objects.filter(external_source=SRC).count() == len(client.search_model_versions()) > 20
    assert not RegisteredModel.objects.exclude(external_source=SRC).exists()  # nothing fake any more

    # Mapping: the mlgov.project tag, or a name prefix for the teams that do not tag.
    assert models_of("card-fraud") == {"card-fraud-gbm"}
    assert models_of("account-takeover") == {"ato-classifier"}
    assert models_of("pd-model") == {"pd-logit", "pd-xgb"}
    assert models_of("store-demand") == {"store-demand-lgbm"}
    assert models_of("home-feed") == {"feed-ranker", "feed-candidates"}
    assert models_of("email-recs") == {"email-recs-als"}
    assert "mlgov.project" not in Experiment.objects.get(name="feed-ranker").tags  # mapped by the "feed-" prefix
    # ... and the experiment no rule claims stays unassigned, with its runs (as does MLflow's Default).
    scratch = Experiment.objects.get(name=demo.UNASSIGNED_EXPERIMENT)
    assert scratch.project is None
    assert scratch.runs.count() == 4
    assert not scratch.runs.exclude(project=None).exists()
    assert Experiment.objects.get(name="Default").project is None
    assert set(Experiment.objects.filter(project=None).values_list("name", flat=True)) == {
        "Default",
        demo.UNASSIGNED_EXPERIMENT,
    }


def test_card_fraud_is_exemplary(mlflow_dir):
    seed(mlflow_dir)
    model = RegisteredModel.objects.get(name="card-fraud-gbm")
    versions = model.versions.select_related("training_run")
    assert sorted(int(v.version) for v in versions) == list(range(1, 8))
    aliases = {a.alias: a.version.version for a in ModelAlias.objects.filter(model=model).select_related("version")}
    assert aliases == {"champion": "7", "production": "6"}
    for v in versions:
        assert v.source.startswith("models:/m-")  # MLflow 3 logged models
        assert v.training_run is not None
        assert v.git_commit == v.training_run.git_commit != ""
        assert v.metrics["auc"] > 0.9
        assert {"latency_p95_ms", "recall_at_1pct_fpr", "val_auc"} <= set(v.metrics)
    v7, v6 = model.versions.get(version="7"), model.versions.get(version="6")
    assert v7.metrics["auc"] >= v6.metrics["auc"] - 0.01  # later runs train slightly better models

    runs = runs_of("card-fraud")
    assert runs.count() == 9
    assert set(runs.values_list("user", "launched_by", "source_type")) == {("github-actions[bot]", "service", "JOB")}
    assert runs.filter(git_commit="").count() == 0
    assert set(runs.values_list("status", flat=True)) == {"FINISHED", "FAILED"}
    for run in runs:
        contexts = set(RunInput.objects.filter(run=run).values_list("context", flat=True))
        assert contexts == {"training", "evaluation"}
        assert run.features.count() == 4
    assert not Dataset.objects.filter(project__slug="card-fraud", digest="").exists()
    assert set(Feature.objects.filter(project__slug="card-fraud").values_list("feature_view", flat=True)) == {
        "card_txn_stats",
        "merchant_risk",
        "device_profile",
    }
    # The CI pipeline that launched each training run ran on the same commit (it trains, evaluates and
    # registers: the register job makes it a deployment pipeline).
    ci = Pipeline.objects.get(project__slug="card-fraud", config_path=".github/workflows/train.yml")
    assert (ci.provider, ci.kind) == ("github", "deployment")
    assert {"type": "schedule", "detail": {"cron": "0 3 * * 1"}} in ci.triggers
    assert [(j["name"], j["kind"]) for j in ci.jobs] == [
        ("test", "test"),
        ("train", "train"),
        ("evaluate", "evaluate"),
        ("register", "deploy"),
    ]
    for pipeline_run in ci.runs.all():
        assert set(pipeline_run.training_runs.values_list("git_commit", flat=True)) == {pipeline_run.commit_sha}
        assert len(pipeline_run.jobs) == 4
    assert set(ci.runs.values_list("commit_sha", flat=True)) == set(runs.values_list("git_commit", flat=True))
    assert ci.runs.filter(status="failure").count() == runs.filter(status="FAILED").count() == 1

    # MLflow holds metric histories, not just final values.
    run = runs.filter(status="FINISHED").first()
    history = client_for(mlflow_dir).get_metric_history(run.external_id, "val_auc")
    assert len(history) == 10
    assert [m.step for m in history] == sorted(m.step for m in history)


def test_practices_differ_per_project(mlflow_dir):
    seed(mlflow_dir)
    # pd-model (regulated, good): people train from committed code, with datasets; validation on versions.
    pd = runs_of("pd-model")
    assert set(pd.values_list("launched_by", flat=True)) == {"person"}
    assert set(pd.values_list("user", flat=True)) == {"kim", "kofi"}
    assert not pd.filter(git_commit="").exists()
    assert all(r.inputs.exists() for r in pd)
    assert {v.source.split(":")[0] for v in ModelVersion.objects.filter(model__name="pd-logit")} == {"runs"}
    assert ModelVersion.objects.get(model__name="pd-xgb", version="2").source.startswith("models:/m-")
    production = ModelAlias.objects.get(model__name="pd-logit", alias="production").version
    assert production.tags["validation_report"].startswith("MRM-")

    # home-feed (medium): tracked, but no dataset inputs, and commits on some runs only.
    feed = runs_of("home-feed")
    assert feed.count() == 8
    assert not RunInput.objects.filter(run__in=feed).exists()
    assert 0 < feed.filter(git_commit="").count() < feed.count()
    assert not Dataset.objects.filter(project__slug="home-feed").exists()

    # email-recs (careless): no run tags, versions registered from a laptop, no run, no aliases.
    email = runs_of("email-recs")
    assert email.count() == 3
    for run in email:  # only the run name MLflow records by itself
        assert set(run.tags) == {"mlflow.runName"}
        assert (run.git_commit, run.source_type) == ("", "")
    versions = ModelVersion.objects.filter(model__name="email-recs-als")
    assert versions.count() == 2
    assert all(v.source.startswith("file:///home/") and v.run_id == "" and v.training_run is None for v in versions)
    assert not ModelAlias.objects.filter(model__name="email-recs-als").exists()

    # store-demand: a service account retrains on schedule.
    assert set(runs_of("store-demand").values_list("user", "launched_by")) == {("svc-forecasting", "service")}


def test_a_second_run_changes_nothing(mlflow_dir):
    seed(mlflow_dir)
    before = counts()
    last_seq = AuditEvent.objects.aggregate(m=Max("seq"))["m"]
    client = client_for(mlflow_dir)
    experiments = client.search_experiments()
    in_mlflow = (len(experiments), len(client.search_model_versions()))

    out = seed(mlflow_dir)

    assert "holds the demo already" in out
    assert counts() == before
    new = list(AuditEvent.objects.filter(seq__gt=last_seq).order_by("seq").values_list("action", flat=True))
    # The syncs' own bookkeeping (the MLflow store and the five repositories), and nothing else: the
    # repositories' heads are unchanged and every webhook delivery is answered "duplicate".
    assert new == ["sync.started", "sync.succeeded"] * 6
    assert "95 duplicate" in out
    second = SyncRun.objects.filter(target=SRC).order_by("-id").first()
    assert second.status == "succeeded"
    assert all(c["created"] == c["updated"] == c["removed"] == 0 for c in second.counts.values()), second.counts
    assert (len(client.search_experiments()), len(client.search_model_versions())) == in_mlflow


def test_the_plan_is_deterministic():
    day = date(2026, 11, 23)
    assert demo.build_plan(day) == demo.build_plan(day)
    plan = demo.build_plan(day)
    runs = [r for e in plan.experiments for r in e.runs]
    assert all(r.end < demo._at(day, 0, 0) for r in runs)  # every run is over before the seeding day
    assert {e.name for e in plan.experiments} >= {"card-fraud-training", "pd-model", demo.UNASSIGNED_EXPERIMENT}
    for pipeline in plan.pipelines:  # pipeline runs are upserted by (pipeline, id): no two may share one
        ids = [r.external_id for r in pipeline.runs]
        assert len(ids) == len(set(ids)), pipeline.name


def test_an_interrupted_store_is_refused_not_reseeded(tmp_path, monkeypatch):
    (tmp_path / "mlflow.db").write_bytes(b"")  # a store with no marker: the demo did not finish seeding it
    monkeypatch.setenv("MLGOV_DEMO_MLFLOW_DIR", str(tmp_path))  # the directory also comes from the environment
    with pytest.raises(CommandError, match="did not finish seeding"):
        call_command("seed_demo", password=PASSWORD, stdout=io.StringIO())
    assert not MlflowConnection.objects.exists()


def test_the_runs_trained_from_real_git_repositories(mlflow_dir):
    seed(mlflow_dir)
    repositories = {r.name: r for r in GitRepository.objects.select_related("project")}
    assert set(repositories) == {"card-fraud", "account-takeover", "pd-model", "demand-forecast", "home-feed"}
    for repo in repositories.values():
        assert SyncRun.objects.filter(target=repo.sync_target, status="succeeded").exists()
        history = set(git.Repo(repo.url).git.rev_list("HEAD").split())
        commits = set(runs_of(repo.project.slug).exclude(git_commit="").values_list("git_commit", flat=True))
        assert commits, repo.name
        assert commits <= history, repo.name  # every commit a run records is in the repository
        assert repo.activity["total_commits"] == len(history)

    # What each team's repository shows differs as its practice does.
    def kinds(name: str) -> set[str]:
        return set(RepoSignal.objects.filter(repository=repositories[name]).values_list("kind", flat=True))

    assert kinds("card-fraud") >= {
        "training_code",
        "scoring_code",
        "scoring_test",
        "ci_config",
        "data_versioning",
        "feature_store",
        "data_validation",
        "monitoring",
        "dockerfile",
        "infrastructure",
        "dependency_lock",
    }
    assert kinds("home-feed") == {"training_code", "test_file", "ci_config"}
    assert "scoring_test" in kinds("pd-model")
    assert not RepoFinding.objects.exists()


def test_ci_runs_arrive_as_signed_webhooks(mlflow_dir):
    out = seed(mlflow_dir)
    deliveries = WebhookDelivery.objects.all()
    assert set(deliveries.values_list("provider", flat=True)) == {"github", "gitlab", "jenkins"}
    assert set(deliveries.values_list("status", flat=True)) == {"processed"}
    assert not AuditEvent.objects.filter(action="security.webhook_rejected").exists()
    assert "signed webhooks" in out
    # Every CI run has a delivery behind it, on the pipeline its repository's config file defines. (The
    # other pipeline runs are the ETL jobs the lineage demo step reports through OpenLineage.)
    ci_runs = PipelineRun.objects.filter(pipeline__external_source__startswith="repo:").select_related("pipeline")
    anchor = date.fromisoformat(demo.DemoStore.at(mlflow_dir).read_marker()["anchor"])
    assert ci_runs.count() == sum(len(p.runs) for p in demo.build_plan(anchor).pipelines)
    for pipeline_run in ci_runs:
        assert pipeline_run.deliveries.exists()
        assert pipeline_run.pipeline.project is not None
    # Each CI run's test job posted its JUnit report through the API, as the ci-bot service account.
    assert not ci_runs.filter(tests_total__isnull=True).exists()
    reports = AuditEvent.objects.filter(action="pipelinerun.test_report_recorded")
    assert set(reports.values_list("actor_name", "source")) == {("ci-bot", "api")}
    assert reports.count() == ci_runs.count()
    assert not ApiToken.objects.filter(user__username="ci-bot", revoked_at__isnull=True).exists()
    jenkins = Pipeline.objects.get(provider="jenkins")
    assert (jenkins.project.slug, jenkins.config_path) == ("store-demand", "Jenkinsfile")
    assert jenkins.runs.count() == runs_of("store-demand").count()


@pytest.mark.django_db(transaction=True)
def test_the_demo_projects_score_from_careless_to_exemplary(tmp_path):
    # Committed transactions, as `make demo` runs: the promotions the demo approves are applied by their task
    # on commit (moving aliases in this test's own MLflow store), and re-score their projects.
    out = seed(tmp_path / "demo")
    levels = dict(Assessment.objects.filter(is_latest=True).values_list("project__slug", "level"))
    # card-fraud's promotions go through approval with gates: level 4. Scheduled retraining without governed
    # promotions stops at level 3; people who train by hand at level 1; no data pipeline or scoring code in
    # Git keeps a project at level 0.
    assert {slug: levels[slug] for slug in ("card-fraud", "store-demand", "pd-model", "account-takeover")} == {
        "card-fraud": 4,
        "store-demand": 3,
        "pd-model": 1,
        "account-takeover": 1,
    }
    assert levels["email-recs"] == levels["home-feed"] == 0
    assert "maturity after governance: account-takeover 1, card-fraud 4," in out
