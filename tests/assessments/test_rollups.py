"""Rollups and charts, without a database: distributions, team x dimension means, trends, movers, goals,
and the Plotly figures built from them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from assessments import charts
from assessments.rollups import (
    ProjectRow,
    distribution_by_team,
    goal_progress,
    level_counts,
    mean_level,
    movers,
    team_dimension_means,
    trend,
)

NOW = datetime(2026, 11, 30, tzinfo=UTC)


def row(pid: int, team: str, level: int, **dims: int) -> ProjectRow:
    return ProjectRow(pid, f"p{pid}", f"P{pid}", team.lower(), team, 2, "in_use", level, dims, NOW)


ROWS = [
    row(1, "Fraud", 2, people=2, release=3),
    row(2, "Fraud", 0, people=1, release=0),
    row(3, "Recs", 4, people=4, release=4),
]


def test_distribution_means_and_counts():
    assert distribution_by_team(ROWS, range(5)) == {
        "Fraud": {0: 1, 1: 0, 2: 1, 3: 0, 4: 0},
        "Recs": {0: 0, 1: 0, 2: 0, 3: 0, 4: 1},
    }
    assert level_counts(ROWS, range(5)) == {0: 1, 1: 0, 2: 1, 3: 0, 4: 1}
    assert team_dimension_means(ROWS, ["people", "release", "other"]) == {
        "Fraud": {"people": 1.5, "release": 1.5, "other": None},
        "Recs": {"people": 4.0, "release": 4.0, "other": None},
    }
    assert mean_level(ROWS) == 2.0
    assert mean_level([]) is None


def test_trend_steps_through_each_projects_snapshots():
    history = [(1, NOW - timedelta(days=60), 0), (1, NOW - timedelta(days=10), 2), (2, NOW - timedelta(days=30), 4)]
    points = trend(history, end=NOW, days=90, points=4)
    assert [p.day for p in points] == [date(2026, 9, 1), date(2026, 10, 1), date(2026, 10, 31), date(2026, 11, 30)]
    assert [(p.assessed, p.mean) for p in points] == [(0, None), (1, 0.0), (2, 2.0), (2, 3.0)]
    assert points[-1].distribution == {2: 1, 4: 1}


def test_movers_compare_with_the_level_at_the_start_of_the_period():
    since = NOW - timedelta(days=30)
    history = [
        (1, NOW - timedelta(days=90), 1), (1, NOW - timedelta(days=5), 2),  # up 1 -> 2
        (2, NOW - timedelta(days=90), 3), (2, NOW - timedelta(days=2), 0),  # down 3 -> 0
        (3, NOW - timedelta(days=20), 1), (3, NOW - timedelta(days=1), 4),  # first scored since: 1 -> 4
    ]  # fmt: skip
    rows = [*ROWS, row(4, "Recs", 1)]  # p4: no history in the window
    up, down = movers([ROWS[0], ROWS[1], ROWS[2], rows[3]], history, since=since)
    assert [(m.slug, m.before, m.after) for m in up] == [("p3", 1, 4), ("p1", 1, 2)]
    assert [(m.slug, m.before, m.after) for m in down] == [("p2", 3, 0)]
    once = movers([row(5, "Recs", 2)], [(5, NOW - timedelta(days=1), 2)], since=since)
    assert once == ([], [])


def test_goal_progress():
    progress = goal_progress(7, "Tier 1 at 3", 3, date(2027, 3, 31), [1, 2, 3], {1: 3, 2: 4}, date(2027, 3, 1))
    assert (progress.projects, progress.at_target, progress.days_left, progress.met) == (3, 2, 30, False)
    assert round(progress.share, 3) == 0.667
    assert goal_progress(1, "none", 2, date(2027, 1, 1), [], {}, date(2026, 1, 1)).share == 1.0


def test_figures():
    levels = charts.level_distribution(distribution_by_team(ROWS, range(5)), range(5), {0: "No MLOps"})
    assert [t["type"] for t in levels["data"]] == ["bar"] * 5
    assert levels["layout"]["barmode"] == "stack"
    assert levels["data"][0]["x"] == ["Fraud", "Recs"]
    assert levels["data"][0]["y"] == [1, 0]
    heat = charts.team_dimension_heatmap(team_dimension_means(ROWS, ["people"]), [("people", "People")], 4)
    assert heat["data"][0]["type"] == "heatmap"
    assert heat["data"][0]["z"] == [[1.5], [4.0]]
    line = charts.level_trend(trend([(1, NOW, 2)], end=NOW, days=30, points=3), 4)
    assert line["data"][0]["y"] == [None, None, 2.0]
    radar = charts.dimension_radar([("People", 2), ("Release", 3)], 4)
    assert radar["data"][0]["type"] == "scatterpolar"
    assert radar["data"][0]["r"] == [2, 3, 2]  # closed
    assert radar["layout"]["polar"]["radialaxis"]["range"] == [0, 4]
