"""Lineage pages: the graph on the model version and dataset pages, and the dataset impact page."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from mlgov.errors import DomainError
from mlgov.inventory import lineage_selectors as ls
from mlgov.inventory import selectors
from mlgov.inventory.graph import MAX_DEPTH
from mlgov.inventory.lineage_api import query_from_params
from mlgov.inventory.lineage_charts import KIND_LABELS, lineage_figure
from mlgov.inventory.models import RunInput
from mlgov.pages import csv_response

_PAGE_PARAMS = ("direction", "depth", "current", "kinds")
NODE_TABLE_ROWS = 200


def lineage_context(request: HttpRequest, *, kind: str, ident: str, direction: str) -> dict[str, Any]:
    """What the lineage include needs: the query from the page's own parameters (so the URL is shareable),
    the figure, and the first nodes as a table. A bad parameter shows as a message, not an error page."""
    params = {k: request.GET[k] for k in _PAGE_PARAMS if request.GET.get(k)}
    error = ""
    try:
        query = query_from_params(params, direction_default=direction)
    except DomainError as exc:
        error, params = exc.message, {}
        query = query_from_params({}, direction_default=direction)
    root = ls.lineage_root(user=request.user, kind=kind, ident=ident)
    result = ls.lineage_query(user=request.user, roots=[root], query=query)
    nodes = sorted(result.nodes, key=lambda n: (result.hops[n.id], n.kind, n.label))
    node_url = ls.NodeUrls()
    return {
        "lineage": {
            "query": query,
            "error": error,
            "figure": lineage_figure(result),
            "truncated": result.truncated,
            "node_count": len(result.nodes),
            "edge_count": len(result.edges),
            "rows": [
                {
                    "kind": KIND_LABELS.get(n.kind, n.kind),
                    "label": n.label or n.key,
                    "hops": result.hops[n.id],
                    "url": node_url(n),
                }
                for n in nodes[:NODE_TABLE_ROWS]
            ],
            "depths": range(1, MAX_DEPTH + 1),
            "kinds": sorted(query.kinds) if query.kinds else [],
            "api_url": request.build_absolute_uri(f"/api/v1/lineage/{kind}/{ident}")
            + f"?direction={query.direction}&depth={query.depth}",
        }
    }


@login_required
def dataset_page(request: HttpRequest, pk: int) -> HttpResponse:
    """A dataset: where it is, the runs that consumed it, and its lineage (upstream by default)."""
    dataset = get_object_or_404(selectors.dataset_list(user=request.user), pk=pk)
    runs = (
        RunInput.objects.filter(dataset=dataset)
        .select_related("run__experiment")
        .order_by("-run__started_at", "-id")[:50]
    )
    return render(
        request,
        "inventory/dataset_detail.html",
        {"d": dataset, "inputs": runs, **lineage_context(request, kind="dataset", ident=str(pk), direction="upstream")},
    )


@login_required
def impact_page(request: HttpRequest, pk: int) -> HttpResponse:
    """Every model version a dataset reaches, which hold production aliases, and their teams; CSV export."""
    dataset = get_object_or_404(selectors.dataset_list(user=request.user), pk=pk)
    by_digest = request.GET.get("by") == "digest" and dataset.digest
    datasets = ls.impact_datasets(user=request.user, dataset=dataset.digest) if by_digest else [dataset]
    raw = request.GET.get("depth", "")
    depth = int(raw) if raw.isdigit() and 1 <= int(raw) <= MAX_DEPTH else MAX_DEPTH
    impact = ls.lineage_impact(user=request.user, datasets=datasets, depth=depth)
    if request.GET.get("export") == "csv":
        return csv_response(
            f"impact-dataset-{dataset.pk}.csv",
            ["model", "version", "team", "project", "aliases", "production", "past_aliases", "hops"],
            impact.versions,
            lambda v: [
                v.version.model.name,
                v.version.version,
                v.version.model.project.team.slug if v.version.model.project_id else "",
                v.version.model.project.slug if v.version.model.project_id else "",
                " ".join(v.aliases),
                "yes" if v.production else "no",
                " ".join(v.past_aliases),
                v.hops,
            ],
        )
    return render(
        request,
        "inventory/dataset_impact.html",
        {
            "d": dataset,
            "impact": impact,
            "depth": depth,
            "depths": range(1, MAX_DEPTH + 1),
            "by_digest": bool(by_digest),
        },
    )
