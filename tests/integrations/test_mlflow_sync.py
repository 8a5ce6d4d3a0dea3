"""The MLflow sync against a real `mlflow server`, seeded through the MLflow client."""

from __future__ import annotations

import threading
import time

import pytest
from mlflow import MlflowClient

from integrations import mlflow as mf
from integrations.ci.contracts import CiRunEvent
from integrations.ci.services import ci_run_record
from integrations.models import MlflowConnection, SyncRun
from integrations.services import SyncAlreadyRunning
from integrations.sync import mlflow_sync_now
from mlgov.audit.models import AuditEvent
from mlgov.inventory.models import (
    Dataset,
    Experiment,
    Feature,
    LineageEdge,
    LineageNode,
    ModelAlias,
    ModelVersion,
    RegisteredModel,
    RunInput,
    TrainingRun,
)
from tests import factories
from tests.integrations.mlflow_server import MlflowServer, free_port
from tests.integrations.seed import seed_project

pytestmark = [pytest.mark.mlflow, pytest.mark.django_db]


def connection_for(url: str, name: str = "test", **kw) -> MlflowConnection:
    return MlflowConnection.objects.create(name=name, tracking_uri=url, **kw)


def totals() -> dict[str, int]:
    return {
        m._meta.model_name: m.objects.filter(removed_at__isnull=True).count()
        for m in (Experiment, TrainingRun, RegisteredModel, ModelVersion, Dataset)
    }


@pytest.mark.slow
def test_full_then_incremental_sync_with_exact_counts(fresh_mlflow_server: MlflowServer):
    client = MlflowClient(fresh_mlflow_server.url)
    project = factories.ProjectFactory(slug="card-fraud")
    a = seed_project(client, prefix="fraud-", project="card-fraud", n_models=2, n_versions=3)
    b = seed_project(client, prefix="orphan-", project=None, n_models=1, n_versions=1, logged_models=False)
    conn = connection_for(fresh_mlflow_server.url)

    first = mlflow_sync_now(connection=conn, triggered_by="test")
    assert first.status == "succeeded", first.errors
    assert first.mode == "full"
    n_exp = len(client.search_experiments())  # includes MLflow's "Default" experiment
    assert first.counts["experiment"]["created"] == n_exp
    assert first.counts["registeredmodel"]["created"] == 3
    assert first.counts["modelversion"]["created"] == 7
    assert first.counts["trainingrun"]["created"] == 7
    assert first.counts["dataset"]["created"] == 3  # fraud d0, fraud d1, orphan d0
    assert first.counts["modelalias"]["created"] == 3
    assert totals() == {"experiment": n_exp, "trainingrun": 7, "registeredmodel": 3, "modelversion": 7, "dataset": 3}

    # Mapping: tagged objects belong to the project; the untagged ones are listed unassigned, not dropped.
    assert set(RegisteredModel.objects.filter(project=project).values_list("name", flat=True)) == set(a.models)
    assert RegisteredModel.objects.get(name=b.models[0]).project is None
    # A version carries its run, commit, latest metric values and dataset inputs; logged models resolve.
    v = ModelVersion.objects.get(model__name="fraud-model-1", version="3")
    assert v.source.startswith("models:/m-")
    assert v.training_run is not None
    assert v.run_id == v.training_run.external_id
    assert v.git_commit == "a" * 40
    assert v.metrics == {"auc": pytest.approx(0.87)}
    assert v.training_run.params == {"depth": "5", "lr": "0.1"}
    assert v.training_run.launched_by == "person"
    assert list(RunInput.objects.filter(run=v.training_run).values_list("dataset__digest", "context")) == [
        ("d0", "training")
    ]
    assert ModelAlias.objects.get(model__name="fraud-model-1", alias="champion").version.version == "3"

    # A second sync with no changes writes nothing but its own start and end events.
    events_before = AuditEvent.objects.count()
    second = mlflow_sync_now(connection=conn, triggered_by="test")
    assert second.status == "succeeded"
    assert second.mode == "incremental"
    for kind, c in second.counts.items():
        assert c["created"] == c["updated"] == c["removed"] == 0, (kind, c)
    assert list(AuditEvent.objects.filter(seq__gt=events_before).order_by("seq").values_list("action", flat=True)) == [
        "sync.started",
        "sync.succeeded",
    ]

    # Add, change and delete in MLflow.
    exp_id = a.experiments[0]
    run = client.create_run(exp_id, tags={"mlflow.user": "ci-bot", "mlflow.source.git.commit": "b" * 40})
    client.log_metric(run.info.run_id, "auc", 0.91)
    client.set_terminated(run.info.run_id)
    client.create_model_version(
        "fraud-model-0", source=f"runs:/{run.info.run_id}/model", run_id=run.info.run_id, await_creation_for=0
    )
    client.set_registered_model_alias("fraud-model-1", "champion", "1")
    client.set_model_version_tag("fraud-model-1", "2", "validated", "true")
    client.delete_model_version("fraud-model-0", "1")
    deleted_run = a.runs[0]
    client.delete_run(deleted_run)

    third = mlflow_sync_now(connection=conn, triggered_by="test")
    assert third.status == "succeeded", third.errors
    assert third.mode == "incremental"  # the changes above are found without a full pass
    c = third.counts
    assert (c["modelversion"]["created"], c["modelversion"]["updated"], c["modelversion"]["removed"]) == (1, 1, 1)
    assert (c["trainingrun"]["created"], c["trainingrun"]["removed"]) == (1, 1)
    assert (c["modelalias"]["updated"], c["modelalias"]["created"], c["modelalias"]["removed"]) == (1, 0, 0)
    assert c["registeredmodel"]["created"] == c["registeredmodel"]["removed"] == 0
    assert ModelVersion.objects.count() == 8  # nothing duplicated: the removed one is kept, marked
    assert ModelVersion.objects.get(model__name="fraud-model-0", version="1").removed_at is not None
    assert TrainingRun.objects.get(external_id=deleted_run).removed_at is not None
    new = ModelVersion.objects.get(model__name="fraud-model-0", version="4")
    assert new.git_commit == "b" * 40
    assert new.training_run.launched_by == "service"
    assert ModelVersion.objects.get(model__name="fraud-model-1", version="2").tags == {"validated": "true"}
    assert ModelAlias.objects.get(model__name="fraud-model-1", alias="champion").version.version == "1"
    assert AuditEvent.objects.filter(action="modelalias.assigned", before__version="3", after__version="1").exists()

    # Deleting a whole registered model is seen too.
    client.delete_registered_model("orphan-model-0")
    fourth = mlflow_sync_now(connection=conn, triggered_by="test")
    assert fourth.counts["registeredmodel"]["removed"] == 1
    assert fourth.counts["modelversion"]["removed"] == 1
    assert RegisteredModel.objects.get(name="orphan-model-0").removed_at is not None
    assert SyncRun.objects.filter(target="mlflow:test", status="succeeded").count() == 4


class KillingSource(mf.MlflowSource):
    """Kills the server after the first page of model versions: a crash in the middle of a sync."""

    def __init__(self, url: str, server: MlflowServer) -> None:
        super().__init__(url, page_size=1)
        self.server = server

    def iter_model_versions(self, filter_string: str = ""):
        for i, page in enumerate(super().iter_model_versions(filter_string)):
            yield page
            if i == 0:
                self.server.kill()


@pytest.mark.slow
def test_server_killed_mid_sync_fails_cleanly_and_next_sync_completes(fresh_mlflow_server: MlflowServer):
    client = MlflowClient(fresh_mlflow_server.url)
    factories.ProjectFactory(slug="p")
    seed_project(client, prefix="k-", project="p", n_models=2, n_versions=7)
    conn = connection_for(fresh_mlflow_server.url)
    # A first good sync, so that a later failure could wrongly mark things removed.
    assert mlflow_sync_now(connection=conn, mode="full").status == "succeeded"
    assert ModelVersion.objects.count() == 14

    with pytest.raises(mf.MlflowUnreachable):
        mlflow_sync_now(
            connection=conn, mode="full", source=KillingSource(fresh_mlflow_server.url, fresh_mlflow_server)
        )
    failed = SyncRun.objects.latest("id")
    assert failed.status == "failed"
    assert failed.errors[0]["kind"] == "MlflowUnreachable"
    assert failed.finished_at is not None
    assert not ModelVersion.objects.filter(removed_at__isnull=False).exists()
    assert not RegisteredModel.objects.filter(removed_at__isnull=False).exists()

    restarted = MlflowServer(fresh_mlflow_server.root, port=fresh_mlflow_server.port).start()
    try:
        ok = mlflow_sync_now(connection=conn, mode="full")
    finally:
        restarted.stop()
    assert ok.status == "succeeded"
    assert ModelVersion.objects.filter(removed_at__isnull=True).count() == 14


def test_unreachable_server_gives_a_clear_error_quickly(db):
    conn = connection_for(f"http://127.0.0.1:{free_port()}", name="down")
    started = time.monotonic()
    with pytest.raises(mf.MlflowUnreachable):
        mlflow_sync_now(connection=conn)
    assert time.monotonic() - started < 60
    run = SyncRun.objects.get(target="mlflow:down")
    assert run.status == "failed"
    assert "MlflowUnreachable" in run.errors[0]["kind"]
    assert run.errors[0]["message"]


class PausingSource(mf.MlflowSource):
    def __init__(self, url: str, entered: threading.Event, release: threading.Event) -> None:
        super().__init__(url)
        self.entered, self.release = entered, release

    def iter_experiments(self):
        self.entered.set()
        self.release.wait(30)
        yield from super().iter_experiments()


@pytest.mark.django_db(transaction=True)
def test_two_syncs_of_one_connection_at_once_one_is_refused(mlflow_server: MlflowServer, unique):
    from django.db import connections

    conn = connection_for(mlflow_server.url, name="busy")
    entered, release = threading.Event(), threading.Event()
    outcome: dict[str, object] = {}

    def first() -> None:
        try:
            outcome["first"] = mlflow_sync_now(
                connection=conn, source=PausingSource(mlflow_server.url, entered, release)
            ).status
        finally:
            connections.close_all()

    worker = threading.Thread(target=first)
    worker.start()
    assert entered.wait(30)
    with pytest.raises(SyncAlreadyRunning):
        mlflow_sync_now(connection=conn)
    release.set()
    worker.join(60)
    assert outcome["first"] == "succeeded"
    statuses = list(SyncRun.objects.filter(target="mlflow:busy").order_by("id").values_list("status", flat=True))
    assert statuses == ["succeeded", "failed"]
    refused = SyncRun.objects.filter(target="mlflow:busy").order_by("id").last()
    assert "already running" in refused.errors[0]["message"]
    assert AuditEvent.objects.filter(action="sync.refused").count() == 1


def test_odd_mlflow_data_is_handled_and_reported(mlflow_server: MlflowServer, unique):
    client = MlflowClient(mlflow_server.url)
    factories.ProjectFactory(slug=f"{unique}proj")
    exp = client.create_experiment(f"{unique}эксперимент-ü-🚀", tags={"mlgov.project": "no-such-project"})
    bare = client.create_run(exp)  # no tags, params, metrics or inputs
    client.set_terminated(bare.info.run_id)
    big = "x" * 4500
    name = f"{unique}модель-ü-🚀"
    client.create_registered_model(name, tags={"note": big})
    client.create_model_version(  # no run at all
        name, source="s3://bucket/model", tags={"card": big + "y", "short": "ok"}, await_creation_for=0
    )
    long_run = client.create_run(exp, tags={"mlflow.source.name": "s" * 3000})
    client.log_param(long_run.info.run_id, "blob", "p" * 5000)
    client.set_terminated(long_run.info.run_id)
    prefixed = f"{unique}pref-model"
    client.create_registered_model(prefixed)
    conn = connection_for(
        mlflow_server.url,
        name=f"{unique}odd".strip("-")[:60],
        mapping={"prefixes": {f"{unique}pref-": f"{unique}proj"}},
    )

    run = mlflow_sync_now(connection=conn)
    assert run.status == "succeeded", run.errors
    model = RegisteredModel.objects.get(name=name)
    assert len(model.tags["note"]) == mf.MAX_TAG_VALUE
    version = model.versions.get()
    assert (len(version.tags["card"]), version.tags["short"]) == (mf.MAX_TAG_VALUE, "ok")
    # Truncation is reported on the SyncRun, naming the object and what was cut; short values are not.
    truncated = {e["message"] for e in run.errors if e["kind"] == "truncated"}
    assert all(e["level"] == "warning" for e in run.errors if e["kind"] == "truncated")
    assert f"registered model {name!r}: tag note longer than {mf.MAX_TAG_VALUE} characters; kept truncated" in truncated
    assert f"model version '{name}/1': tag card longer than {mf.MAX_TAG_VALUE} characters; kept truncated" in truncated
    assert (
        f"run {long_run.info.run_id!r}: tag mlflow.source.name, param blob longer than {mf.MAX_TAG_VALUE} "
        "characters; kept truncated"
    ) in truncated
    assert not any(bare.info.run_id in m for m in truncated)
    assert (version.run_id, version.training_run, version.git_commit) == ("", None, "")
    assert TrainingRun.objects.get(external_id=bare.info.run_id).launched_by == "unknown"
    assert Experiment.objects.get(name=f"{unique}эксперимент-ü-🚀").project is None
    assert any("no-such-project" in e["message"] for e in run.errors)
    assert RegisteredModel.objects.get(name=prefixed).project.slug == f"{unique}proj"


def test_feast_tags_become_features_linked_to_the_run(mlflow_server: MlflowServer, unique):
    client = MlflowClient(mlflow_server.url)
    factories.ProjectFactory(slug=f"{unique}feast")
    seeded = seed_project(
        client,
        prefix=unique,
        project=f"{unique}feast",
        n_models=1,
        n_versions=1,
        feature_refs="driver_stats:conv_rate, driver_stats:acc_rate",
    )
    conn = connection_for(mlflow_server.url, name="feast")
    assert mlflow_sync_now(connection=conn).status == "succeeded"
    run = TrainingRun.objects.get(external_id=seeded.runs[0])
    assert sorted(run.features.values_list("feature_view", "name")) == [
        ("driver_stats", "acc_rate"),
        ("driver_stats", "conv_rate"),
    ]
    assert Feature.objects.get(external_id="driver_stats:conv_rate").project.slug == f"{unique}feast"


def test_feast_feature_service_and_version_tags_become_features_of_the_run(mlflow_server: MlflowServer, unique):
    client = MlflowClient(mlflow_server.url)
    factories.ProjectFactory(slug=f"{unique}svc")
    exp = client.create_experiment(f"{unique}feast-exp", tags={"mlgov.project": f"{unique}svc"})
    # A run tagged with a feature service: a bare feature name belongs to the service, a view ref to its view.
    tagged = client.create_run(
        exp,
        tags={"feast.feature_service": f"{unique}fraud_v1", "feast.feature_refs": f"{unique}stats:conv, rides"},
    )
    client.set_terminated(tagged.info.run_id)
    # A run with no Feast tags, whose registered version names its features.
    plain = client.create_run(exp)
    client.set_terminated(plain.info.run_id)
    name = f"{unique}feast-model"
    client.create_registered_model(name)
    client.create_model_version(
        name,
        source=f"runs:/{plain.info.run_id}/model",
        run_id=plain.info.run_id,
        tags={"feast.feature_service": f"{unique}fraud_v2", "feast.feature_refs": f"{unique}drivers:age; tenure"},
        await_creation_for=0,
    )
    conn = connection_for(mlflow_server.url, name=f"{unique}svc"[:60])

    first = mlflow_sync_now(connection=conn)
    assert first.status == "succeeded", first.errors

    def features_of(run_id: str) -> list[tuple[str, str]]:
        run = TrainingRun.objects.get(external_id=run_id)
        return sorted(run.features.values_list("feature_view", "name"))

    assert features_of(tagged.info.run_id) == [(f"{unique}fraud_v1", "rides"), (f"{unique}stats", "conv")]
    assert features_of(plain.info.run_id) == [(f"{unique}drivers", "age"), (f"{unique}fraud_v2", "tenure")]
    tenure = Feature.objects.get(external_source=conn.external_source, external_id=f"{unique}fraud_v2:tenure")
    assert (tenure.feature_view, tenure.project.slug) == (f"{unique}fraud_v2", f"{unique}svc")
    ours = Feature.objects.filter(external_source=conn.external_source, feature_view__startswith=unique)
    assert ours.count() == 4  # the shared server holds other tests' features too

    # The version's tag changes: its run gains the new feature on the next (incremental) sync.
    client.set_model_version_tag(name, "1", "feast.feature_refs", f"{unique}drivers:age, tenure, trips")
    second = mlflow_sync_now(connection=conn)
    assert second.status == "succeeded", second.errors
    assert second.mode == "incremental"
    assert second.counts["feature"]["created"] == 1
    assert features_of(plain.info.run_id) == [
        (f"{unique}drivers", "age"),
        (f"{unique}fraud_v2", "tenure"),
        (f"{unique}fraud_v2", "trips"),
    ]
    assert features_of(tagged.info.run_id) == [(f"{unique}fraud_v1", "rides"), (f"{unique}stats", "conv")]

    # Nothing changed: no feature is written and the links stay.
    third = mlflow_sync_now(connection=conn)
    assert third.counts["feature"]["created"] == third.counts["feature"]["updated"] == 0
    assert len(features_of(plain.info.run_id)) == 3

    # The version is deleted in MLflow: its run no longer uses the features only the version named, and
    # the lineage's "used" edges into that run end (kept as history); the tagged run keeps its own.
    client.delete_model_version(name, "1")
    fourth = mlflow_sync_now(connection=conn)
    assert fourth.status == "succeeded", fourth.errors
    assert ModelVersion.objects.get(external_source=conn.external_source, model__name=name).removed_at is not None
    assert features_of(plain.info.run_id) == []
    assert len(features_of(tagged.info.run_id)) == 2
    run_node = LineageNode.objects.get(
        kind="trainingrun", key=str(TrainingRun.objects.get(external_id=plain.info.run_id).pk)
    )
    used = LineageEdge.objects.filter(downstream=run_node, relation="used")
    assert used.count() == 3
    assert not used.filter(ended_at__isnull=True).exists()


def test_a_ci_run_recorded_before_the_training_run_is_linked_by_the_sync(mlflow_server: MlflowServer, unique):
    # CI reported its run (webhook) before mlgov synced the MLflow run that CI job launched.
    commit = (unique.encode().hex() + "c" * 40)[:40]
    ci_run = ci_run_record(
        actor="github",
        event=CiRunEvent(
            provider="github",
            repository="github.com/acme/linked",
            config_path=".github/workflows/train.yml",
            pipeline_name="Train",
            run_id=f"{unique}1",
            status="success",
            commit_sha=commit,
            trigger="push",
            started_at=None,
            finished_at=None,
            url="",
        ),
    )
    seeded = seed_project(
        MlflowClient(mlflow_server.url), prefix=unique, project=None, n_models=1, n_versions=1, commit=commit
    )
    assert mlflow_sync_now(connection=connection_for(mlflow_server.url, name="linking")).status == "succeeded"
    assert list(ci_run.training_runs.values_list("external_id", flat=True)) == seeded.runs
    linked = AuditEvent.objects.get(action="pipelinerun.training_runs_linked", target_id=str(ci_run.pk))
    assert linked.actor_name == "sync:mlflow:linking"
