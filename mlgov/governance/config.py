"""The `policies:` section of the organisation config file (`manage.py apply_config`).

    policies:
      - name: tier1-production
        target: production
        risk_tier: 1
        approvals_required: 2
        approver_team: model-risk
        independence: strict
        min_maturity_level: 2
        metric_gate: "metrics.auc >= 0.85 and metrics.latency_p95_ms < 50"
        require_green_ci: true
        require_dataset_lineage: true
        no_regression: {auc: higher, latency_p95_ms: lower}
        max_age_hours: 168
        revert_drift: false

Registered from GovernanceConfig.ready() through `integrations.hooks.register_config_section`, since the
config module (in integrations) cannot import governance. Policies are matched by name; a policy the file
omits is left as it is. Applying is idempotent and audited through the policy services.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError

from integrations.hooks import ConfigContext
from mlgov.governance import policies
from mlgov.governance.choices import Independence
from mlgov.governance.models import PromotionPolicy, validate_alias
from mlgov.governance.services import promotion_policy_create, promotion_policy_update
from mlgov.inventory.choices import RiskTier
from mlgov.inventory.models import Team

_KEYS: dict[str, tuple[type | tuple[type, ...], bool]] = {
    "name": (str, True),
    "target": (str, True),
    "description": (str, False),
    "team": (str, False),
    "risk_tier": (int, False),
    "approvals_required": (int, False),
    "approver_team": (str, False),
    "independence": (str, False),
    "min_maturity_level": (int, False),
    "metric_gate": (str, False),
    "require_green_ci": (bool, False),
    "require_dataset_lineage": (bool, False),
    "no_regression": (dict, False),
    "max_age_hours": ((int, type(None)), False),
    "revert_drift": (bool, False),
    "enabled": (bool, False),
}


@dataclass(frozen=True)
class PolicySpec:
    name: str
    target: str
    values: dict[str, Any] = field(default_factory=dict)  # the other keys the file gives, teams as slugs


def parse_policies(data: object, context: ConfigContext) -> tuple[tuple[PolicySpec, ...], list[str]]:
    problems: list[str] = []
    if data is None:
        return (), problems
    if not isinstance(data, list):
        return (), ["policies: must be a list"]
    specs: list[PolicySpec] = []
    known_teams = set(context.teams) | set(Team.objects.values_list("slug", flat=True))
    for i, item in enumerate(data):
        path = f"policies[{i}]"
        if not isinstance(item, dict):
            problems.append(f"{path}: must be a mapping")
            continue
        before = len(problems)
        unknown = sorted(set(item) - set(_KEYS))
        if unknown:
            problems.append(f"{path}: unknown key(s) {', '.join(map(str, unknown))}")
        typed = len(problems)
        for key, (kind, required) in _KEYS.items():
            if key not in item:
                if required:
                    problems.append(f"{path}.{key}: required")
                continue
            value = item[key]
            if (isinstance(value, bool) and kind in (int, (int, type(None)))) or not isinstance(value, kind):
                problems.append(f"{path}.{key}: must be {getattr(kind, '__name__', 'an integer or null')}")
        if len(problems) > typed:
            continue  # the values checked below are not of the right types
        for key in ("team", "approver_team"):
            if key in item and item[key] not in known_teams:
                problems.append(f"{path}.{key}: unknown team {item[key]!r}")
        try:
            validate_alias(item["target"])
        except ValidationError as exc:
            problems.append(f"{path}.target: {' '.join(exc.messages)}")
        if item.get("risk_tier") is not None and item["risk_tier"] not in RiskTier.values:
            problems.append(f"{path}.risk_tier: must be 1, 2 or 3")
        if not 1 <= item.get("approvals_required", 1) <= 10:
            problems.append(f"{path}.approvals_required: must be between 1 and 10")
        if item.get("independence", Independence.STRICT) not in Independence.values:
            problems.append(f"{path}.independence: must be one of {', '.join(Independence.values)}")
        level = item.get("min_maturity_level")
        if level is not None and not 0 <= level <= 4:
            problems.append(f"{path}.min_maturity_level: must be between 0 and 4")
        if item.get("metric_gate", "").strip():
            try:
                policies.parse_expression(item["metric_gate"])
            except policies.ExpressionError as exc:
                problems.append(f"{path}.metric_gate: {exc}")
        regression = item.get("no_regression", {})
        if any(not isinstance(k, str) or v not in (policies.HIGHER, policies.LOWER) for k, v in regression.items()):
            problems.append(f'{path}.no_regression: a mapping of metric name to "higher" or "lower"')
        if item.get("max_age_hours") is not None and item["max_age_hours"] < 1:
            problems.append(f"{path}.max_age_hours: must be at least 1 (or null: never expire)")
        if len(problems) == before:
            values = {k: v for k, v in item.items() if k not in ("name", "target")}
            specs.append(PolicySpec(item["name"], item["target"], values))
    names = [s.name for s in specs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        problems.append(f"policies: duplicate {', '.join(dupes)}")
    return tuple(specs), problems


def apply_policies(specs: object, actor: object) -> int:
    """Create or update each policy by name. Returns how many changed."""
    changed = 0
    teams = {t.slug: t for t in Team.objects.all()}
    for spec in specs:  # type: ignore[attr-defined]
        values = dict(spec.values)
        for key in ("team", "approver_team"):
            if key in values:
                values[key] = teams[values[key]] if values[key] else None
        policy = PromotionPolicy.objects.filter(name=spec.name).first()
        if policy is None:
            promotion_policy_create(actor=actor, name=spec.name, target=spec.target, **values)
            changed += 1
            continue
        updated_before = policy.updated_at
        policy = promotion_policy_update(actor=actor, policy=policy, target=spec.target, **values)
        changed += policy.updated_at != updated_before
    return changed
