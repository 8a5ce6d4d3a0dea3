"""Reads of the lineage graph: resolve a root, walk it (one query per level), hydrate for the API and pages.

The walk itself is `mlgov.inventory.graph.walk` (pure). This module gives it the database-backed fetch:
one SELECT per level over the edge table joined to the node at the far end, filtered by the query's kinds,
window and `current` flag, with the frontier as one array parameter on PostgreSQL (`= ANY(%s)`) and as
`IN (...)` chunks on SQLite. Indexes: the edge table's unique (upstream, downstream, relation) serves the
downstream walk, its index on downstream the upstream walk.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from psycopg import adapters as pg_adapters
from psycopg.pq import Format

from mlgov.errors import NotFound, ValidationFailed
from mlgov.gctools import gc_paused
from mlgov.inventory import selectors
from mlgov.inventory.choices import NodeKind
from mlgov.inventory.graph import MAX_DEPTH, Direction, Node, Query, Result, Step, step_order, walk
from mlgov.inventory.models import (
    Dataset,
    Feature,
    LineageEdge,
    LineageNode,
    ModelAlias,
    ModelVersion,
    PipelineRun,
    TrainingRun,
)

OBJECT_KINDS: dict[str, Any] = {
    NodeKind.DATASET: Dataset,
    NodeKind.FEATURE: Feature,
    NodeKind.TRAINING_RUN: TrainingRun,
    NodeKind.PIPELINE_RUN: PipelineRun,
    NodeKind.MODEL_VERSION: ModelVersion,
}
_SHA = re.compile(r"^[0-9a-fA-F]{4,64}$")
_ALIAS_KEY = re.compile(r"^(\d{1,18}):([A-Za-z0-9_-]{1,100}):(\d{1,18})$")
_SQLITE_CHUNK = 900


def _node(row: LineageNode) -> Node:
    return Node(row.pk, row.kind, row.key, row.label)


def lineage_root(*, user: Any, kind: str, ident: str) -> Node:
    """The node for `<kind>/<ident>` of the API. An inventory object that has no edges yet is a root of its
    own (id 0), so its lineage is just itself. Raises NotFound or ValidationFailed (naming the field)."""
    if kind not in NodeKind.values:
        raise NotFound(f"Unknown lineage kind {kind!r}.", details={"kind": kind, "allowed": NodeKind.values})
    if kind in OBJECT_KINDS:
        if not ident.isdigit() or len(ident) > 18:
            raise ValidationFailed(f"A {kind} is named by its numeric id.", details={"id": ident})
        obj = OBJECT_KINDS[kind].objects.filter(pk=int(ident)).first()
        if obj is None:
            raise NotFound(f"No {kind} {ident}.", details={"kind": kind, "id": ident})
        row = LineageNode.objects.filter(kind=kind, key=ident).first()
        return _node(row) if row else Node(0, kind, ident, str(obj)[:300])
    if kind == NodeKind.COMMIT:
        if not _SHA.match(ident):
            raise ValidationFailed("A commit is named by its SHA (4 to 64 hex digits).", details={"id": ident})
        rows = list(LineageNode.objects.filter(kind=kind, key__startswith=ident.lower()).order_by("key")[:2])
        if len(rows) > 1:
            raise ValidationFailed("That commit prefix is ambiguous; give more digits.", details={"id": ident})
        if not rows:
            raise NotFound(f"No commit {ident} in the lineage graph.", details={"kind": kind, "id": ident})
        return _node(rows[0])
    # an alias assignment: "<model>:<alias>:<version>", or a ModelAlias id for the current holder
    if ident.isdigit() and len(ident) <= 18:
        current = ModelAlias.objects.filter(pk=int(ident)).first()
        if current is None:
            raise NotFound(f"No alias {ident}.", details={"kind": kind, "id": ident})
        ident = f"{current.model_id}:{current.alias}:{current.version_id}"
    elif not _ALIAS_KEY.match(ident):
        raise ValidationFailed(
            "An alias is named by its id or as <model id>:<alias>:<version id>.", details={"id": ident}
        )
    row = LineageNode.objects.filter(kind=kind, key=ident).first()
    if row is None:
        raise NotFound(f"No alias assignment {ident} in the lineage graph.", details={"kind": kind, "id": ident})
    return _node(row)


def _aware(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if timezone.is_aware(value) else value.replace(tzinfo=UTC)


def _in(column: str, ids: Sequence[int]) -> list[tuple[str, list[Any]]]:
    """`column = ANY(%s)` with one array parameter on PostgreSQL; `IN (...)` chunks elsewhere."""
    if not ids:
        return []
    if connection.vendor == "postgresql":
        # An array literal built with one join: psycopg's list adapter checks every element with a regex.
        return [(f"{column} = ANY(%s::bigint[])", ["{" + ",".join(map(str, map(int, ids))) + "}"])]
    return [
        (f"{column} IN ({', '.join(['%s'] * len(chunk))})", list(chunk))
        for chunk in (ids[i : i + _SQLITE_CHUNK] for i in range(0, len(ids), _SQLITE_CHUNK))
    ]


def db_fetch(frontier: Sequence[int], direction: Direction, query: Query) -> list[Step]:
    """One SELECT per call (per chunk of 900 on SQLite): the frontier's edges and the kind of the node at
    their far end, as plain tuples in graph.Step's layout and order, straight from the cursor. No join:
    the edge carries both ends' kinds, and on PostgreSQL a covering index answers it alone. Keys and
    labels come later, for the nodes the walk kept."""
    near, far = ("downstream", "upstream") if direction == "upstream" else ("upstream", "downstream")
    ops = connection.ops
    where, params = [], []
    if query.kinds is not None:
        where.append(f"e.{far}_kind IN ({', '.join(['%s'] * len(query.kinds))})")
        params += sorted(query.kinds)
    if query.since is not None:
        where.append("e.observed_at >= %s")
        params.append(ops.adapt_datetimefield_value(query.since))
    if query.until is not None:
        where.append("e.observed_at <= %s")
        params.append(ops.adapt_datetimefield_value(query.until))
    if query.current:
        where.append("e.ended_at IS NULL")
    extra = "".join(f" AND {w}" for w in where)
    # Only identifiers from the models and fixed fragments are interpolated; every value is a parameter.
    select = (
        "SELECT e.id, e.upstream_id, e.downstream_id, e.relation, e.observed_at, e.ended_at, "  # noqa: S608
        f"e.{far}_id, e.{far}_kind, e.source FROM {LineageEdge._meta.db_table} e WHERE "
    )
    order = f" ORDER BY e.{far}_id, e.relation, e.{near}_id"
    chunks = _in(f"e.{near}_id", [i for i in frontier if i])
    postgres = connection.vendor == "postgresql"
    rows: list[Step] = []
    with connection.cursor() as cursor:
        if postgres:
            # The rows as psycopg makes them, times included: its own timestamptz loader is C, Django's
            # (registered on every cursor) calls Python once per value, a fifth of a wide walk's time.
            cursor.cursor.adapters.register_loader("timestamptz", _PG_TIMESTAMPTZ_LOADER)
        for condition, args in chunks:
            cursor.execute(f"{select}{condition}{extra}{order}", [*args, *params])
            if postgres:
                rows += cursor.fetchall()
            else:  # SQLite gives naive UTC datetimes (or strings): made aware here
                rows += [
                    (r[0], r[1], r[2], r[3], _aware(r[4]), _aware(r[5]), r[6], r[7], r[8]) for r in cursor.fetchall()
                ]
    if len(chunks) > 1:  # SQLite's chunks, each in order: merged
        rows.sort(key=step_order)
    return rows


# psycopg's own (C) loader for timestamptz, as registered before Django replaces it per connection.
_PG_TIMESTAMPTZ_LOADER = pg_adapters.get_loader(pg_adapters.types["timestamptz"].oid, Format.TEXT)


def db_describe(node_ids: Sequence[int]) -> dict[int, tuple[str, str]]:
    """Keys and labels of the nodes the walk reached: one SELECT (per chunk on SQLite)."""
    info: dict[int, tuple[str, str]] = {}
    with connection.cursor() as cursor:
        for condition, args in _in("id", list(node_ids)):
            cursor.execute(f"SELECT id, key, label FROM {LineageNode._meta.db_table} WHERE {condition}", args)  # noqa: S608
            info.update((i, (key, label)) for i, key, label in cursor.fetchall())
    return info


def lineage_query(*, user: Any, roots: Sequence[Node], query: Query) -> Result:
    """Walk the graph from `roots` (see graph.walk): one query per level reached (at most `depth`), then
    one for the nodes' keys and labels.

    The cyclic collector is paused for the walk: it builds tuples, lists, dicts and slotted dataclasses,
    no reference cycles, so reference counting frees all of it and a collection could find nothing. A
    capped walk holds some 25,000 new objects at its peak, enough for dozens of young collections and,
    every third walk or so, a full one over the whole process (40 ms; docs/performance.md, "Lineage")."""
    with gc_paused():
        return walk(roots, query, db_fetch, db_describe)


# --- presentation helpers for the API and the pages ---


_PAGES = {NodeKind.MODEL_VERSION: "modelversion-detail", NodeKind.DATASET: "dataset-detail"}
_API_DETAILS = {
    NodeKind.TRAINING_RUN: "api:trainingrun-detail",
    NodeKind.FEATURE: "api:feature-detail",
    NodeKind.PIPELINE_RUN: "api:pipelinerun-detail",
}
_SENTINEL = 918273645546372819


class NodeUrls:
    """Links for a result's nodes: each URL pattern is reversed once, then filled in per node (a result of a
    few thousand nodes spent most of its JSON rendering in `reverse`, once per node)."""

    def __init__(self) -> None:
        self._around: dict[str, tuple[str, str]] = {}
        for kind, name in {**_PAGES, **_API_DETAILS}.items():
            before, _, after = reverse(name, args=[_SENTINEL]).partition(str(_SENTINEL))
            self._around[kind] = (before, after)

    def _url(self, kind: str, pk: int) -> str:
        before, after = self._around[kind]
        return f"{before}{pk}{after}"

    def __call__(self, node: Node) -> str:
        """A page for the node where there is one, else its API detail."""
        if node.kind == NodeKind.ALIAS:
            match = _ALIAS_KEY.match(node.key)
            return self._url(NodeKind.MODEL_VERSION, int(match.group(3))) if match else ""
        if node.kind not in self._around or not (node.key.isascii() and node.key.isdigit()) or len(node.key) > 18:
            return ""
        return self._url(node.kind, int(node.key))


def node_ref(node: Node) -> str:
    return f"{node.kind}:{node.key}"


def result_as_dict(result: Result) -> dict[str, Any]:
    """The JSON body of a lineage query: nodes (with hops and a URL), edges (from upstream to downstream)."""
    refs = {n.id: node_ref(n) for n in result.nodes}
    url = NodeUrls()
    q = result.query
    return {
        "roots": [node_ref(r) for r in result.roots],
        "direction": q.direction,
        "depth": q.depth,
        "kinds": sorted(q.kinds) if q.kinds is not None else None,
        "since": q.since.isoformat() if q.since else None,
        "until": q.until.isoformat() if q.until else None,
        "current": q.current,
        "truncated": result.truncated,
        "cap": q.cap,
        "node_count": len(result.nodes),
        "edge_count": len(result.edges),
        "nodes": [
            {
                "id": refs[n.id],
                "kind": n.kind,
                "key": n.key,
                "label": n.label or n.key,
                "hops": result.hops[n.id],
                "url": url(n),
            }
            for n in result.nodes
        ],
        "edges": [
            {
                "from": refs[e.upstream],
                "to": refs[e.downstream],
                "relation": e.relation,
                "source": e.source,
                "observed_at": e.observed_at.isoformat() if e.observed_at else None,
                "ended_at": e.ended_at.isoformat() if e.ended_at else None,
            }
            for e in result.edges
        ],
    }


# --- impact: which model versions and aliases a dataset reaches ---


@dataclass(frozen=True)
class ImpactedVersion:
    version: ModelVersion
    hops: int
    aliases: tuple[str, ...]  # held now
    production: bool
    past_aliases: tuple[str, ...]  # assignments the walk reached that have ended


@dataclass(frozen=True)
class Impact:
    datasets: tuple[Dataset, ...]
    result: Result | None
    versions: tuple[ImpactedVersion, ...]
    truncated: bool

    @property
    def production(self) -> list[ImpactedVersion]:
        return [v for v in self.versions if v.production]

    @property
    def teams(self) -> list[str]:
        names = {v.version.model.project.team.name for v in self.versions if v.version.model.project_id}
        return sorted(names)


def impact_datasets(*, user: Any, dataset: str) -> list[Dataset]:
    """Datasets named by id or by digest (a digest may name several: one per source that saw it)."""
    value = (dataset or "").strip()
    if not value or len(value) > 128:
        raise ValidationFailed("Name a dataset by its id or its digest.", details={"dataset": value[:200]})
    condition = Q(digest=value)
    if value.isdigit() and len(value) <= 18:
        condition |= Q(pk=int(value))
    found = list(selectors.dataset_list(user=user).filter(condition).order_by("id")[:100])
    if not found:
        raise NotFound(f"No dataset with id or digest {value!r}.", details={"dataset": value})
    return found


def lineage_impact(
    *,
    user: Any,
    datasets: Sequence[Dataset],
    depth: int = MAX_DEPTH,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Impact:
    """Every model version (and alias assignment) downstream of `datasets`, with who owns it and whether it
    holds a production alias (`MLGOV_LINEAGE_PRODUCTION_ALIASES`). A fixed number of queries per level."""
    query = Query(direction="downstream", depth=depth, since=since, until=until)
    nodes = [_node(n) for n in LineageNode.objects.filter(kind=NodeKind.DATASET, key__in=[str(d.pk) for d in datasets])]
    if not nodes:
        return Impact(tuple(datasets), None, (), False)
    result = lineage_query(user=user, roots=nodes, query=query)
    hops: dict[int, int] = {}
    past: dict[int, list[str]] = {}
    ended_into = {e.downstream for e in result.edges if e.ended_at is not None and e.relation == "assigned"}
    for node in result.nodes:
        if node.kind == NodeKind.MODEL_VERSION:
            pk = int(node.key)
            hops[pk] = min(hops.get(pk, result.hops[node.id]), result.hops[node.id])
        elif node.kind == NodeKind.ALIAS and node.id in ended_into:
            match = _ALIAS_KEY.match(node.key)
            if match:
                past.setdefault(int(match.group(3)), []).append(match.group(2))
    production = set(settings.MLGOV_LINEAGE_PRODUCTION_ALIASES)
    versions = []
    for version in (
        selectors.model_version_list(user=user).filter(pk__in=list(hops)).select_related("model__project__team")
    ):
        held = tuple(a.alias for a in version.aliases.all())
        versions.append(
            ImpactedVersion(
                version=version,
                hops=hops[version.pk],
                aliases=held,
                production=bool(production.intersection(held)),
                past_aliases=tuple(sorted(set(past.get(version.pk, [])) - set(held))),
            )
        )
    versions.sort(key=lambda v: (not v.production, v.version.model.name, v.version.pk))
    return Impact(tuple(datasets), result, tuple(versions), result.truncated)


def impact_as_dict(impact: Impact) -> dict[str, Any]:
    return {
        "datasets": [
            {"id": d.pk, "name": d.name, "digest": d.digest, "source": d.source, "external_source": d.external_source}
            for d in impact.datasets
        ],
        "truncated": impact.truncated,
        "node_count": len(impact.result.nodes) if impact.result else len(impact.datasets),
        "model_version_count": len(impact.versions),
        "production_count": len(impact.production),
        "teams": impact.teams,
        "model_versions": [
            {
                "id": v.version.pk,
                "model": v.version.model.name,
                "version": v.version.version,
                "project": v.version.model.project.slug if v.version.model.project_id else None,
                "team": v.version.model.project.team.slug if v.version.model.project_id else None,
                "aliases": list(v.aliases),
                "production": v.production,
                "past_aliases": list(v.past_aliases),
                "hops": v.hops,
                "url": reverse("modelversion-detail", args=[v.version.pk]),
            }
            for v in impact.versions
        ],
    }


# --- a model version's lineage summary (for the promotion request page of mlgov.governance) ---


def lineage_summary(*, user: Any, version: ModelVersion, depth: int = MAX_DEPTH) -> dict[str, Any]:
    """What a reviewer needs at a glance about a candidate version's upstream: how many nodes of each
    kind, its datasets, commits and CI runs (at most ten of each, with links), and whether the walk was
    truncated. Costs one query for the root, one per level reached and one for keys and labels.

    Template: `{% include "inventory/includes/lineage_summary.html" with summary=... %}`.
    """
    row = LineageNode.objects.filter(kind=NodeKind.MODEL_VERSION, key=str(version.pk)).first()
    root = _node(row) if row else Node(0, NodeKind.MODEL_VERSION, str(version.pk), str(version))
    result = lineage_query(user=user, roots=[root], query=Query(direction="upstream", depth=depth))
    counts: dict[str, int] = {}
    for node in result.nodes[1:]:
        counts[node.kind] = counts.get(node.kind, 0) + 1

    url = NodeUrls()

    def listed(kind: str) -> list[dict[str, str]]:
        return [
            {"label": n.label or n.key, "url": url(n), "key": n.key}
            for n in sorted(result.of_kind(kind), key=lambda n: (result.hops[n.id], n.label))[:10]
        ]

    return {
        "version": version.pk,
        "counts": dict(sorted(counts.items())),
        "datasets": listed(NodeKind.DATASET),
        "commits": listed(NodeKind.COMMIT),
        "pipeline_runs": listed(NodeKind.PIPELINE_RUN),
        "training_runs": listed(NodeKind.TRAINING_RUN),
        "node_count": len(result.nodes),
        "truncated": result.truncated,
        "has_training_run": bool(counts.get(NodeKind.TRAINING_RUN)),
        "has_ci_run": bool(counts.get(NodeKind.PIPELINE_RUN)),
        "url": reverse("modelversion-detail", args=[version.pk]),
    }
