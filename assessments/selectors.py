"""Reads of assessments. Every list costs a fixed number of queries whatever its length.

`project_maturity_levels` / `project_maturity_level` are the interface other apps use (governance's
"minimum maturity level" promotion gate): the overall level of each project's latest assessment against
the organisation's rubric (`MLGOV_RUBRIC`). Projects never assessed are absent / None.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from assessments.models import Assessment, Attestation, MaturityGoal, ScoringRun, Waiver
from assessments.rollups import (
    GoalProgress,
    ProjectRow,
    goal_progress,
    level_counts,
    mean_level,
    team_dimension_means,
    trend,
)
from assessments.rubric import Rubric, available_rubrics
from mlgov.inventory.models import Project


def default_rubric_id() -> str:
    return settings.MLGOV_RUBRIC


def project_maturity_levels(*, project_ids: Iterable[int], rubric_id: str | None = None) -> dict[int, int]:
    """{project id: overall level} of each project's latest assessment (one query per 2,000 ids)."""
    ids = sorted({int(pk) for pk in project_ids})
    rubric = rubric_id or default_rubric_id()
    levels: dict[int, int] = {}
    for start in range(0, len(ids), 2000):
        chunk = ids[start : start + 2000]
        levels.update(
            Assessment.objects.filter(is_latest=True, rubric_id=rubric, project_id__in=chunk).values_list(
                "project_id", "level"
            )
        )
    return levels


def project_maturity_level(*, project_id: int, rubric_id: str | None = None) -> int | None:
    """The overall level of the project's latest assessment, or None when it was never assessed."""
    return project_maturity_levels(project_ids=[project_id], rubric_id=rubric_id).get(int(project_id))


def latest_assessments(*, user: Any, rubric_id: str | None = None) -> QuerySet[Assessment]:
    """Each project's latest assessment (against one rubric), with its project and team (one query)."""
    return Assessment.objects.filter(is_latest=True, rubric_id=rubric_id or default_rubric_id()).select_related(
        "project__team"
    )


def project_latest_assessment(*, project_id: int, rubric_id: str | None = None) -> Assessment | None:
    return (
        Assessment.objects.filter(project_id=project_id, is_latest=True, rubric_id=rubric_id or default_rubric_id())
        .select_related("project__team")
        .first()
    )


def project_history(*, project_id: int, rubric_id: str | None = None) -> QuerySet[Assessment]:
    """A project's snapshots, newest first (the scorecard JSON deferred: lists show levels only)."""
    return (
        Assessment.objects.filter(project_id=project_id, rubric_id=rubric_id or default_rubric_id())
        .defer("scorecard")
        .order_by("-computed_at", "-id")
    )


# --- pages and rollups ---


def scoring_run_list(*, user: Any) -> QuerySet[ScoringRun]:
    return ScoringRun.objects.all()


def attestation_list(*, user: Any) -> QuerySet[Attestation]:
    return Attestation.objects.select_related("project__team")


def waiver_list(*, user: Any) -> QuerySet[Waiver]:
    return Waiver.objects.select_related("project__team")


def goal_list(*, user: Any) -> QuerySet[MaturityGoal]:
    return MaturityGoal.objects.select_related("team")


def project_rows(qs: QuerySet[Assessment]) -> list[ProjectRow]:
    """Latest assessments (from `latest_assessments`, filtered) as rollup rows, in one query."""
    fields = (
        "project_id",
        "project__slug",
        "project__name",
        "project__team__slug",
        "project__team__name",
        "project__risk_tier",
        "project__lifecycle",
        "level",
        "dimensions",
        "computed_at",
    )
    return [ProjectRow(*values) for values in qs.order_by("project__slug").values_list(*fields)]


def level_history(*, latest: QuerySet[Assessment], rubric_id: str) -> list[tuple[int, datetime, int]]:
    """(project id, computed at, level) of every snapshot of the projects in `latest`, in one query."""
    return list(
        Assessment.objects.filter(rubric_id=rubric_id, project_id__in=latest.values("project_id"))
        .order_by()
        .values_list("project_id", "computed_at", "level")
    )


def goals_progress(*, goals: Iterable[MaturityGoal], today: date) -> list[GoalProgress]:
    """Each goal's progress: of the projects it covers (team, risk tier, lifecycle), how many have reached
    its level. Two queries whatever the number of goals and projects."""
    goals = list(goals)
    if not goals:
        return []
    projects = list(Project.objects.values_list("id", "team_id", "risk_tier", "lifecycle"))
    levels_by_rubric: dict[str, dict[int, int]] = {}
    for rubric_id in sorted({g.rubric_id for g in goals}):
        levels_by_rubric[rubric_id] = dict(
            Assessment.objects.filter(is_latest=True, rubric_id=rubric_id).values_list("project_id", "level")
        )
    out = []
    for g in goals:
        covered = [
            pid
            for pid, team_id, tier, lifecycle in projects
            if (g.team_id is None or team_id == g.team_id)
            and (g.risk_tier is None or tier == g.risk_tier)
            and (not g.lifecycle or lifecycle == g.lifecycle)
        ]
        out.append(
            goal_progress(g.pk, g.name, g.target_level, g.due_date, covered, levels_by_rubric[g.rubric_id], today)
        )
    return out


def team_maturity(*, team_id: int, rubric: Rubric, days: int = 180, now: datetime | None = None) -> dict[str, Any]:
    """A team's rollup (projects, levels, mean, per-dimension means) and trend, in three queries."""
    now = now or timezone.now()
    latest = latest_assessments(user=None, rubric_id=rubric.id).filter(project__team_id=team_id)
    rows = project_rows(latest)
    total = Project.objects.filter(team_id=team_id).count()
    dims = [d.id for d in rubric.dimensions]
    means = team_dimension_means(rows, dims)
    history = level_history(latest=latest, rubric_id=rubric.id)
    return {
        "rows": rows,
        "projects": total,
        "assessed": len(rows),
        "levels": level_counts(rows, rubric.level_numbers),
        "mean_level": mean_level(rows),
        "dimensions": next(iter(means.values()), dict.fromkeys(dims)),
        "trend": trend(history, end=now, days=days),
    }


def assessment_list(*, user: Any) -> QuerySet[Assessment]:
    """Every snapshot, with its project (history)."""
    return Assessment.objects.select_related("project__team")


def scorecard_detail(assessment: Assessment) -> dict[str, Any]:
    """A stored scorecard with what the rubric says joined back: each criterion's and next step's title,
    dimension, method, detector and guidance, when the rubric is still at the snapshot's version (else the
    criterion's id stands for its title, and the rest is empty)."""
    card = assessment.scorecard
    rubric = available_rubrics().get(assessment.rubric_id)
    current = rubric is not None and rubric.version == assessment.rubric_version

    def about(criterion_id: str, dimension: str = "") -> dict[str, Any]:
        c = rubric.criterion(criterion_id) if current else None
        if c is None:
            return {"title": criterion_id, "dimension": dimension, "method": "", "detector": None, "guidance": ""}
        return {
            "title": c.title,
            "dimension": c.dimension,
            "method": c.method,
            "detector": c.detector,
            "guidance": c.guidance,
        }

    dimensions = []
    for d in card.get("dimensions", []):
        criteria = [
            {"attestation": None, "waiver": None, **c, **about(c["id"], d["id"]), "dimension_name": d["name"]}
            for c in d.get("criteria", [])
        ]
        dimensions.append({**d, "criteria": criteria})
    names = {d["id"]: d["name"] for d in dimensions}
    steps = []
    for s in card.get("next_steps", []):
        info = about(s["criterion"])
        steps.append({**s, **info, "dimension_name": names.get(info["dimension"], info["dimension"])})
    return {**card, "dimensions": dimensions, "next_steps": steps}
