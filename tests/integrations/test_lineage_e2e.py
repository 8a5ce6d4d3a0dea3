"""End to end: a real mlflow server (runs with dataset inputs and Feast feature refs, from a real git
commit), a signed GitHub webhook for the CI run that trained it, and a promotion (the alias moved in
MLflow, then model_alias_set) give the whole chain from dataset to alias in one upstream query."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from mlflow import MlflowClient
from mlflow.entities import Dataset as MlflowDataset
from mlflow.entities import DatasetInput, InputTag

from integrations.ci.signatures import hmac_sha256_signature
from integrations.models import MlflowConnection, WebhookDelivery
from integrations.sync import mlflow_sync_now
from mlgov.inventory.models import LineageEdge, ModelAlias, ModelVersion, PipelineRun, TrainingRun
from mlgov.inventory.services import model_alias_set
from tests.integrations.ci import payloads as p

pytestmark = [pytest.mark.mlflow, pytest.mark.django_db]
SECRET = "lineage-e2e-secret"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.slow
def test_dataset_to_alias_in_one_upstream_query(
    mlflow_server, unique, builder, api, user, client, settings, django_capture_on_commit_callbacks
):
    settings.MLGOV_GITHUB_WEBHOOK_SECRET = SECRET
    # A real commit in a real repository: the code the model was trained from.
    sha = builder.commit({"train.py": "print('train')\n", "requirements.txt": "lightgbm\n"}, "Train the scorer")
    ml = MlflowClient(mlflow_server.url)
    exp = ml.create_experiment(f"{unique}fraud")
    started = datetime.now(UTC)
    run = ml.create_run(
        exp,
        run_name="weekly-retrain",
        tags={
            "mlflow.source.git.commit": sha,
            "mlflow.source.git.repoURL": "https://github.com/acme/card-fraud",
            "mlflow.user": "github-actions[bot]",
            # The features it read from a Feast feature store.
            "feast.feature_refs": f"{unique}driver_stats:conv_rate, {unique}driver_stats:acc_rate",
        },
    )
    rid = run.info.run_id
    ml.log_inputs(
        rid,
        datasets=[
            DatasetInput(
                MlflowDataset(
                    name=f"{unique}card-transactions",
                    digest="e2e0d1",
                    source_type="s3",
                    source=json.dumps({"uri": f"s3://acme-ml/{unique}card-transactions/snapshot=v1/"}),
                    schema='{"mlflow_colspec": [{"name": "amount", "type": "double"}]}',
                    profile='{"num_rows": 1000}',
                ),
                tags=[InputTag("mlflow.data.context", "training")],
            )
        ],
    )
    ml.log_metric(rid, "auc", 0.94)
    ml.set_terminated(rid)
    name = f"{unique}scorer"
    ml.create_registered_model(name)
    mv = ml.create_model_version(name, source=f"runs:/{rid}/model", run_id=rid, await_creation_for=0)

    conn = MlflowConnection.objects.create(name=f"{unique}conn".rstrip("-")[:60], tracking_uri=mlflow_server.url)
    assert mlflow_sync_now(connection=conn, triggered_by="test").status == "succeeded"

    # The CI run that executed the training, delivered as a signed GitHub webhook (processed on commit).
    body = json.dumps(
        p.gh_workflow_run_event(
            run_id=int(uuid.uuid4().int % 10**9),
            sha=sha,
            created_at=_iso(started - timedelta(minutes=3)),
            run_started_at=_iso(started - timedelta(minutes=2)),
            updated_at=_iso(started + timedelta(minutes=15)),
        )
    ).encode()
    with django_capture_on_commit_callbacks(execute=True):  # the task is queued on commit
        response = client.post(
            "/hooks/github/",
            data=body,
            content_type="application/json",
            headers={
                "X-Hub-Signature-256": hmac_sha256_signature(SECRET, body),
                "X-GitHub-Event": "workflow_run",
                "X-GitHub-Delivery": str(uuid.uuid4()),
            },
        )
    assert response.status_code == 202, response.content
    delivery = WebhookDelivery.objects.get(pk=response.json()["delivery"])
    assert delivery.status == "processed"
    ci_run = PipelineRun.objects.get(commit_sha=sha)

    # The promotion: the alias is moved in MLflow, then in the inventory.
    ml.set_registered_model_alias(name, "production", mv.version)
    version = ModelVersion.objects.get(model__name=name, version=mv.version)
    assert model_alias_set(actor=user, version=version, alias="production") is None
    # The next sync agrees and changes nothing (the session's server holds other tests' aliases too).
    aliases = mlflow_sync_now(connection=conn, triggered_by="test").counts["modelalias"]
    assert aliases["created"] == aliases["updated"] == aliases["removed"] == 0
    assert aliases["unchanged"] >= 1

    training = TrainingRun.objects.get(external_id=rid)
    dataset = training.datasets.get()
    features = {f.name: f for f in training.features.all()}
    assert sorted(features) == ["acc_rate", "conv_rate"]
    alias = ModelAlias.objects.get(model=version.model, alias="production")
    body = api.get(f"/api/v1/lineage/alias/{alias.pk}?direction=upstream&depth=5").json()
    nodes = {n["id"] for n in body["nodes"]}
    key = f"{version.model_id}:production:{version.pk}"
    assert nodes == {
        f"alias:{key}",
        f"modelversion:{version.pk}",
        f"trainingrun:{training.pk}",
        f"dataset:{dataset.pk}",
        f"commit:{sha}",
        f"pipelinerun:{ci_run.pk}",
        *(f"feature:{f.pk}" for f in features.values()),
    }
    edges = {(e["from"], e["relation"], e["to"]): e for e in body["edges"]}
    assert edges[(f"pipelinerun:{ci_run.pk}", "executed", f"trainingrun:{training.pk}")]["source"] == (
        "repo:github.com/acme/card-fraud"
    )
    assert edges[(f"dataset:{dataset.pk}", "consumed", f"trainingrun:{training.pk}")]["source"] == conn.external_source
    assert edges[(f"modelversion:{version.pk}", "assigned", f"alias:{key}")]["source"] == "promotion"
    assert (f"commit:{sha}", "built", f"pipelinerun:{ci_run.pk}") in edges
    assert (f"commit:{sha}", "from_commit", f"trainingrun:{training.pk}") in edges
    for feature in features.values():  # run *used* feature, from feast.feature_refs
        used = edges[(f"feature:{feature.pk}", "used", f"trainingrun:{training.pk}")]
        assert used["source"] == conn.external_source
        assert used["observed_at"] is not None
    feature_nodes = {n["id"]: n for n in body["nodes"] if n["kind"] == "feature"}
    assert {n["label"] for n in feature_nodes.values()} == {
        f"{unique}driver_stats:conv_rate",
        f"{unique}driver_stats:acc_rate",
    }
    assert {n["hops"] for n in feature_nodes.values()} == {3}
    matched = LineageEdge.objects.get(relation="executed", downstream__key=str(training.pk))
    assert matched.attributes == {"matched_by": "commit+time"}

    impact = api.get(f"/api/v1/lineage/impact?dataset={dataset.digest}").json()
    assert [(v["id"], v["production"]) for v in impact["model_versions"]] == [(version.pk, True)]
