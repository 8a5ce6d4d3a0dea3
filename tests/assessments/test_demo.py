"""The demo step seed_demo runs for assessments: attestations by the demo maintainers, a score of every
project, a goal; idempotent (a second run writes nothing)."""

from __future__ import annotations

import pytest
from django.db.models import Max

from assessments.demo import GOAL_NAME, score_demo
from assessments.models import Assessment, Attestation, MaturityGoal
from integrations.hooks import demo_steps
from mlgov.audit.models import AuditEvent
from mlgov.inventory.demo import PROJECTS, seed_organisation

pytestmark = pytest.mark.django_db


def test_the_step_is_registered_and_idempotent():
    assert "Maturity scores" in [label for label, _ in demo_steps()]
    seed_organisation(password="demo-pw-for-tests")
    line = score_demo()
    assert line.startswith("azure-mlops: ")
    for project in PROJECTS:
        assert f"{project.slug} " in line
    assert Assessment.objects.filter(is_latest=True).count() == len(PROJECTS)
    assert Attestation.objects.filter(project__slug="card-fraud").count() == 2
    assert MaturityGoal.objects.get(name=GOAL_NAME).target_level == 3
    last = AuditEvent.objects.aggregate(m=Max("seq"))["m"]
    assert score_demo() == line.replace(line[line.index("(") :], "(0 new snapshots, 7 unchanged)")
    assert AuditEvent.objects.aggregate(m=Max("seq"))["m"] == last  # a second run writes nothing
    assert MaturityGoal.objects.count() == 1
    assert Attestation.objects.count() == 4
