"""The maturity evidence governance provides (assessments.hooks): governed promotions, and aliases changed only
by approved promotions; and the min-maturity gate reading the assessments' level."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from assessments.hooks import evidence_providers, provided_evidence
from assessments.selectors import project_latest_assessment
from assessments.services import projects_score
from integrations.models import SyncRun
from mlgov.governance import policies, selectors, services
from mlgov.governance.evidence import governance_evidence
from mlgov.governance.models import AliasChange, DriftFinding, PromotionRequest
from tests import factories

pytestmark = pytest.mark.django_db


def _applied(world, version="2", at=None):
    at = at or timezone.now() - timedelta(hours=2)
    req = PromotionRequest.objects.create(
        model=world.model,
        version=world.v(version),
        target="production",
        policy=world.policy,
        requested_by=world.u("requester"),
        justification="x",
        state="applied",
        applied_at=at,
        gates=[{"gate": "metric_gate", "status": "pass"}, {"gate": "green_ci", "status": "pass"}],
    )
    AliasChange.objects.create(
        model=world.model,
        alias="production",
        version=world.v(version),
        version_number=version,
        source="promotion",
        request=req,
        started_at=at,
    )
    return req


def _synced(world, at=None):
    return SyncRun.objects.create(
        target=world.model.external_source, kind="mlflow", status="succeeded", finished_at=at or timezone.now()
    )


def test_the_provider_is_registered():
    assert governance_evidence in evidence_providers()


def test_governed_promotions_and_aliases(world):
    project = world.model.project.pk
    assert governance_evidence([project], timezone.now()) == {}
    _applied(world, "1", timezone.now() - timedelta(days=3))
    req = _applied(world, "2")
    records = {e.kind: e for e in governance_evidence([project], timezone.now())[project]}
    assert set(records) == {"promotion.governed"}  # no drift check has run since: aliases not vouched for
    promoted = records["promotion.governed"]
    assert (promoted.source, promoted.count, promoted.link) == ("mlgov:governance", 2, f"/promotions/{req.pk}/")
    assert promoted.observed_at == req.applied_at
    assert promoted.facts == {
        "model": "fraud-gbm",
        "version": "2",
        "alias": "production",
        "gates": ["metric_gate", "green_ci"],
    }
    checked = _synced(world)
    records = {e.kind: e for e in governance_evidence([project], timezone.now())[project]}
    aliases = records["alias.governed"]
    assert (aliases.count, aliases.observed_at, aliases.facts) == (
        1,
        checked.finished_at,
        {"aliases": [f"{world.model.pk}:production"]},
    )
    assert aliases.link == "/promotions/?view=all&project=card-fraud"
    # A drift in the last 90 days: aliases are not governed, and the record is simply absent.
    DriftFinding.objects.create(model=world.model, alias="production", detected_at=timezone.now() - timedelta(days=10))
    assert {e.kind for e in governance_evidence([project], timezone.now())[project]} == {"promotion.governed"}
    assert "alias.governed" in {
        e.kind for e in governance_evidence([project], timezone.now() + timedelta(days=91))[project]
    }


def test_the_provider_costs_a_fixed_number_of_queries(world, django_assert_max_num_queries):
    _applied(world)
    _synced(world)
    with django_assert_max_num_queries(6) as few:
        governance_evidence([world.model.project.pk], timezone.now())
    n = len(few.captured_queries)
    projects = []
    for i in range(15):
        p = factories.ProjectFactory(team=world.team)
        m = factories.RegisteredModelFactory(
            project=p, name=f"m{i}", external_source="mlflow:test", external_id=f"m{i}"
        )
        v = factories.ModelVersionFactory(model=m, version="1")
        PromotionRequest.objects.create(
            model=m,
            version=v,
            target="production",
            policy=world.policy,
            requested_by=world.u("requester"),
            justification="x",
            state="applied",
            applied_at=timezone.now(),
        )
        AliasChange.objects.create(
            model=m, alias="production", version=v, version_number="1", source="promotion", started_at=timezone.now()
        )
        projects.append(p.pk)
    with django_assert_max_num_queries(n):
        out = governance_evidence([world.model.project.pk, *projects], timezone.now())
    assert len(out) == 16


def test_scoring_sees_the_governance_evidence(world):
    _applied(world)
    _synced(world)
    projects_score(actor="test", trigger="cli", project_ids=[world.model.project.pk])
    assessment = project_latest_assessment(project_id=world.model.project.pk)
    criteria = {c["id"]: c for d in assessment.scorecard["dimensions"] for c in d["criteria"]}
    assert criteria["release.governed-promotions"]["status"] == "met"
    assert criteria["release.governed-aliases"]["status"] == "met"
    assert provided_evidence([world.model.project.pk], timezone.now())  # through the hook, as scoring reads it


def test_the_min_maturity_gate_reads_the_assessments_level(world):
    world.policy.min_maturity_level = 2
    world.policy.save()
    req = services.promotion_request_create(
        actor=world.u("requester"), version=world.v("2"), target="production", justification="x"
    )
    gate = {g.gate: g for g in selectors.gates_for(request=req)}[policies.GATE_MATURITY]
    assert (gate.passed, gate.reason) == (False, "the project has no maturity assessment (level 2 needed)")
    factories.AssessmentFactory(project=world.model.project, level=3)
    gate = {g.gate: g for g in selectors.gates_for(request=req)}[policies.GATE_MATURITY]
    assert (gate.passed, gate.reason) == (True, "the project is at level 3 (≥ 2)")
    from assessments.models import Assessment

    Assessment.objects.filter(project=world.model.project, level=3).update(is_latest=False)
    factories.AssessmentFactory(project=world.model.project, level=1, is_latest=True)
    gate = {g.gate: g for g in selectors.gates_for(request=req)}[policies.GATE_MATURITY]
    assert (gate.passed, gate.reason) == (False, "the project is at level 1, below 2")
