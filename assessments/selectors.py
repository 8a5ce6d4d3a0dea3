"""Reads of assessments. Every list costs a fixed number of queries whatever its length.

`project_maturity_levels` / `project_maturity_level` are the interface other apps use (governance's
"minimum maturity level" promotion gate): the overall level of each project's latest assessment against
the organisation's rubric (`MLGOV_RUBRIC`). Projects never assessed are absent / None.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db.models import QuerySet

from assessments.models import Assessment


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
