"""End to end against a real `mlflow server`: models trained and registered through the MLflow client, synced,
promoted through the API with two independent approvals, the alias moved in MLflow by the apply task and read
back with the MLflow client, the alias history extended; then an alias moved directly in MLflow is flagged as
drift on the next sync, cleared when it comes back, and reverted when the policy says so.

Committed transactions (`transactional_db`), so the on-commit hooks run as in production: the apply task after
the last approval, the sync the apply asks for, and the drift check after every sync (Celery runs eagerly)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from mlflow import MlflowClient

from assessments.models import Assessment, ScoringRun
from integrations.models import MlflowConnection
from integrations.sync import mlflow_sync_now
from mlgov.accounts.services import api_token_create
from mlgov.audit.models import AuditEvent
from mlgov.governance.models import AliasChange, DriftFinding, PromotionPolicy, PromotionRequest
from mlgov.inventory.models import ModelAlias, ModelVersion, RegisteredModel
from tests import factories
from tests.integrations.conftest import mlflow_server, unique  # noqa: F401 (fixtures)
from tests.integrations.seed import seed_project

pytestmark = [pytest.mark.mlflow, pytest.mark.slow]


def client_for(user):
    from rest_framework.test import APIClient

    _, raw = api_token_create(actor=user, user=user, name="e2e", scope="write")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return api


@pytest.fixture
def org(transactional_db, mlflow_server, unique):  # noqa: F811
    client = MlflowClient(mlflow_server.url)
    team = factories.TeamFactory(slug=f"{unique}team")
    risk = factories.TeamFactory(slug=f"{unique}risk")
    project = factories.ProjectFactory(team=team, slug=f"{unique}proj", risk_tier=1)
    seeded = seed_project(client, prefix=unique, project=project.slug, n_models=1, n_versions=3, user="alice")
    name = seeded.models[0]
    connection = MlflowConnection.objects.create(name=f"{unique}conn".strip("-")[:60], tracking_uri=mlflow_server.url)
    assert mlflow_sync_now(connection=connection, mode="full").status == "succeeded"
    model = RegisteredModel.objects.get(external_source=connection.external_source, name=name)
    assert model.project == project
    versions = {v.version: v for v in ModelVersion.objects.filter(model=model)}
    assert set(versions) == {"1", "2", "3"}
    # The CI run on the training commit (seed_project trains every version from commit aaaa…).
    factories.PipelineRunFactory(pipeline__project=project, commit_sha="a" * 40, status="success")
    users = {
        "requester": factories.MembershipFactory(team=team, user__username=f"{unique}fatima").user,
        "rui": factories.UserFactory(username=f"{unique}rui", groups=["reviewers"], email="rui@example.com"),
        "rosa": factories.UserFactory(username=f"{unique}rosa", groups=["reviewers"], email="rosa@example.com"),
        "manager": factories.UserFactory(username=f"{unique}maya", groups=["managers"], email="maya@example.com"),
    }
    users["requester"].email = "fatima@example.com"
    users["requester"].save()
    for who in ("rui", "rosa"):
        factories.MembershipFactory(team=risk, user=users[who])
    policy = PromotionPolicy.objects.create(
        name=f"{unique}production",
        target="production",
        team=team,
        approvals_required=2,
        approver_team=risk,
        independence="strict",
        metric_gate="metrics.auc >= 0.85",
        require_green_ci=True,
        require_dataset_lineage=True,
    )
    return {
        "mlflow": client,
        "name": name,
        "connection": connection,
        "model": model,
        "v": versions,
        "users": users,
        "policy": policy,
        "api": {k: client_for(u) for k, u in users.items()},
    }


def promote(org, version: str, justification: str = "Promote it.") -> dict:
    api = org["api"]
    created = api["requester"].post(
        "/api/v1/promotions",
        {"model_version": org["v"][version].pk, "target": "production", "justification": justification},
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["gates_passed"], body["gates"]
    first = api["rui"].post(f"/api/v1/promotions/{body['id']}/approve", {"comment": "metrics fine"})
    assert (first.status_code, first.json()["state"]) == (200, "pending")
    second = api["rosa"].post(f"/api/v1/promotions/{body['id']}/approve", {"comment": "lineage fine"})
    assert second.status_code == 200, second.content
    return api["rui"].get(f"/api/v1/promotions/{body['id']}").json()


def test_request_two_approvals_alias_set_in_mlflow_history_extended_then_drift(org):
    client, name, model = org["mlflow"], org["name"], org["model"]
    mail.outbox.clear()

    # 1. Request v2, two approvals: the apply task moves the alias in MLflow.
    done = promote(org, "2")
    assert done["state"] == "applied", done
    assert done["previous_version"] == ""  # nothing held production before
    assert client.get_model_version_by_alias(name, "production").version == "2"
    assert client.get_model_version(name, "2").tags["mlgov.promotion.production"] == str(done["id"])
    # The inventory caught up (a sync the apply asked for), and that sync found no drift.
    assert ModelAlias.objects.get(model=model, alias="production").version.version == "2"
    assert not DriftFinding.objects.filter(model=model).exists()
    reviewers_mail = [m for m in mail.outbox if "Review requested" in m.subject]
    assert sorted(reviewers_mail[0].to) == ["rosa@example.com", "rui@example.com"]
    decisions = [m.subject for m in mail.outbox if m.to == ["fatima@example.com"]]
    assert any(s.endswith(": approved") for s in decisions)
    assert any(s.endswith(": applied") for s in decisions)
    # The project's scorecard is brought up to date with the governed promotion.
    project_id = model.project_id
    rescored = ScoringRun.objects.filter(trigger="governance", project_ids=[project_id]).order_by("id")
    assert [(r.status, r.triggered_by) for r in rescored] == [("succeeded", "task:apply_promotion")]
    latest = Assessment.objects.get(project_id=project_id, is_latest=True)
    criteria = [c for d in latest.scorecard["dimensions"] for c in d["criteria"]]
    governed = [c for c in criteria if c["id"] == "release.governed-promotions"]
    assert governed[0]["status"] == "met", governed

    # 2. v3: the previous holder is recorded, the history is extended.
    between = timezone.now()
    done3 = promote(org, "3")
    assert done3["state"] == "applied"
    assert done3["previous_version"] == "2"
    assert client.get_model_version_by_alias(name, "production").version == "3"
    history = list(AliasChange.objects.filter(model=model, alias="production").order_by("started_at"))
    assert [(h.version_number, h.previous_number, h.source, h.request_id) for h in history] == [
        ("2", "", "promotion", done["id"]),
        ("3", "2", "promotion", done3["id"]),
    ]
    api = org["api"]["rui"]
    at = api.get(f"/api/v1/models/{model.pk}/alias-history", {"alias": "production", "at": between.isoformat()}).json()
    assert (at["version"], at["entry"]["request"]) == ("2", done["id"])
    now = api.get(f"/api/v1/models/{model.pk}/alias-history", {"alias": "production", "at": timezone.now().isoformat()})
    assert now.json()["version"] == "3"
    gate = api.get(f"/api/v1/promotions/gate?model={model.pk}&version=3&target=production").json()
    assert gate["allowed"] is True, gate
    assert gate["mlflow_version"] == "3"

    # 3. Rollback: a promotion of the previous holder, through review like any other.
    assert api.post(f"/api/v1/promotions/{done3['id']}/rollback", {}).status_code == 403  # not in the team
    rollback = org["api"]["requester"].post(f"/api/v1/promotions/{done3['id']}/rollback", {})
    assert rollback.status_code == 201, rollback.content
    rb = rollback.json()
    assert (rb["version"], rb["rollback_of"], rb["state"]) == ("2", done3["id"], "pending")
    org["api"]["rui"].post(f"/api/v1/promotions/{rb['id']}/approve", {})
    org["api"]["rosa"].post(f"/api/v1/promotions/{rb['id']}/approve", {})
    assert PromotionRequest.objects.get(pk=rb["id"]).state == "applied"
    assert client.get_model_version_by_alias(name, "production").version == "2"

    # 4. Someone moves production in MLflow directly: the next sync flags it.
    mail.outbox.clear()
    client.set_registered_model_alias(name, "production", "1")
    run = mlflow_sync_now(connection=org["connection"])
    assert run.status == "succeeded"
    finding = DriftFinding.objects.get(model=model, status="open")
    assert (finding.alias, finding.observed_number, finding.expected_number) == ("production", "1", "2")
    assert finding.sync_run_id == run.pk
    assert ScoringRun.objects.filter(trigger="governance", triggered_by="task:check_drift").count() == 1
    event = AuditEvent.objects.get(action="drift.detected", target_id=str(finding.pk))
    assert event.after["mlflow_version"] == "1"
    assert [m.to for m in mail.outbox if "moved outside mlgov" in m.subject] == [["maya@example.com"]]
    observed = AliasChange.objects.filter(model=model, alias="production").order_by("-started_at", "-id").first()
    assert (observed.source, observed.version_number, observed.finding_id) == ("observed", "1", finding.pk)
    gate = api.get(f"/api/v1/promotions/gate?model={model.pk}&version=2&target=production").json()
    assert gate["allowed"] is False
    assert f"drift finding #{finding.pk} is open on production" in gate["reasons"]
    # A second sync with nothing new keeps the one finding.
    mlflow_sync_now(connection=org["connection"])
    assert DriftFinding.objects.filter(model=model).count() == 1

    # 5. Put back by hand in MLflow: the finding clears on the next sync.
    client.set_registered_model_alias(name, "production", "2")
    mlflow_sync_now(connection=org["connection"])
    finding.refresh_from_db()
    assert finding.status == "cleared"

    # 6. With revert_drift, the approved version is put back in MLflow by mlgov.
    PromotionPolicy.objects.filter(pk=org["policy"].pk).update(revert_drift=True)
    client.set_registered_model_alias(name, "production", "3")
    mlflow_sync_now(connection=org["connection"])
    reverted = DriftFinding.objects.filter(model=model).order_by("-id").first()
    assert (reverted.status, reverted.observed_number, reverted.expected_number) == ("reverted", "3", "2")
    assert client.get_model_version_by_alias(name, "production").version == "2"
    assert AuditEvent.objects.filter(action="drift.reverted", target_id=str(reverted.pk)).count() == 1
    assert AuditEvent.objects.filter(action="mlflow.alias_set", target_id=str(model.pk)).count() == 4


def test_an_unreachable_mlflow_fails_the_request_with_the_error_and_retry_applies_it(org):
    conn = org["connection"]
    good_uri = conn.tracking_uri
    MlflowConnection.objects.filter(pk=conn.pk).update(tracking_uri="http://127.0.0.1:9")  # nothing listens there
    failed = promote(org, "2")
    assert failed["state"] == "failed"
    assert failed["error"].startswith("MLflow unreachable:")
    assert "production" not in org["mlflow"].get_registered_model(org["name"]).aliases
    assert not AliasChange.objects.filter(model=org["model"]).exists()
    MlflowConnection.objects.filter(pk=conn.pk).update(tracking_uri=good_uri)
    retried = org["api"]["requester"].post(f"/api/v1/promotions/{failed['id']}/retry")
    assert retried.status_code == 200
    body = org["api"]["rui"].get(f"/api/v1/promotions/{failed['id']}").json()
    assert (body["state"], body["attempts"], body["error"]) == ("applied", 2, "")
    assert org["mlflow"].get_model_version_by_alias(org["name"], "production").version == "2"


def test_applying_twice_writes_once(org):
    from mlgov.governance.services import promotion_apply

    done = promote(org, "2")
    writes = AuditEvent.objects.filter(action="mlflow.alias_set").count()
    outcome = promotion_apply(request_id=done["id"])  # a second delivery of the task
    assert outcome.status == "skipped"
    assert AuditEvent.objects.filter(action="mlflow.alias_set").count() == writes
    assert AliasChange.objects.filter(request_id=done["id"]).count() == 1
    # The expiry sweep leaves applied and fresh requests alone.
    from mlgov.governance.services import promotions_expire

    assert promotions_expire(now=timezone.now() + timedelta(hours=1)) == 0


def test_applied_and_drift_webhooks_are_signed_and_delivered(org, receiver, monkeypatch):
    from integrations.ci.signatures import signature_matches
    from mlgov.governance import services
    from mlgov.governance.models import OutboundDelivery

    secret = "whsec-e2e-5678"
    monkeypatch.setenv("MLGOV_E2E_HOOK_SECRET", secret)
    services.webhook_endpoint_create(
        actor="test",
        name="cd",
        url=receiver.url,
        secret_env_var="MLGOV_E2E_HOOK_SECRET",
        events=["promotion.applied", "promotion.failed", "drift.detected", "drift.reverted"],
    )

    def delivered(got, event: str) -> dict:
        assert got.headers["X-Mlgov-Event"] == event
        assert signature_matches(secret, got.body, got.headers["X-Mlgov-Signature-256"])
        body = json.loads(got.body)
        delivery = OutboundDelivery.objects.get(delivery_id=got.headers["X-Mlgov-Delivery"])
        assert (body["event"], body["delivery_id"]) == (event, str(delivery.delivery_id))
        assert (delivery.status, delivery.attempts, delivery.response_status) == ("delivered", 1, 200)
        return body

    # The apply task moves the alias in MLflow: promotion.applied.
    done = promote(org, "2")
    assert done["state"] == "applied"
    (applied,) = receiver.wait_for(1)
    promotion = delivered(applied, "promotion.applied")["promotion"]
    assert (promotion["id"], promotion["state"], promotion["version"], promotion["previous_version"]) == (
        done["id"],
        "applied",
        "2",
        None,
    )

    # Someone moves production in MLflow; the policy puts the approved version back: detected, then reverted.
    PromotionPolicy.objects.filter(pk=org["policy"].pk).update(revert_drift=True)
    org["mlflow"].set_registered_model_alias(org["name"], "production", "3")
    assert mlflow_sync_now(connection=org["connection"]).status == "succeeded"
    assert org["mlflow"].get_model_version_by_alias(org["name"], "production").version == "2"
    _, detected, reverted = receiver.wait_for(3)
    finding = DriftFinding.objects.get(model=org["model"])
    drift = delivered(detected, "drift.detected")["drift"]
    assert (drift["id"], drift["status"], drift["mlflow_version"], drift["approved_version"]) == (
        finding.pk,
        "open",
        "3",
        "2",
    )
    drift = delivered(reverted, "drift.reverted")["drift"]
    assert (drift["id"], drift["status"], drift["mlflow_version"], drift["approved_version"]) == (
        finding.pk,
        "reverted",
        "3",
        "2",
    )
    assert len(receiver.received) == 3  # nothing failed
