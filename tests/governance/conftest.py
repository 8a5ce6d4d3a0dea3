"""A small organisation to promote in: a team, a tier-1 project, a model with versions trained by a person
and by a CI service account, CI runs and datasets, reviewers inside and outside the approver team, a
manager, an admin, and a production policy."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.utils import timezone

from mlgov.accounts.models import User
from mlgov.governance.models import DriftFinding, PromotionPolicy
from mlgov.inventory.models import ModelVersion, RegisteredModel, Team, TrainingRun
from tests import factories
from tests.governance.receiver import Receiver


@dataclass
class World:
    team: Team
    risk_team: Team
    model: RegisteredModel
    versions: dict[str, ModelVersion]
    runs: dict[str, TrainingRun]
    users: dict[str, User]
    policy: PromotionPolicy
    extra: dict[str, Any] = field(default_factory=dict)

    def v(self, n: str) -> ModelVersion:
        return self.versions[n]

    def u(self, name: str) -> User:
        return self.users[name]

    def drift(self, number: str = "4", **fields: Any) -> DriftFinding:
        """An open drift finding: `production` moved in MLflow to version `number`, outside mlgov."""
        return DriftFinding.objects.create(
            model=self.model,
            alias="production",
            observed_version=self.v(number),
            observed_number=number,
            detected_at=timezone.now(),
            **fields,
        )


def build_world(
    *, external_source: str = "mlflow:test", model_name: str = "fraud-gbm", policy: dict[str, Any] | None = None
) -> World:
    team = factories.TeamFactory(slug="fraud", name="Fraud")
    risk_team = factories.TeamFactory(slug="model-risk", name="Model risk")
    project = factories.ProjectFactory(team=team, slug="card-fraud", name="Card fraud", risk_tier=1)
    model = factories.RegisteredModelFactory(
        project=project, name=model_name, external_source=external_source, external_id=model_name
    )
    experiment = factories.ExperimentFactory(project=project, external_source=external_source)
    users = {
        "requester": factories.MembershipFactory(team=team, role="member", user__username="fatima").user,
        "maintainer": factories.MembershipFactory(team=team, role="maintainer", user__username="femi").user,
        "rui": factories.UserFactory(username="rui", groups=["reviewers"]),
        "rosa": factories.UserFactory(username="rosa", groups=["reviewers"]),
        "raj": factories.UserFactory(username="raj", groups=["reviewers"]),
        "outsider": factories.UserFactory(username="olga", groups=["reviewers"]),
        "plain": factories.UserFactory(username="paul"),
        "manager": factories.UserFactory(username="maya", groups=["managers"]),
        "admin": factories.UserFactory(username="ada", groups=["admins"]),
        "ci": factories.UserFactory(username="ci-bot", groups=["reviewers"], is_service_account=True),
        "author": factories.UserFactory(username="alice", groups=["reviewers"]),
    }
    for name in ("rui", "rosa", "raj", "author"):
        factories.MembershipFactory(team=risk_team, user=users[name], role="member")
    pipeline = factories.PipelineFactory(project=project, name="train")
    specs = {
        # version: (run author, auc, latency, CI status or None, with datasets)
        "1": ("alice", 0.88, 40.0, "success", True),
        "2": ("alice", 0.91, 35.0, "success", True),
        "3": ("ci-bot", 0.92, 30.0, "success", True),
        "4": ("alice", 0.70, 35.0, "failure", False),
    }
    versions, runs = {}, {}
    for n, (author, auc, latency, ci, with_data) in specs.items():
        commit = hashlib.sha1(f"{model_name} v{n}".encode()).hexdigest()  # a commit-like id
        run = factories.TrainingRunFactory(
            experiment=experiment,
            user=author,
            launched_by="service" if author == "ci-bot" else "person",
            git_commit=commit,
            metrics={"auc": auc, "latency_p95_ms": latency},
            params={"max_depth": "6", "optimizer": "adam"},
            external_source=external_source,
        )
        if with_data:
            ds = factories.DatasetFactory(project=project, name=f"txns-{n}", external_source=external_source)
            run.inputs.create(dataset=ds, context="training")
        if ci:
            factories.PipelineRunFactory(pipeline=pipeline, commit_sha=commit, status=ci)
        versions[n] = factories.ModelVersionFactory(
            model=model,
            version=n,
            training_run=run,
            run_id=run.external_id,
            git_commit=commit,
            metrics={"auc": auc},
            external_source=external_source,
            external_id=f"{model_name}/{n}",
        )
        runs[n] = run
    values = {
        "name": "tier1-production",
        "target": "production",
        "risk_tier": 1,
        "approvals_required": 2,
        "approver_team": risk_team,
        "independence": "strict",
        "metric_gate": "metrics.auc >= 0.85 and metrics.latency_p95_ms < 50",
        "require_green_ci": True,
        "require_dataset_lineage": True,
        "no_regression": {"auc": "higher"},
        "max_age_hours": 48,
        **(policy or {}),
    }
    return World(
        team=team,
        risk_team=risk_team,
        model=model,
        versions=versions,
        runs=runs,
        users=users,
        policy=PromotionPolicy.objects.create(**values),
    )


@pytest.fixture
def world(db) -> World:
    return build_world()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real local HTTP server receiving the outbound webhooks."""
    r = Receiver().start()
    yield r
    r.stop()
