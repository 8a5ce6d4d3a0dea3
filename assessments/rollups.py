"""Rollups for the scorecard pages and the API: level distributions, team x dimension means, level trends,
movers, and goal progress. Pure Python over plain rows (no Django), so they cost no queries of their own."""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta


@dataclass(frozen=True)
class ProjectRow:
    """A project and its latest assessment."""

    project_id: int
    slug: str
    name: str
    team_slug: str
    team_name: str
    risk_tier: int
    lifecycle: str
    level: int
    dimensions: dict[str, int]
    computed_at: datetime


@dataclass(frozen=True)
class Move:
    project_id: int
    slug: str
    name: str
    team_name: str
    before: int
    after: int


@dataclass(frozen=True)
class TrendPoint:
    day: date
    mean: float | None  # mean level of the projects assessed by then
    assessed: int
    distribution: dict[int, int]  # level -> projects


@dataclass(frozen=True)
class GoalProgress:
    goal_id: int
    name: str
    target_level: int
    due_date: date
    projects: int
    at_target: int
    days_left: int

    @property
    def share(self) -> float:
        return self.at_target / self.projects if self.projects else 1.0

    @property
    def met(self) -> bool:
        return self.at_target == self.projects


def distribution_by_team(rows: Iterable[ProjectRow], levels: Sequence[int]) -> dict[str, dict[int, int]]:
    """{team name: {level: projects}}, teams sorted by name, every level present."""
    out: dict[str, dict[int, int]] = {}
    for row in sorted(rows, key=lambda r: r.team_name):
        out.setdefault(row.team_name, dict.fromkeys(levels, 0))[row.level] += 1
    return out


def level_counts(rows: Iterable[ProjectRow], levels: Sequence[int]) -> dict[int, int]:
    counts = dict.fromkeys(levels, 0)
    for row in rows:
        counts[row.level] += 1
    return counts


def team_dimension_means(rows: Iterable[ProjectRow], dimensions: Sequence[str]) -> dict[str, dict[str, float | None]]:
    """{team name: {dimension id: mean level}}."""
    sums: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        for dim in dimensions:
            if dim in row.dimensions:
                sums[row.team_name][dim].append(row.dimensions[dim])
    return {
        team: {dim: (round(sum(v) / len(v), 2) if (v := sums[team].get(dim)) else None) for dim in dimensions}
        for team in sorted(sums)
    }


def mean_level(rows: Sequence[ProjectRow]) -> float | None:
    return round(sum(r.level for r in rows) / len(rows), 2) if rows else None


def _histories(history: Iterable[tuple[int, datetime, int]]) -> dict[int, tuple[list[datetime], list[int]]]:
    out: dict[int, tuple[list[datetime], list[int]]] = {}
    for pid, at, level in sorted(history, key=lambda h: (h[0], h[1])):
        times, levels = out.setdefault(pid, ([], []))
        times.append(at)
        levels.append(level)
    return out


def _level_at(times: list[datetime], levels: list[int], when: datetime) -> int | None:
    i = bisect_right(times, when)
    return levels[i - 1] if i else None


def trend(
    history: Iterable[tuple[int, datetime, int]], *, end: datetime, days: int, points: int = 13
) -> list[TrendPoint]:
    """The level of each project over time, from its snapshots (project id, computed at, level): at each of
    `points` evenly spaced days up to `end`, each project's level is that of its latest snapshot by then."""
    series = _histories(history)
    step = max(days / max(points - 1, 1), 1 / 24)
    out = []
    for i in range(points):
        when = end - timedelta(days=step * (points - 1 - i))
        levels = [lv for t, ls in series.values() if (lv := _level_at(t, ls, when)) is not None]
        distribution: dict[int, int] = defaultdict(int)
        for lv in levels:
            distribution[lv] += 1
        out.append(
            TrendPoint(
                day=when.date(),
                mean=round(sum(levels) / len(levels), 2) if levels else None,
                assessed=len(levels),
                distribution=dict(sorted(distribution.items())),
            )
        )
    return out


def movers(
    rows: Iterable[ProjectRow], history: Iterable[tuple[int, datetime, int]], *, since: datetime
) -> tuple[list[Move], list[Move]]:
    """Projects whose level now differs from their level at `since` (or, for a project first scored since
    then, from its first level): up, down. A project scored once is no mover."""
    series = _histories(history)
    up, down = [], []
    for row in rows:
        times, levels = series.get(row.project_id, ([], []))
        before = _level_at(times, levels, since)
        if before is None:  # first scored during the period: no move to show
            before = levels[0] if times and levels[0] != row.level else None
            if before is None:
                continue
        if before == row.level:
            continue
        move = Move(row.project_id, row.slug, row.name, row.team_name, before, row.level)
        if row.level > before:
            up.append(move)
        else:
            down.append(move)
    key = lambda m: (-abs(m.after - m.before), m.slug)  # noqa: E731
    return sorted(up, key=key), sorted(down, key=key)


def goal_progress(
    goal_id: int,
    name: str,
    target_level: int,
    due_date: date,
    projects: Iterable[int],
    levels: dict[int, int],
    today: date,
) -> GoalProgress:
    ids = list(projects)
    return GoalProgress(
        goal_id=goal_id,
        name=name,
        target_level=target_level,
        due_date=due_date,
        projects=len(ids),
        at_target=sum(1 for pid in ids if levels.get(pid, -1) >= target_level),
        days_left=(due_date - today).days,
    )
