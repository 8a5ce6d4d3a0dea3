"""Plotly figures for the scorecard pages, built in Python and embedded as JSON; the page draws them with the
plotly.js the app serves itself (static `vendor/plotly/plotly.min.js`, from the plotly package: never a CDN).

Each function returns the figure as a JSON-ready dict (`{"data": [...], "layout": {...}}`) for
`json_script`; assessments/static/assessments/charts.js draws every figure on the page.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio

from assessments.rollups import TrendPoint

LEVEL_COLOURS = ("#b03a2e", "#d35400", "#d4ac0d", "#229954", "#1f618d", "#6c3483")
_FONT = {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 13, "color": "#1d2330"}


def _layout(title: str, **extra: Any) -> go.Layout:
    values: dict[str, Any] = {
        "title": {"text": title, "x": 0, "font": {"size": 15}},
        "font": _FONT,
        "margin": {"l": 60, "r": 20, "t": 50, "b": 60},
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
        "height": 340,
    }
    return go.Layout(**{**values, **extra})


def _json(fig: go.Figure) -> dict[str, Any]:
    return json.loads(pio.to_json(fig, validate=False))


def level_distribution(
    by_team: dict[str, dict[int, int]], levels: Sequence[int], level_names: dict[int, str]
) -> dict[str, Any]:
    """Stacked bars: for each team, how many projects sit at each level."""
    teams = list(by_team)
    traces = [
        go.Bar(
            name=f"{lv} · {level_names.get(lv, lv)}",
            x=teams,
            y=[by_team[t].get(lv, 0) for t in teams],
            marker={"color": LEVEL_COLOURS[i % len(LEVEL_COLOURS)]},
            hovertemplate="%{x}: %{y} project(s) at level " + str(lv) + "<extra></extra>",
        )
        for i, lv in enumerate(levels)
    ]
    layout = _layout(
        "Projects by maturity level, per team",
        barmode="stack",
        yaxis={"title": {"text": "Projects"}, "rangemode": "tozero"},
        legend={"title": {"text": "Level"}, "traceorder": "reversed"},
    )
    return _json(go.Figure(traces, layout))


def team_dimension_heatmap(
    means: dict[str, dict[str, float | None]], dimensions: Sequence[tuple[str, str]], top: int
) -> dict[str, Any]:
    """Heatmap: mean level of each team (rows) on each dimension (columns)."""
    teams = list(means)
    z = [[means[t].get(dim_id) for dim_id, _ in dimensions] for t in teams]
    text = [["—" if v is None else f"{v:.1f}" for v in row] for row in z]
    trace = go.Heatmap(
        z=z,
        x=[name for _, name in dimensions],
        y=teams,
        zmin=0,
        zmax=top,
        text=text,
        texttemplate="%{text}",
        colorscale=[[0, "#fdebd0"], [0.5, "#7fb3d5"], [1, "#1f618d"]],
        colorbar={"title": {"text": "Level"}},
        hovertemplate="%{y} · %{x}: mean level %{z:.2f}<extra></extra>",
    )
    layout = _layout("Mean level by team and dimension", yaxis={"autorange": "reversed"})
    return _json(go.Figure([trace], layout))


def level_trend(points: Sequence[TrendPoint], top: int, title: str = "Mean maturity level over time") -> dict[str, Any]:
    """Line: the mean level of the assessed projects over time, with how many were assessed."""
    trace = go.Scatter(
        x=[p.day.isoformat() for p in points],
        y=[p.mean for p in points],
        mode="lines+markers",
        name="Mean level",
        line={"color": LEVEL_COLOURS[4], "width": 3},
        customdata=[p.assessed for p in points],
        hovertemplate="%{x}: mean level %{y:.2f} over %{customdata} project(s)<extra></extra>",
        connectgaps=False,
    )
    layout = _layout(
        title,
        xaxis={"title": {"text": "Date"}, "type": "date"},
        yaxis={"title": {"text": "Level"}, "range": [0, top + 0.2], "dtick": 1},
        showlegend=False,
    )
    return _json(go.Figure([trace], layout))


def dimension_radar(
    dimensions: Sequence[tuple[str, int]], top: int, title: str = "Level by dimension"
) -> dict[str, Any]:
    """Radar: a project's level on each dimension."""
    names = [name for name, _ in dimensions]
    levels = [level for _, level in dimensions]
    trace = go.Scatterpolar(
        r=[*levels, levels[0]] if levels else [],
        theta=[*names, names[0]] if names else [],
        fill="toself",
        name="Level",
        line={"color": LEVEL_COLOURS[4]},
        hovertemplate="%{theta}: level %{r}<extra></extra>",
    )
    layout = _layout(
        title,
        polar={"radialaxis": {"range": [0, top], "dtick": 1, "angle": 90}},
        showlegend=False,
        height=360,
    )
    return _json(go.Figure([trace], layout))
