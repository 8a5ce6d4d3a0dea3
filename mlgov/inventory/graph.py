"""The lineage walk: plain Python over frozen dataclasses, no Django.

The walk is breadth-first from one or more roots, one hop per level. Each level asks `fetch` for the
edges of the whole frontier at once (the database-backed fetch in `lineage_selectors` is one query per
level, on PostgreSQL and SQLite alike), so a walk of depth d costs at most d fetches however wide it
gets. Tests pass an in-memory fetch (`AdjacencyFetch`).

Rules:
- a node is visited once (cycles end; a diamond's second path adds its edge, not the node again);
- `depth` is the number of hops from the roots (default 5, at most 20);
- `kinds` limits which nodes the walk enters (the roots are always in); the walk does not pass through
  a node of another kind;
- `since` / `until` keep only the edges observed in that window; `current` drops ended edges;
- at most `cap` nodes (default 5,000): a node beyond the cap is not added, `truncated` is set and the walk
  stops after that level. Within a level, neighbours are taken in id order (the fetch's contract), so a
  truncated result is the same every time.

Speed matters here (a depth-10 walk of a few thousand edges is asked for on every lineage page and API
call; docs/performance.md, "Lineage"): the walk reads the fetch's tuples as they come, builds one Edge per
kept step while it goes (the tuples die with their level), and Node and Edge are slotted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

Direction = Literal["upstream", "downstream"]
DIRECTIONS: tuple[Direction, ...] = ("upstream", "downstream")
DEFAULT_DEPTH = 5
MAX_DEPTH = 20
DEFAULT_CAP = 5000
MAX_CAP = 5000


class QueryError(ValueError):
    """A query parameter is out of range; `field` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class Node:
    id: int
    kind: str
    key: str
    label: str = ""


@dataclass(frozen=True, slots=True)
class Edge:
    """`downstream` depends on `upstream` (data flows upstream -> downstream)."""

    upstream: int
    downstream: int
    relation: str
    source: str = ""
    observed_at: datetime | None = None
    ended_at: datetime | None = None

    @property
    def key(self) -> tuple[int, int, str]:
        return (self.upstream, self.downstream, self.relation)


@dataclass(frozen=True)
class Query:
    direction: Direction = "upstream"
    depth: int = DEFAULT_DEPTH
    kinds: frozenset[str] | None = None
    since: datetime | None = None
    until: datetime | None = None
    current: bool = False
    cap: int = DEFAULT_CAP

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise QueryError("direction", f"direction must be one of {', '.join(DIRECTIONS)}.")
        if isinstance(self.depth, bool) or not isinstance(self.depth, int) or not 1 <= self.depth <= MAX_DEPTH:
            raise QueryError("depth", f"depth must be an integer from 1 to {MAX_DEPTH}.")
        if isinstance(self.cap, bool) or not isinstance(self.cap, int) or not 1 <= self.cap <= MAX_CAP:
            raise QueryError("cap", f"cap must be an integer from 1 to {MAX_CAP}.")
        if self.kinds is not None and not self.kinds:
            raise QueryError("kinds", "kinds, when given, must name at least one kind.")
        if self.since is not None and self.until is not None and self.since > self.until:
            raise QueryError("since", "since must not be after until.")


# A fetched step: one edge of the frontier, as a plain tuple (what a database cursor gives back; Edge and
# Node objects are made only for what the walk keeps):
# (edge id, upstream id, downstream id, relation, observed_at, ended_at, far node id, far node kind, source)
Step = tuple[int, int, int, str, "datetime | None", "datetime | None", int, str, str]
# fetch(frontier node ids, direction, query) -> every edge of the frontier in that direction, each edge
# once, ordered by (far node id, relation, near node id). It may pre-filter by the query (kinds, window,
# current), and need not: the walk checks again.
Fetch = Callable[[Sequence[int], Direction, Query], Iterable[Step]]
# describe(node ids) -> {node id: (key, label)} for the nodes the walk reached.
Describe = Callable[[Sequence[int]], Mapping[int, tuple[str, str]]]


def step_order(step: Step) -> tuple[int, str, int]:
    """The order a fetch returns its steps in: far node id, relation, near node id."""
    return (step[6], step[3], step[1] if step[6] == step[2] else step[2])


@dataclass(frozen=True)
class Result:
    roots: tuple[Node, ...]
    query: Query
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    hops: Mapping[int, int]  # node id -> hops from the nearest root
    truncated: bool
    levels: int  # how many fetches the walk made

    def of_kind(self, *kinds: str) -> list[Node]:
        return [n for n in self.nodes if n.kind in kinds]


def _keeps(query: Query, step: Step) -> bool:
    if query.kinds is not None and step[7] not in query.kinds:
        return False
    if query.current and step[5] is not None:
        return False
    if query.since is not None or query.until is not None:
        seen = step[4]
        if seen is None:
            return False
        if query.since is not None and seen < query.since:
            return False
        if query.until is not None and seen > query.until:
            return False
    return True


def walk(roots: Sequence[Node], query: Query, fetch: Fetch, describe: Describe | None = None) -> Result:
    """Walk from `roots` in `query.direction`; see the module docstring for the rules.

    Once a node had to be left out for the cap, the walk stops (`truncated`): further levels could add no
    node, only edges between nodes already kept, and they are the most expensive levels to fetch.
    """
    if not roots:
        raise QueryError("root", "a walk needs at least one root.")
    kept: list[Node] = []
    hops: dict[int, int] = {}
    for root in roots:
        if root.id not in hops:
            hops[root.id] = 0
            kept.append(root)
    truncated = len(kept) > query.cap
    kept = kept[: query.cap]
    hops = {n.id: 0 for n in kept}
    # the nodes the walk reached, in order: ids and kinds side by side (no tuple per node)
    found: list[int] = []
    found_kinds: list[str] = []
    edges: list[Edge] = []
    frontier = [n.id for n in kept]
    levels = 0
    cap = query.cap
    filtered = query.kinds is not None or query.current or query.since is not None or query.until is not None
    for level in range(1, query.depth + 1):
        if not frontier or truncated:
            break
        levels += 1
        rows = fetch(frontier, query.direction, query)
        if filtered:
            rows = [r for r in rows if _keeps(query, r)]
        frontier = []
        count = len(kept) + len(found)
        for row in rows:
            node_id = row[6]
            if node_id not in hops:
                if count >= cap:
                    truncated = True
                    continue
                hops[node_id] = level
                found.append(node_id)
                found_kinds.append(row[7])
                frontier.append(node_id)
                count += 1
            # Both ends are kept: the near one is in the frontier, the far one was or just became a node.
            edges.append(Edge(row[1], row[2], row[3], row[8], row[4], row[5]))
    info: Mapping[int, tuple[str, str]] = describe(found) if describe is not None and found else {}
    nodes = kept
    for node_id, kind in zip(found, found_kinds, strict=True):
        key_label = info.get(node_id)
        nodes.append(Node(node_id, kind, *key_label) if key_label else Node(node_id, kind, str(node_id)))
    return Result(
        roots=tuple(roots),
        query=query,
        nodes=tuple(nodes),
        edges=tuple(edges),
        hops=hops,
        truncated=truncated,
        levels=levels,
    )


@dataclass
class AdjacencyFetch:
    """An in-memory graph to walk, for tests and for small hand-built graphs. Call `walk(..., g, g.describe)`
    to get the nodes' keys and labels and the edges' sources back."""

    nodes: dict[int, Node] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    calls: int = 0

    def add(self, *nodes: Node) -> AdjacencyFetch:
        for n in nodes:
            self.nodes[n.id] = n
        return self

    def link(self, upstream: int, downstream: int, relation: str = "consumed", **values: object) -> AdjacencyFetch:
        """Add an edge; the same (upstream, downstream, relation) again is ignored, as the database's unique
        constraint would."""
        if all(e.key != (upstream, downstream, relation) for e in self.edges):
            self.edges.append(Edge(upstream, downstream, relation, **values))  # type: ignore[arg-type]
        return self

    def __call__(self, frontier: Sequence[int], direction: Direction, query: Query) -> list[Step]:
        self.calls += 1
        wanted = set(frontier)
        out: list[Step] = []
        for i, e in enumerate(self.edges):
            near, far = (e.downstream, e.upstream) if direction == "upstream" else (e.upstream, e.downstream)
            if near in wanted:
                out.append(
                    (
                        i,
                        e.upstream,
                        e.downstream,
                        e.relation,
                        e.observed_at,
                        e.ended_at,
                        far,
                        self.nodes[far].kind,
                        e.source,
                    )
                )
        return sorted(out, key=step_order)

    def describe(self, node_ids: Sequence[int]) -> dict[int, tuple[str, str]]:
        return {i: (self.nodes[i].key, self.nodes[i].label) for i in node_ids}
