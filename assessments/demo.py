"""The demo step `seed_demo` runs after its syncs: score every project, and set a goal to show progress
against. Idempotent: a second run with unchanged evidence writes no new snapshot and no second goal."""

from __future__ import annotations

from datetime import date

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from assessments.choices import ScoringTrigger
from assessments.models import Assessment, Attestation, MaturityGoal
from assessments.services import attestation_create, projects_score
from mlgov.accounts.models import User
from mlgov.audit.services import audit_record, snapshot
from mlgov.inventory.models import Project

ACTOR = "demo-seed"
GOAL_NAME = "Every tier-1 project at level 3"
# What no system shows, confirmed by the team's maintainer (project, criterion, maintainer, statement).
ATTESTATIONS = [
    (
        "card-fraud",
        "release.engineering-managed",
        "fraud-lead",
        "Releases follow the payments SRE runbook; two approvers.",
    ),
    (
        "card-fraud",
        "people.production-markers",
        "fraud-lead",
        "Precision at 0.5% FPR and p95 latency agreed with risk ops.",
    ),
    ("store-demand", "release.engineering-managed", "forecast-lead", "The platform team ships forecasts weekly."),
    ("pd-model", "release.engineering-managed", "risk-lead", "Model risk management signs off every release."),
]


def _goal_due() -> date:
    """The next 31 March at least three months away."""
    today = timezone.now().date()
    due = date(today.year, 3, 31)
    while (due - today).days < 90:
        due = date(due.year + 1, 3, 31)
    return due


@transaction.atomic
def _demo_goal() -> None:
    if MaturityGoal.objects.filter(name=GOAL_NAME).exists():
        return
    goal = MaturityGoal.objects.create(
        name=GOAL_NAME,
        rubric_id=settings.MLGOV_RUBRIC,
        target_level=3,
        due_date=_goal_due(),
        risk_tier=1,
        created_by_name=ACTOR,
    )
    audit_record(
        actor=ACTOR,
        action="maturity_goal.created",
        target=goal,
        after=snapshot(goal, ("name", "rubric_id", "target_level", "due_date", "risk_tier")),
    )


def _demo_attestations() -> None:
    now = timezone.now()
    for slug, criterion, username, statement in ATTESTATIONS:
        project = Project.objects.filter(slug=slug).first()
        user = User.objects.filter(username=username).first()
        current = Attestation.objects.filter(
            project=project, criterion_id=criterion, revoked_at__isnull=True, expires_at__gt=now
        )
        if project is None or user is None or current.exists():
            continue
        attestation_create(actor=user, project=project, criterion_id=criterion, statement=statement)


def score_demo() -> str:
    """Attest what the demo teams' maintainers would, score every project; one line: each project's level."""
    _demo_attestations()
    run = projects_score(actor=ACTOR, trigger=ScoringTrigger.DEMO)
    _demo_goal()
    levels = (
        Assessment.objects.filter(is_latest=True, rubric_id=run.rubric_id)
        .order_by("project__slug")
        .values_list("project__slug", "level")
    )
    counts = run.counts
    return (
        f"{run.rubric_id}: "
        + ", ".join(f"{slug} {level}" for slug, level in levels)
        + f" ({counts['snapshots']} new snapshots, {counts['unchanged']} unchanged)"
    )
