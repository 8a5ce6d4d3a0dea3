"""The integrations API: connections (admin-managed), sync requests, sync runs; and their pages."""

from __future__ import annotations

import pytest
from mlflow import MlflowClient

from integrations.models import MlflowConnection, SyncRun
from mlgov.audit.models import AuditEvent
from mlgov.inventory.models import ModelVersion
from tests import factories
from tests.integrations.seed import seed_project

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_api(api_client_for, admin_user):
    return api_client_for(admin_user)


def test_admin_manages_connections_with_audit(admin_api):
    body = {
        "name": "prod",
        "tracking_uri": "https://mlflow.example.com",
        "token_env_var": "MLFLOW_PROD_TOKEN",
        "mapping": {"tag": "mlgov.project", "prefixes": {"fraud-": "card-fraud"}},
    }
    created = admin_api.post("/api/v1/integrations/mlflow/", body, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["last_sync_status"] is None
    changed = admin_api.patch("/api/v1/integrations/mlflow/prod/", {"sync_interval_minutes": 5}, format="json")
    assert changed.status_code == 200
    assert MlflowConnection.objects.get(name="prod").sync_interval_minutes == 5
    assert admin_api.delete("/api/v1/integrations/mlflow/prod/").status_code == 204
    actions = list(
        AuditEvent.objects.filter(target_type="mlflowconnection").order_by("seq").values_list("action", flat=True)
    )
    assert actions == ["mlflowconnection.created", "mlflowconnection.updated", "mlflowconnection.deleted"]


def test_the_token_is_never_stored_only_its_variable_name(admin_api):
    response = admin_api.post(
        "/api/v1/integrations/mlflow/",
        {"name": "x", "tracking_uri": "https://m.example", "token_env_var": "MLFLOW_X_TOKEN"},
        format="json",
    )
    assert response.status_code == 201
    assert "token" not in {k for k in response.json() if k != "token_env_var"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "bad uri", "tracking_uri": "https://m"}, "name"),
        ({"name": "ok", "tracking_uri": "ftp://m"}, None),
        ({"name": "ok", "tracking_uri": "https://m", "mapping": {"prefixes": ["x"]}}, "mapping"),
        ({"name": "ok", "tracking_uri": "https://m", "mapping": {"colour": "red"}}, "mapping"),
        ({"name": "ok", "tracking_uri": "https://m", "sync_interval_minutes": 0}, "sync_interval_minutes"),
        ({"name": "ok", "tracking_uri": "https://m\x1b[31m"}, "tracking_uri"),
    ],
)
def test_bad_connections_are_400(admin_api, body, field):
    response = admin_api.post("/api/v1/integrations/mlflow/", body, format="json")
    assert response.status_code == 400, response.content
    if field:
        assert field in response.json()["error"]["details"]
    assert not MlflowConnection.objects.exists()


def test_only_admins_change_connections(api_client_for, maintainer):
    MlflowConnection.objects.create(name="prod", tracking_uri="https://m.example")
    client = api_client_for(maintainer)
    assert client.get("/api/v1/integrations/mlflow/").status_code == 200
    assert client.patch("/api/v1/integrations/mlflow/prod/", {"enabled": False}, format="json").status_code == 403
    assert (
        client.post(
            "/api/v1/integrations/mlflow/", {"name": "n", "tracking_uri": "https://m"}, format="json"
        ).status_code
        == 403
    )
    assert MlflowConnection.objects.get(name="prod").enabled


@pytest.mark.mlflow
def test_sync_endpoint_runs_a_sync_and_sync_runs_are_listed(
    api_client_for, maintainer, mlflow_server, unique, django_capture_on_commit_callbacks
):
    client_ml = MlflowClient(mlflow_server.url)
    factories.ProjectFactory(slug=f"{unique}p")
    seed_project(client_ml, prefix=unique, project=f"{unique}p", n_models=1, n_versions=2)
    MlflowConnection.objects.create(name="shared", tracking_uri=mlflow_server.url)
    client = api_client_for(maintainer)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post("/api/v1/integrations/mlflow/shared/sync", {"mode": "full"}, format="json")
    assert response.status_code == 202, response.content
    assert response.json()["status"] in ("queued", "succeeded")
    # Handed to the task queue on commit (eager here: no broker); the sync it ran called the after-sync hooks,
    # whose callbacks queued a scoring task (assessments) and a drift check (governance) on commit in turn.
    queued = [c.func.__self__.name for c in callbacks if hasattr(getattr(c, "func", None), "__self__")]
    assert queued[0] == "integrations.sync_mlflow_connection", queued
    assert sorted(queued[1:]) == ["assessments.score_after_sync", "governance.check_drift"], queued
    run = SyncRun.objects.get(pk=response.json()["id"])
    assert run.status == "succeeded", run.errors
    assert run.triggered_by == maintainer.username
    assert ModelVersion.objects.filter(model__name=f"{unique}model-0").count() == 2
    listed = client.get("/api/v1/sync-runs/", {"target": "mlflow:shared", "status": "succeeded"}).json()["results"]
    assert [r["id"] for r in listed] == [run.pk]
    assert listed[0]["counts"]["modelversion"]["created"] >= 2
    detail = client.get(f"/api/v1/sync-runs/{run.pk}/").json()
    assert detail["progress"]["phase"] == "done"
    version = ModelVersion.objects.filter(model__name=f"{unique}model-0").first()
    history = client.get(f"/api/v1/model-versions/{version.pk}/").json()["sync_history"]
    assert history[0]["id"] == run.pk


def test_members_cannot_start_syncs_and_bad_mode_is_400(api_client_for, member, maintainer):
    MlflowConnection.objects.create(name="prod", tracking_uri="https://m.example")
    assert api_client_for(member).post("/api/v1/integrations/mlflow/prod/sync", {}, format="json").status_code == 403
    bad = api_client_for(maintainer).post("/api/v1/integrations/mlflow/prod/sync", {"mode": "turbo"}, format="json")
    assert bad.status_code == 400
    assert not SyncRun.objects.exists()
    missing = api_client_for(maintainer).post("/api/v1/integrations/mlflow/nope/sync", {}, format="json")
    assert missing.status_code == 404


def test_a_queued_sync_is_not_queued_twice(api_client_for, maintainer, django_capture_on_commit_callbacks):
    MlflowConnection.objects.create(name="prod", tracking_uri="https://m.example")
    client = api_client_for(maintainer)
    with django_capture_on_commit_callbacks(execute=False):
        first = client.post("/api/v1/integrations/mlflow/prod/sync", {}, format="json").json()
        second = client.post("/api/v1/integrations/mlflow/prod/sync", {}, format="json").json()
    assert first["id"] == second["id"]
    assert SyncRun.objects.count() == 1


def test_sync_run_filters_are_strict(api):
    assert api.get("/api/v1/sync-runs/", {"status": "exploded"}).status_code == 400
    assert api.get("/api/v1/sync-runs/", {"colour": "red"}).status_code == 400


# --- pages ---


def test_integration_pages(client, maintainer, member, django_capture_on_commit_callbacks):
    conn = MlflowConnection.objects.create(name="prod", tracking_uri="https://m.example")
    run = SyncRun.objects.create(
        target=conn.external_source, kind="mlflow", status="running", progress={"phase": "runs", "done": 120}
    )
    client.force_login(member)
    page = client.get("/integrations/").content.decode()
    assert "prod" in page
    assert "Sync now" not in page  # members may not
    assert client.post("/integrations/mlflow/prod/sync/").status_code == 403
    listing = client.get("/syncs/", {"status": "running"}).content.decode()
    assert f"#{run.pk}" in listing
    assert "runs 120" in listing
    detail = client.get(f"/syncs/{run.pk}/").content.decode()
    assert 'data-live="true"' in detail
    assert client.get("/syncs/", {"status": "exploded"}).status_code == 400

    client.force_login(maintainer)
    assert "Sync now" in client.get("/integrations/").content.decode()
    SyncRun.objects.filter(pk=run.pk).update(status="failed")
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post("/integrations/mlflow/prod/sync/")
    queued = SyncRun.objects.latest("id")
    assert response.status_code == 302
    assert response["Location"] == f"/syncs/{queued.pk}/"
    assert queued.status == "queued"


def test_model_version_page_shows_run_params_metrics_and_inputs(client, user):
    from mlgov.inventory.models import RunInput

    run = factories.TrainingRunFactory(params={"depth": "6"}, metrics={"auc": 0.93})
    RunInput.objects.create(
        run=run, dataset=factories.DatasetFactory(name="transactions", digest="abc123"), context="training"
    )
    version = factories.ModelVersionFactory(training_run=run, git_commit=run.git_commit)
    client.force_login(user)
    html = client.get(f"/model-versions/{version.pk}/").content.decode()
    for text in ("depth", "6", "0.93", "transactions", "abc123", "training", run.git_commit):
        assert text in html, text
    model_page = client.get(f"/models/{version.model_id}/").content.decode()
    assert f"/model-versions/{version.pk}/" in model_page
