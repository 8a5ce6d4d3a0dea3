"""The `assigned` edge written by a governed promotion: versions trained and registered in a real `mlflow server`,
synced, then a promotion requested, approved twice and applied through the governance services (the apply task
moves the alias in MLflow on commit). The alias assignment is then a lineage node whose upstream reaches the
dataset the run consumed."""

from __future__ import annotations

import pytest
from mlflow import MlflowClient

from integrations.models import MlflowConnection
from integrations.sync import mlflow_sync_now
from mlgov.governance.models import PromotionPolicy
from mlgov.governance.services import promotion_approve, promotion_request_create
from mlgov.inventory.models import LineageEdge, ModelAlias, ModelVersion, RegisteredModel
from tests import factories
from tests.integrations.conftest import mlflow_server, unique  # noqa: F401 (fixtures)
from tests.integrations.seed import seed_project

pytestmark = [pytest.mark.mlflow, pytest.mark.slow, pytest.mark.django_db]


def test_an_applied_promotion_is_an_alias_node_whose_upstream_reaches_the_dataset(
    mlflow_server,  # noqa: F811
    unique,  # noqa: F811
    api,
    django_capture_on_commit_callbacks,
):
    client = MlflowClient(mlflow_server.url)
    team = factories.TeamFactory(slug=f"{unique}team")
    risk = factories.TeamFactory(slug=f"{unique}risk")
    project = factories.ProjectFactory(team=team, slug=f"{unique}proj")
    seeded = seed_project(client, prefix=unique, project=project.slug, n_models=1, n_versions=2, user="alice")
    connection = MlflowConnection.objects.create(name=f"{unique}conn".strip("-")[:60], tracking_uri=mlflow_server.url)
    assert mlflow_sync_now(connection=connection, mode="full").status == "succeeded"
    model = RegisteredModel.objects.get(external_source=connection.external_source, name=seeded.models[0])
    version = ModelVersion.objects.select_related("training_run").get(model=model, version="2")
    dataset = version.training_run.datasets.get()
    requester = factories.MembershipFactory(team=team, user__username=f"{unique}fatima").user
    reviewers = [factories.UserFactory(username=f"{unique}{n}", groups=["reviewers"]) for n in ("rui", "rosa")]
    for reviewer in reviewers:
        factories.MembershipFactory(team=risk, user=reviewer)
    PromotionPolicy.objects.create(
        name=f"{unique}production",
        target="production",
        team=team,
        approvals_required=2,
        approver_team=risk,
        require_dataset_lineage=True,
    )

    request = promotion_request_create(
        actor=requester, version=version, target="production", justification="Better AUC on the same data."
    )
    assert request.gates_passed, request.gates
    request = promotion_approve(request=request, reviewer=reviewers[0], comment="metrics fine")
    assert request.state == "pending"
    with django_capture_on_commit_callbacks(execute=True):  # the last approval queues the apply on commit
        request = promotion_approve(request=request, reviewer=reviewers[1], comment="lineage fine")
    request.refresh_from_db()
    assert request.state == "applied", request.error
    assert client.get_model_version_by_alias(model.name, "production").version == "2"

    # The alias node and its `assigned` edge, written by the promotion service.
    key = f"{model.pk}:production:{version.pk}"
    edge = LineageEdge.objects.select_related("upstream", "downstream").get(relation="assigned", downstream__key=key)
    assert (edge.upstream.kind, edge.upstream.key, edge.downstream.kind) == ("modelversion", str(version.pk), "alias")
    assert (edge.source, edge.ended_at) == ("promotion", None)
    assert edge.observed_at is not None

    # One upstream query from the alias reaches the dataset the training run consumed.
    alias = ModelAlias.objects.get(model=model, alias="production")
    assert alias.version_id == version.pk
    body = api.get(f"/api/v1/lineage/alias/{alias.pk}?direction=upstream&depth=5").json()
    hops = {n["id"]: n["hops"] for n in body["nodes"]}
    assert hops[f"alias:{key}"] == 0
    assert hops[f"modelversion:{version.pk}"] == 1
    assert hops[f"trainingrun:{version.training_run_id}"] == 2
    assert hops[f"dataset:{dataset.pk}"] == 3
    relations = {(e["from"], e["relation"], e["to"]): e for e in body["edges"]}
    assert relations[(f"modelversion:{version.pk}", "assigned", f"alias:{key}")]["source"] == "promotion"
    assert (f"dataset:{dataset.pk}", "consumed", f"trainingrun:{version.training_run_id}") in relations
    # The other version, trained on the same dataset name but another digest, is not upstream of the alias.
    other = ModelVersion.objects.get(model=model, version="1")
    assert f"modelversion:{other.pk}" not in hops

    # And the dataset's impact names the promoted version as holding production (seed_project gave it champion).
    impact = api.get(f"/api/v1/lineage/impact?dataset={dataset.pk}").json()
    assert [(v["id"], sorted(v["aliases"]), v["production"]) for v in impact["model_versions"]] == [
        (version.pk, ["champion", "production"], True)
    ]
