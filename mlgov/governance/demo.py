"""The demo's promotions (a `seed_demo` step, registered in apps.py): policies, requests in every outcome,
promotions applied through the real MLflow write-back to the demo's local store, and a drift finding.

- policies: tier-1 production (two independent approvals, a metric gate, dataset lineage, no AUC
  regression), organisation-wide production (one approval, a green CI run), staging (one approval);
- card-fraud-gbm v6 → production: two reviewers approve; MLflow already holds it, so the write-back only
  tags the version; the alias history starts;
- feed-ranker v3 → staging: approved, and the write-back sets the new `staging` alias in the demo store;
- store-demand-lgbm v5 → production: approved if its CI gate passes, else left pending with the failing gate;
- card-fraud-gbm v7 → production: pending, one approval of two (or blocked by a failing gate);
- feed-ranker v2 → staging: rejected with a comment;
- pd-logit's production alias was set in MLflow directly, never approved: the drift check flags it.

Idempotent: a request is made only when no request exists for its version and target, and the drift check
keeps one open finding per alias.
"""

from __future__ import annotations

import contextlib

from django.db.models import Q

from assessments.models import Assessment
from integrations.models import SyncRun
from mlgov.accounts.models import User
from mlgov.errors import DomainError
from mlgov.governance import services
from mlgov.governance.choices import DriftStatus
from mlgov.governance.models import DriftFinding, PromotionPolicy, PromotionRequest
from mlgov.inventory.models import ModelVersion

ACTOR = "demo-seed"
SOURCE = "mlflow:demo"

POLICIES = [
    {
        "name": "production-tier1",
        "target": "production",
        "risk_tier": 1,
        "description": "High-risk models: two independent reviewers, evidence of quality and lineage.",
        "approvals_required": 2,
        "independence": "strict",
        "metric_gate": "metrics.auc >= 0.85",
        "require_dataset_lineage": True,
        "no_regression": {"auc": "higher"},
        "max_age_hours": 168,
    },
    {
        "name": "production",
        "target": "production",
        "description": "Every other production promotion: one reviewer and a green CI run.",
        "approvals_required": 1,
        "independence": "author",
        "require_green_ci": True,
        "max_age_hours": 168,
    },
    {
        "name": "staging",
        "target": "staging",
        "description": "Staging: one reviewer who did not ask for it.",
        "approvals_required": 1,
        "independence": "requester",
        "max_age_hours": 72,
    },
]


def _version(model: str, number: str) -> ModelVersion | None:
    return (
        ModelVersion.objects.filter(external_source=SOURCE, model__name=model, version=number)
        .select_related("model")
        .first()
    )


def _request(model: str, number: str, target: str, requester: str, justification: str) -> PromotionRequest | None:
    version = _version(model, number)
    if version is None:
        return None
    existing = PromotionRequest.objects.filter(version=version, target=target).order_by("-id").first()
    if existing is not None:
        return None
    try:
        return services.promotion_request_create(
            actor=User.objects.get(username=requester), version=version, target=target, justification=justification
        )
    except DomainError:
        return None


def _approve(request: PromotionRequest | None, *reviewers: str, comment: str = "") -> None:
    for username in reviewers:
        if request is None:
            return
        try:
            request = services.promotion_approve(
                request=request, reviewer=User.objects.get(username=username), comment=comment
            )
        except DomainError:
            return


def seed_promotions() -> str:
    """The `seed_demo` step. Returns one line for the command to print."""
    made = 0
    for spec in POLICIES:
        if not PromotionPolicy.objects.filter(name=spec["name"]).exists():
            services.promotion_policy_create(actor=ACTOR, **spec)
            made += 1

    fraud = _request(
        "card-fraud-gbm",
        "6",
        "production",
        "fraud-lead",
        "v6 has served production since its release; bring it under review.",
    )
    _approve(fraud, "reviewer", "reviewer2", comment="Metrics, lineage and CI look right.")
    staging = _request("feed-ranker", "3", "staging", "recsys-lead", "The new ranker for the staging A/B test.")
    _approve(staging, "reviewer", comment="Fine for staging.")
    demand = _request("store-demand-lgbm", "5", "production", "forecast-lead", "Weekly retrain; holdout MAPE improved.")
    _approve(demand, "reviewer2", comment="CI green on the training commit.")
    pending = _request(
        "card-fraud-gbm", "7", "production", "fraud-ds", "v7 trained on the November data; recall at 1% FPR is up."
    )
    _approve(pending, "reviewer", comment="Looks good to me; a second reviewer please.")
    rejected = _request("feed-ranker", "2", "staging", "recsys-lead", "Try the older ranker in staging again.")
    if rejected is not None:
        with contextlib.suppress(DomainError):
            services.promotion_reject(
                request=rejected,
                reviewer=User.objects.get(username="reviewer2"),
                comment="v3 supersedes it and v2 records no dataset inputs.",
            )

    # The drift check runs after every sync; run it on the latest demo sync too, so that a first seed shows
    # pd-logit's production alias as set outside mlgov.
    last = SyncRun.objects.filter(target=SOURCE, status="succeeded").order_by("-id").first()
    if last is not None:
        services.drift_check(sync_run_id=last.pk)

    requests = PromotionRequest.objects.filter(model__external_source=SOURCE)
    states = {s: requests.filter(state=s).count() for s in ("applied", "pending", "approved", "rejected", "failed")}
    drift = DriftFinding.objects.filter(model__external_source=SOURCE, status=DriftStatus.OPEN)
    open_drift = ", ".join(sorted(f"{f.model.name}@{f.alias}" for f in drift.select_related("model"))) or "none"
    policies_total = PromotionPolicy.objects.filter(Q(name__in=[p["name"] for p in POLICIES])).count()
    return (
        f"{policies_total} policies ({made} new); requests: "
        + ", ".join(f"{n} {s}" for s, n in states.items() if n)
        + f"; open drift findings: {open_drift}"
        + f"; maturity after governance: {_levels()}"
    )


def _levels() -> str:
    """The projects' levels now: applied promotions and drift findings re-score their projects."""
    latest = Assessment.objects.filter(is_latest=True).values_list("project__slug", "level").order_by("project__slug")
    return ", ".join(f"{slug} {level}" for slug, level in latest) or "not scored"
