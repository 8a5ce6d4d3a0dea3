"""The lineage graph as a Plotly figure, built in Python and drawn by the locally served plotly.js.

Columns are hops from the root (upstream to the left, downstream to the right); within a column nodes are
grouped by kind. One trace per node kind (so the legend toggles kinds), one for current edges and one
for ended edges (dashed). A node's `customdata` is its page, which the page script opens on click.
"""

from __future__ import annotations

import json
from typing import Any

import plotly.graph_objects as go

from mlgov.inventory.graph import Result
from mlgov.inventory.lineage_selectors import NodeUrls

KIND_COLOURS = {
    "dataset": "#1b7f5b",
    "feature": "#6aa84f",
    "trainingrun": "#3465a4",
    "commit": "#7f7f7f",
    "pipelinerun": "#b45f06",
    "modelversion": "#674ea7",
    "alias": "#c0392b",
}
KIND_LABELS = {
    "dataset": "Datasets",
    "feature": "Features",
    "trainingrun": "Training runs",
    "commit": "Git commits",
    "pipelinerun": "Pipeline runs",
    "modelversion": "Model versions",
    "alias": "Alias assignments",
}
_TEXT_LIMIT = 80  # above this many nodes, labels show on hover only


def layout_positions(result: Result) -> dict[int, tuple[float, float]]:
    sign = -1 if result.query.direction == "upstream" else 1
    columns: dict[int, list[Any]] = {}
    for node in result.nodes:
        columns.setdefault(result.hops[node.id], []).append(node)
    positions = {}
    order = list(KIND_COLOURS)
    for hop, nodes in columns.items():
        nodes.sort(key=lambda n: (order.index(n.kind) if n.kind in order else 99, n.label, n.id))
        middle = (len(nodes) - 1) / 2
        for i, node in enumerate(nodes):
            positions[node.id] = (sign * hop, middle - i)
    return positions


def lineage_figure(result: Result) -> dict[str, Any]:
    """A JSON-ready Plotly figure ({"data", "layout"}) of a lineage query's result."""
    pos = layout_positions(result)
    fig = go.Figure()
    for ended in (False, True):
        xs: list[float | None] = []
        ys: list[float | None] = []
        for e in result.edges:
            if (e.ended_at is not None) != ended or e.upstream not in pos or e.downstream not in pos:
                continue
            (x0, y0), (x1, y1) = pos[e.upstream], pos[e.downstream]
            xs += [x0, x1, None]
            ys += [y0, y1, None]
        if xs:
            fig.add_trace(
                go.Scatter(
                    x=xs,
                    y=ys,
                    mode="lines",
                    line={"width": 1, "color": "#b0b0b0", "dash": "dash" if ended else "solid"},
                    hoverinfo="skip",
                    name="ended edges" if ended else "edges",
                    showlegend=ended,
                )
            )
    # Edge labels at midpoints: hover shows the relation, its source and when it was observed.
    mx, my, mtext = [], [], []
    labels = {n.id: n.label or n.key for n in result.nodes}
    for e in result.edges:
        if e.upstream in pos and e.downstream in pos:
            (x0, y0), (x1, y1) = pos[e.upstream], pos[e.downstream]
            mx.append((x0 + x1) / 2)
            my.append((y0 + y1) / 2)
            when = e.observed_at.strftime("%Y-%m-%d %H:%M") if e.observed_at else "?"
            end = f", ended {e.ended_at:%Y-%m-%d}" if e.ended_at else ""
            mtext.append(
                f"{labels[e.downstream]} <b>{e.relation}</b> {labels[e.upstream]}<br>{e.source or '—'}, {when}{end}"
            )
    if mx:
        fig.add_trace(
            go.Scatter(
                x=mx,
                y=my,
                mode="markers",
                marker={"size": 4, "color": "#b0b0b0"},
                text=mtext,
                hovertemplate="%{text}<extra></extra>",
                name="relations",
                showlegend=False,
            )
        )
    show_text = len(result.nodes) <= _TEXT_LIMIT
    node_url = NodeUrls()
    for kind, colour in KIND_COLOURS.items():
        nodes = [n for n in result.nodes if n.kind == kind]
        if not nodes:
            continue
        fig.add_trace(
            go.Scatter(
                x=[pos[n.id][0] for n in nodes],
                y=[pos[n.id][1] for n in nodes],
                mode="markers+text" if show_text else "markers",
                text=[(n.label or n.key)[:40] for n in nodes],
                textposition="top center",
                hovertext=[
                    f"{KIND_LABELS[kind][:-1]}: {n.label or n.key}<br>{result.hops[n.id]} hop(s)" for n in nodes
                ],
                hovertemplate="%{hovertext}<extra></extra>",
                customdata=[node_url(n) for n in nodes],
                marker={
                    "size": [16 if result.hops[n.id] == 0 else 11 for n in nodes],
                    "color": colour,
                    "line": {"width": 1, "color": "#fff"},
                },
                name=KIND_LABELS[kind],
            )
        )
    height = max(
        320, min(1400, 60 * max((list(result.hops.values()).count(h) for h in set(result.hops.values())), default=1))
    )
    fig.update_layout(
        height=height,
        margin={"l": 20, "r": 20, "t": 30, "b": 20},
        xaxis={"visible": False, "zeroline": False},
        yaxis={"visible": False, "zeroline": False},
        plot_bgcolor="#fff",
        hovermode="closest",
        legend={"orientation": "h", "y": -0.05},
        dragmode="pan",
    )
    return json.loads(fig.to_json())
