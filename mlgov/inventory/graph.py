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
- at most `cap` nodes (default 5,000): a node beyond the cap is not added and `truncated` is set. Within a
  level, neighbours are taken in id order, so a truncated result is the same every time.
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


@dataclass(frozen=True)
class Node:
    id: int
    kind: str
    key: str
    label: str = ""


@dataclass(frozen=True)
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

    def keeps(self, edge: Edge) -> bool:
        if self.current and edge.ended_at is not None:
            return False
        if self.since is not None or self.until is not None:
            seen = edge.observed_at
            if seen is None:
                return False
            if self.since is not None and seen < self.since:
                return False
            if self.until is not None and seen > self.until:
                return False
        return True

    def enters(self, node: Node) -> bool:
        return self.kinds is None or node.kind in self.kinds


# fetch(frontier node ids, direction, query) -> (edge, the node at its other end) for every edge of the
# frontier in that direction. It may pre-filter by the query (kinds, window), and need not.
Fetch = Callable[[Sequence[int], Direction, Query], Iterable[tuple[Edge, Node]]]


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


def walk(roots: Sequence[Node], query: Query, fetch: Fetch) -> Result:
    """Walk from `roots` in `query.direction`; see the module docstring for the rules."""
    if not roots:
        raise QueryError("root", "a walk needs at least one root.")
    hops: dict[int, int] = {}
    nodes: list[Node] = []
    for root in roots:
        if root.id not in hops:
            hops[root.id] = 0
            nodes.append(root)
    edges: dict[tuple[int, int, str], Edge] = {}
    truncated = len(nodes) > query.cap
    nodes = nodes[: query.cap]
    frontier = [n.id for n in nodes]
    levels = 0
    upstream = query.direction == "upstream"
    for level in range(1, query.depth + 1):
        if not frontier:
            break
        levels += 1
        steps = sorted(
            ((e, n) for e, n in fetch(frontier, query.direction, query) if query.keeps(e) and query.enters(n)),
            key=lambda step: (step[1].id, step[0].relation, step[0].upstream if upstream else step[0].downstream),
        )
        frontier = []
        for edge, node in steps:
            if node.id in hops:
                edges.setdefault(edge.key, edge)
                continue
            if len(nodes) >= query.cap:
                truncated = True
                continue
            hops[node.id] = level
            nodes.append(node)
            frontier.append(node.id)
            edges.setdefault(edge.key, edge)
    kept = set(hops)
    return Result(
        roots=tuple(roots),
        query=query,
        nodes=tuple(nodes),
        edges=tuple(e for e in edges.values() if e.upstream in kept and e.downstream in kept),
        hops=hops,
        truncated=truncated,
        levels=levels,
    )


@dataclass
class AdjacencyFetch:
    """An in-memory graph to walk, for tests and for small hand-built graphs."""

    nodes: dict[int, Node] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    calls: int = 0

    def add(self, *nodes: Node) -> AdjacencyFetch:
        for n in nodes:
            self.nodes[n.id] = n
        return self

    def link(self, upstream: int, downstream: int, relation: str = "consumed", **values: object) -> AdjacencyFetch:
        self.edges.append(Edge(upstream, downstream, relation, **values))  # type: ignore[arg-type]
        return self

    def __call__(self, frontier: Sequence[int], direction: Direction, query: Query) -> list[tuple[Edge, Node]]:
        self.calls += 1
        wanted = set(frontier)
        if direction == "upstream":
            return [(e, self.nodes[e.upstream]) for e in self.edges if e.downstream in wanted]
        return [(e, self.nodes[e.downstream]) for e in self.edges if e.upstream in wanted]
