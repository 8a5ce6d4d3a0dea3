"""Notifications: emails through Django's email backend (pytest-django's locmem outbox), and signed outbound
webhooks POSTed to a real local HTTP receiver. Celery runs eagerly here (no retries: the first attempt is the
last); tests/governance/test_tasks.py retries through a real Redis worker."""

from __future__ import annotations

import json

import pytest
from django.utils import timezone

from integrations.ci.signatures import signature_matches
from mlgov.governance import services
from mlgov.governance.models import DriftFinding, OutboundDelivery, WebhookEndpoint

pytestmark = pytest.mark.django_db
SECRET = "whsec-test-1234"


@pytest.fixture
def endpoint(receiver, monkeypatch) -> WebhookEndpoint:
    monkeypatch.setenv("MLGOV_TEST_HOOK_SECRET", SECRET)
    return services.webhook_endpoint_create(
        actor="test", name="cd", url=receiver.url, secret_env_var="MLGOV_TEST_HOOK_SECRET"
    )


def _emails(world):
    for name, user in world.users.items():
        user.email = f"{name}@example.com"
        user.save()


def _request(world, version="2", who="requester"):
    return services.promotion_request_create(
        actor=world.u(who), version=world.v(version), target="production", justification="notify"
    )


def test_a_new_request_emails_the_eligible_reviewers_only(world, mailoutbox, django_capture_on_commit_callbacks):
    _emails(world)
    with django_capture_on_commit_callbacks(execute=True):
        req = _request(world)
    (mail,) = mailoutbox
    # Reviewers in the approver team; not the run's author (alice), not the outsider, not the service account.
    assert sorted(mail.to) == ["raj@example.com", "rosa@example.com", "rui@example.com"]
    assert mail.subject == "[mlgov] Review requested: fraud-gbm v2 → production"
    assert f"/promotions/{req.pk}/" in mail.body
    assert "notify" in mail.body


def test_decisions_email_the_requester(world, mailoutbox, django_capture_on_commit_callbacks):
    _emails(world)
    req = _request(world)
    with django_capture_on_commit_callbacks(execute=True):
        services.promotion_approve(request=req, reviewer=world.u("rui"), comment="ok")
    assert mailoutbox == []  # one approval of two: not a decision
    with django_capture_on_commit_callbacks(execute=True):
        services.promotion_approve(request=req, reviewer=world.u("rosa"), comment="fine by me")
    subjects = [m.subject for m in mailoutbox if m.to == ["requester@example.com"]]
    # approved, then the apply (no MLflow connection for mlflow:test) failed
    assert subjects == ["[mlgov] fraud-gbm v2 → production: approved", "[mlgov] fraud-gbm v2 → production: failed"]
    assert "fine by me" in mailoutbox[0].body
    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.promotion_cancel(request=req, actor=world.u("requester"))
    assert mailoutbox == []  # the requester cancelled it themselves


def test_drift_emails_managers_and_the_teams_maintainers(world, mailoutbox, django_capture_on_commit_callbacks):
    from mlgov.governance.notifications import notification_email_send

    _emails(world)
    finding = world.drift()
    assert notification_email_send(event="drift.detected", kind="drift", object_id=finding.pk) == 1
    (mail,) = mailoutbox
    assert sorted(mail.to) == ["maintainer@example.com", "manager@example.com"]
    assert mail.subject == "[mlgov] fraud-gbm@production moved outside mlgov"
    assert "the approved version is none (never promoted through mlgov)" in mail.body


def test_webhooks_are_signed_with_a_delivery_id(world, receiver, endpoint, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        req = _request(world)
    (got,) = receiver.wait_for(1)
    delivery = OutboundDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.response_status) == ("delivered", 1, 200)
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["X-Mlgov-Event"] == "promotion.requested"
    assert got.headers["X-Mlgov-Delivery"] == str(delivery.delivery_id)
    assert signature_matches(SECRET, got.body, got.headers["X-Mlgov-Signature-256"])
    assert not signature_matches("other-secret", got.body, got.headers["X-Mlgov-Signature-256"])
    body = json.loads(got.body)
    assert body["delivery_id"] == str(delivery.delivery_id)
    assert body["event"] == "promotion.requested"
    assert body["promotion"]["id"] == req.pk
    assert body["promotion"]["model"]["name"] == "fraud-gbm"
    assert (body["promotion"]["version"], body["promotion"]["target"], body["promotion"]["state"]) == (
        "2",
        "production",
        "pending",
    )


def test_endpoints_receive_only_the_events_they_ask_for(
    world, receiver, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setenv("MLGOV_TEST_HOOK_SECRET", SECRET)
    services.webhook_endpoint_create(
        actor="test",
        name="slack",
        url=receiver.url,
        secret_env_var="MLGOV_TEST_HOOK_SECRET",
        events=["promotion.rejected"],
    )
    with django_capture_on_commit_callbacks(execute=True):
        req = _request(world)
    assert not OutboundDelivery.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        services.promotion_reject(request=req, reviewer=world.u("rui"), comment="no")
    (got,) = receiver.wait_for(1)
    assert got.headers["X-Mlgov-Event"] == "promotion.rejected"


def test_a_failing_receiver_without_a_broker_fails_the_delivery_at_once(
    world, receiver, endpoint, django_capture_on_commit_callbacks
):
    receiver.statuses = [503]
    with django_capture_on_commit_callbacks(execute=True):
        _request(world)
    receiver.wait_for(1)
    delivery = OutboundDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.response_status, delivery.last_error) == (
        "failed",
        1,
        503,
        "HTTP 503",
    )


def test_a_redirect_is_not_followed(world, receiver, endpoint, django_capture_on_commit_callbacks):
    receiver.redirect_to = "http://127.0.0.1:9/elsewhere"
    with django_capture_on_commit_callbacks(execute=True):
        _request(world)
    delivery = OutboundDelivery.objects.get()
    assert (delivery.status, delivery.response_status) == ("failed", 302)


def test_an_unset_secret_fails_the_delivery_without_sending(
    world, receiver, endpoint, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.delenv("MLGOV_TEST_HOOK_SECRET")
    with django_capture_on_commit_callbacks(execute=True):
        _request(world)
    delivery = OutboundDelivery.objects.get()
    assert delivery.status == "failed"
    assert delivery.last_error == "the secret variable MLGOV_TEST_HOOK_SECRET is not set"
    assert receiver.received == []


def test_an_unreachable_receiver_fails_cleanly(world, monkeypatch, django_capture_on_commit_callbacks):
    from tests.integrations.mlflow_server import free_port

    monkeypatch.setenv("MLGOV_TEST_HOOK_SECRET", SECRET)
    services.webhook_endpoint_create(
        actor="test", name="gone", url=f"http://127.0.0.1:{free_port()}/x", secret_env_var="MLGOV_TEST_HOOK_SECRET"
    )
    with django_capture_on_commit_callbacks(execute=True):
        _request(world)
    delivery = OutboundDelivery.objects.get()
    assert delivery.status == "failed"
    assert "Connection refused" in delivery.last_error or "URLError" in delivery.last_error


def test_a_rolled_back_change_notifies_nobody(
    world, receiver, endpoint, mailoutbox, django_capture_on_commit_callbacks
):
    from mlgov.errors import DomainError

    _emails(world)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(DomainError):
        _request(world, who="plain")  # refused: not in the team
    assert not OutboundDelivery.objects.exists()
    assert receiver.received == []
    assert mailoutbox == []


def _signed(got, event: str) -> dict:
    """A delivery of `event`, signed with the endpoint's secret, whose body names its delivery id."""
    assert got.headers["X-Mlgov-Event"] == event
    assert signature_matches(SECRET, got.body, got.headers["X-Mlgov-Signature-256"])
    body = json.loads(got.body)
    assert body["event"] == event
    delivery = OutboundDelivery.objects.get(delivery_id=got.headers["X-Mlgov-Delivery"])
    assert body["delivery_id"] == str(delivery.delivery_id)
    assert (delivery.event, delivery.status, delivery.response_status) == (event, "delivered", 200)
    return body


def test_a_failed_apply_is_a_signed_promotion_failed_webhook(
    world, receiver, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setenv("MLGOV_TEST_HOOK_SECRET", SECRET)
    services.webhook_endpoint_create(
        actor="test",
        name="cd",
        url=receiver.url,
        secret_env_var="MLGOV_TEST_HOOK_SECRET",
        events=["promotion.approved", "promotion.failed", "promotion.applied"],
    )
    req = _request(world)
    services.promotion_approve(request=req, reviewer=world.u("rui"), comment="one")
    with django_capture_on_commit_callbacks(execute=True):
        services.promotion_approve(request=req, reviewer=world.u("rosa"), comment="two")
    approved, failed = receiver.wait_for(2)
    assert _signed(approved, "promotion.approved")["promotion"]["state"] == "approved"
    promotion = _signed(failed, "promotion.failed")["promotion"]
    assert (promotion["id"], promotion["state"], promotion["approvals"]) == (req.pk, "failed", 2)
    assert promotion["error"].startswith("The MLflow connection")  # none is configured for mlflow:test
    assert approved.headers["X-Mlgov-Delivery"] != failed.headers["X-Mlgov-Delivery"]


def test_a_drift_finding_is_a_signed_drift_detected_webhook(
    world, receiver, endpoint, django_capture_on_commit_callbacks
):
    from integrations.models import SyncRun
    from mlgov.governance import tasks
    from mlgov.inventory.models import ModelAlias

    # The last MLflow sync saw production on v4, which no promotion approved.
    ModelAlias.objects.create(model=world.model, alias="production", version=world.v("4"))
    run = SyncRun.objects.create(
        target=world.model.external_source, kind="mlflow", status="succeeded", finished_at=timezone.now()
    )
    with django_capture_on_commit_callbacks(execute=True):
        result = tasks.check_drift.delay(run.pk).get()
    (got,) = receiver.wait_for(1)
    finding = DriftFinding.objects.get()
    assert result["detected"] == [finding.pk]
    drift = _signed(got, "drift.detected")["drift"]
    assert drift == {
        "id": finding.pk,
        "url": f"{drift['url'].split('/governance/')[0]}/governance/drift/?model={world.model.pk}",
        "model": {"id": world.model.pk, "name": "fraud-gbm", "external_source": "mlflow:test"},
        "alias": "production",
        "approved_version": None,
        "mlflow_version": "4",
        "status": "open",
        "sync_run": run.pk,
    }
