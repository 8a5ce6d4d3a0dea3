"""The `policies:` section of the organisation config file, registered through integrations.hooks."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from integrations import hooks
from integrations.config import ConfigError, config_apply, parse_config
from mlgov.audit.models import AuditEvent
from mlgov.governance.models import PromotionPolicy

pytestmark = pytest.mark.django_db

CONFIG = """
teams:
  - {slug: fraud, name: Fraud Detection}
  - {slug: model-risk, name: Model risk}
policies:
  - name: tier1-production
    target: production
    risk_tier: 1
    approvals_required: 2
    approver_team: model-risk
    independence: strict
    metric_gate: "metrics.auc >= 0.85 and metrics.latency_p95_ms < 50"
    require_green_ci: true
    require_dataset_lineage: true
    no_regression: {auc: higher, latency_p95_ms: lower}
    max_age_hours: 168
  - name: fraud-staging
    target: staging
    team: fraud
    approvals_required: 1
    independence: requester
    max_age_hours: null
"""


def test_the_section_is_registered_once_by_governance():
    names = [name for name, _, _ in hooks.config_sections()]
    assert names.count("policies") == 1


def test_policies_are_declared_in_the_config_file_and_applied_idempotently():
    changed = config_apply(actor="test", config=parse_config(CONFIG), source_name="org.yaml")
    assert changed["policies"] == 2
    tier1 = PromotionPolicy.objects.get(name="tier1-production")
    assert (tier1.target, tier1.risk_tier, tier1.approvals_required, tier1.approver_team.slug) == (
        "production",
        1,
        2,
        "model-risk",
    )
    assert tier1.no_regression == {"auc": "higher", "latency_p95_ms": "lower"}
    assert tier1.as_rules().gates == ("metric_gate", "green_ci", "dataset_lineage", "no_regression")
    staging = PromotionPolicy.objects.get(name="fraud-staging")
    assert (staging.team.slug, staging.max_age_hours, staging.independence) == ("fraud", None, "requester")
    assert AuditEvent.objects.filter(action="promotionpolicy.created").count() == 2
    events = AuditEvent.objects.count()
    again = config_apply(actor="test", config=parse_config(CONFIG), source_name="org.yaml")
    assert again["policies"] == 0
    assert AuditEvent.objects.count() == events  # nothing changed, nothing written
    changed = config_apply(
        actor="test",
        config=parse_config(CONFIG.replace("approvals_required: 2", "approvals_required: 3")),
        source_name="x",
    )
    assert changed["policies"] == 1
    assert PromotionPolicy.objects.get(name="tier1-production").approvals_required == 3
    assert AuditEvent.objects.filter(action="promotionpolicy.updated").count() == 1


def test_every_problem_in_the_section_is_named_by_its_path():
    bad = """
teams:
  - {slug: fraud, name: Fraud}
policies:
  - {name: a, target: production, metric_gate: "metrics.auc >= "}
  - {name: b, target: production, approver_team: nobody}
  - {name: c, target: latest}
  - {name: d, target: staging, independence: loose, colour: red}
  - {name: e, target: staging, no_regression: {auc: up}, approvals_required: 0}
  - {name: f, target: staging, min_maturity_level: 7, risk_tier: 4}
  - {name: g, target: staging, metric_gate: "auc > 1"}
  - {target: staging}
  - just text
"""
    with pytest.raises(ConfigError) as info:
        parse_config(bad)
    problems = info.value.details["problems"]
    assert (
        "policies[0].metric_gate: column 16: expected a number, a string or a name but found the end of the "
        "expression" in problems
    )
    assert "policies[1].approver_team: unknown team 'nobody'" in problems
    assert "policies[2].target: MLflow reserves the alias 'latest'." in problems
    assert "policies[3]: unknown key(s) colour" in problems
    assert "policies[4].approvals_required: must be between 1 and 10" in problems
    assert 'policies[4].no_regression: a mapping of metric name to "higher" or "lower"' in problems
    assert "policies[5].min_maturity_level: must be between 0 and 4" in problems
    assert "policies[5].risk_tier: must be 1, 2 or 3" in problems
    assert (
        "policies[6].metric_gate: column 1: unknown name 'auc': names are metrics.<name> or params.<name>" in problems
    )
    assert "policies[7].name: required" in problems
    assert "policies[8]: must be a mapping" in problems
    assert any(p.startswith("policies[3].independence: must be one of") for p in problems)
    assert not PromotionPolicy.objects.exists()


def test_apply_config_check_and_apply(tmp_path):
    path = tmp_path / "org.yaml"
    path.write_text(CONFIG)
    out = io.StringIO()
    call_command("apply_config", str(path), "--check", stdout=out)
    assert "valid" in out.getvalue()
    assert not PromotionPolicy.objects.exists()
    call_command("apply_config", str(path), stdout=out)
    assert "policies 2" in out.getvalue()
    path.write_text(CONFIG + "  - {name: broken, target: x, metric_gate: 'metrics.a >'}\n")
    with pytest.raises(CommandError, match=r"policies\[2\]\.metric_gate"):
        call_command("apply_config", str(path), stdout=out)
    path.write_text("policy:\n  - {name: x}\n")
    with pytest.raises(CommandError, match="unknown key"):
        call_command("apply_config", str(path), stdout=out)
