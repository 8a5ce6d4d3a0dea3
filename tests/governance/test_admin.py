"""Promotion policies in the Django admin: creating and editing them writes audit events like the API does, and
an invalid gate expression, no-regression mapping or duplicate scope is a form error (never a 500)."""

from __future__ import annotations

import pytest

from mlgov.audit.models import AuditEvent
from mlgov.governance.models import PromotionPolicy
from tests import factories

pytestmark = pytest.mark.django_db
ADD = "/admin/governance/promotionpolicy/add/"


@pytest.fixture
def admin_client(client):
    admin = factories.UserFactory(username="ada", groups=["admins"], is_staff=True, is_superuser=True)
    client.force_login(admin)
    return client


@pytest.fixture
def form():
    risk = factories.TeamFactory(slug="model-risk", name="Model risk")
    return {
        "name": "staging-default",
        "description": "Staging needs one approval and a good AUC.",
        "target": "staging",
        "team": "",
        "risk_tier": "",
        "approvals_required": 1,
        "approver_team": risk.pk,
        "independence": "strict",
        "min_maturity_level": "",
        "metric_gate": "metrics.auc >= 0.8",
        "no_regression": '{"auc": "higher"}',
        "max_age_hours": 72,
        "enabled": "on",
    }


def _policy_events():
    return list(AuditEvent.objects.filter(target_type="promotionpolicy").order_by("seq"))


def _errors(response) -> dict:
    assert response.status_code == 200  # the form again, not a redirect and not a 500
    return response.context["adminform"].form.errors


def test_creating_and_editing_a_policy_in_the_admin_is_audited(admin_client, form):
    response = admin_client.post(ADD, form)
    assert response.status_code == 302, response.content[:2000]
    policy = PromotionPolicy.objects.get(name="staging-default")
    assert policy.as_rules().gates == ("metric_gate", "no_regression")
    response = admin_client.post(
        f"/admin/governance/promotionpolicy/{policy.pk}/change/",
        {**form, "approvals_required": 2, "metric_gate": "metrics.auc >= 0.85 and metrics.latency_p95_ms < 50"},
    )
    assert response.status_code == 302, response.content[:2000]
    policy.refresh_from_db()
    assert policy.approvals_required == 2
    created, updated = _policy_events()
    assert (created.action, created.actor_name, created.source, created.target_id) == (
        "promotionpolicy.created",
        "ada",
        "web",
        str(policy.pk),
    )
    assert created.before is None
    assert created.after["metric_gate"] == "metrics.auc >= 0.8"
    assert created.after["approver_team"] == form["approver_team"]
    assert updated.action == "promotionpolicy.updated"
    assert (updated.before["approvals_required"], updated.after["approvals_required"]) == (1, 2)
    assert updated.before["metric_gate"] == "metrics.auc >= 0.8"
    assert updated.after["metric_gate"] == "metrics.auc >= 0.85 and metrics.latency_p95_ms < 50"


def test_deleting_a_policy_in_the_admin_is_audited(admin_client, form):
    admin_client.post(ADD, form)
    policy = PromotionPolicy.objects.get()
    response = admin_client.post(f"/admin/governance/promotionpolicy/{policy.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not PromotionPolicy.objects.exists()
    deleted = _policy_events()[-1]
    assert (deleted.action, deleted.after) == ("promotionpolicy.deleted", None)
    assert deleted.before["name"] == "staging-default"


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("metrics.auc >=", "Invalid gate expression"),  # a syntax error
        ("metrics.auc >= 0.8 and (metrics.loss < 1", "Invalid gate expression"),  # unbalanced
        ("auc >= 0.8", "unknown name 'auc'"),  # a name that is neither metrics.* nor params.*
        ("__import__('os').system('true')", "Invalid gate expression"),  # never eval'd
    ],
)
def test_a_bad_gate_expression_is_a_form_error(admin_client, form, expression, message):
    errors = _errors(admin_client.post(ADD, {**form, "metric_gate": expression}))
    assert list(errors) == ["metric_gate"]
    assert message in errors["metric_gate"][0]
    assert not PromotionPolicy.objects.exists()
    assert _policy_events() == []


def test_a_bad_gate_expression_on_edit_changes_nothing(admin_client, form):
    admin_client.post(ADD, form)
    policy = PromotionPolicy.objects.get()
    errors = _errors(
        admin_client.post(f"/admin/governance/promotionpolicy/{policy.pk}/change/", {**form, "metric_gate": "metrics."})
    )
    assert "Invalid gate expression" in errors["metric_gate"][0]
    policy.refresh_from_db()
    assert policy.metric_gate == "metrics.auc >= 0.8"
    assert [e.action for e in _policy_events()] == ["promotionpolicy.created"]


def test_a_bad_no_regression_mapping_and_a_duplicate_scope_are_form_errors(admin_client, form):
    errors = _errors(admin_client.post(ADD, {**form, "no_regression": '{"auc": "up"}'}))
    assert 'No-regression metrics are a mapping of metric name to "higher" or "lower"' in errors["no_regression"][0]
    admin_client.post(ADD, form)
    errors = _errors(admin_client.post(ADD, {**form, "name": "staging-again"}))  # a second org-wide staging policy
    assert errors["__all__"]
    assert PromotionPolicy.objects.count() == 1
    assert [e.action for e in _policy_events()] == ["promotionpolicy.created"]
