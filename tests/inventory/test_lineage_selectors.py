"""The database-backed walk (`lineage_selectors.db_fetch`, `db_describe`) gives exactly what the pure walk
gives over the same graph held in memory: the same nodes in the same order, the same edges with their
sources and times, the same hops, truncation and levels. On both databases; on SQLite with the frontier
split into many chunks (whose rows must still come back in the walk's order)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from mlgov.inventory import lineage_selectors
from mlgov.inventory.graph import AdjacencyFetch, Edge, Node, Query, walk
from mlgov.inventory.lineage_selectors import lineage_query
from mlgov.inventory.models import LineageEdge, LineageNode

pytestmark = [pytest.mark.django_db, pytest.mark.portable]

T0 = datetime(2026, 3, 1, tzinfo=UTC)
KINDS = ("dataset", "feature", "commit", "pipelinerun", "trainingrun", "modelversion", "alias")
RELATIONS = ("consumed", "used", "from_commit", "built", "executed", "produced_by", "assigned", "derived_from")


def _random_graph(seed: int, nodes: int = 400, edges: int = 1600) -> AdjacencyFetch:
    """A random graph stored twice: in the database and in an AdjacencyFetch with the same node ids."""
    rng = random.Random(seed)
    rows = LineageNode.objects.bulk_create(
        [
            LineageNode(kind=rng.choice(KINDS), key=f"k{seed}-{i}", label=rng.choice(["", f"node {i}"]))
            for i in range(nodes)
        ]
    )
    memory = AdjacencyFetch().add(*(Node(r.pk, r.kind, r.key, r.label) for r in rows))
    stored = []
    seen: set[tuple[int, int, str]] = set()
    while len(stored) < edges:
        up, down, relation = rng.choice(rows), rng.choice(rows), rng.choice(RELATIONS)
        if (up.pk, down.pk, relation) in seen:
            continue
        seen.add((up.pk, down.pk, relation))
        observed = T0 + timedelta(hours=rng.randrange(24 * 60))
        ended = observed + timedelta(days=1) if rng.random() < 0.2 else None
        source = rng.choice(["", "mlflow:prod", "repo:github.com/acme/churn", "openlineage:airflow, eu"])
        stored.append(
            LineageEdge(
                upstream=up,
                downstream=down,
                upstream_kind=up.kind,
                downstream_kind=down.kind,
                relation=relation,
                source=source,
                observed_at=observed,
                ended_at=ended,
            )
        )
        memory.link(up.pk, down.pk, relation, source=source, observed_at=observed, ended_at=ended)
    LineageEdge.objects.bulk_create(stored)
    return memory


def _edge_values(edges: tuple[Edge, ...]) -> list[tuple]:
    return [(e.upstream, e.downstream, e.relation, e.source, e.observed_at, e.ended_at) for e in edges]


QUERIES = [
    Query(direction="upstream", depth=20),
    Query(direction="downstream", depth=20),
    Query(direction="upstream", depth=3),
    Query(direction="downstream", depth=20, cap=150),  # truncated mid-level: which nodes stay must agree
    Query(direction="upstream", depth=20, kinds=frozenset({"dataset", "trainingrun", "commit"})),
    Query(direction="downstream", depth=20, current=True),
    Query(direction="upstream", depth=20, since=T0 + timedelta(days=10), until=T0 + timedelta(days=40)),
]


@pytest.mark.parametrize("chunk", [900, 37])
@pytest.mark.parametrize(
    "query", QUERIES, ids=lambda q: f"{q.direction}-d{q.depth}-cap{q.cap}-{bool(q.kinds)}-{q.current}-{bool(q.since)}"
)
def test_the_database_walk_equals_the_pure_walk(monkeypatch, query, chunk):
    monkeypatch.setattr(lineage_selectors, "_SQLITE_CHUNK", chunk)
    memory = _random_graph(seed=11)
    roots = [memory.nodes[min(memory.nodes)], memory.nodes[max(memory.nodes)]]
    expected = walk(roots, query, memory, memory.describe)
    got = lineage_query(user=None, roots=roots, query=query)
    assert len(expected.nodes) > 2, "the graph should give the walk something to find"
    assert got.nodes == expected.nodes
    assert _edge_values(got.edges) == _edge_values(expected.edges)
    assert got.hops == expected.hops
    assert (got.truncated, got.levels) == (expected.truncated, expected.levels)
    assert all(e.observed_at.tzinfo is not None for e in got.edges)


def test_a_wide_frontier_on_sqlite_is_fetched_in_chunks_and_kept_in_order(monkeypatch, django_assert_num_queries):
    """One root with 300 upstream neighbours, each with one of its own: on SQLite, with chunks of 37, a
    300-node level is 9 SELECTs, merged into the walk's order; on PostgreSQL every level is one."""
    monkeypatch.setattr(lineage_selectors, "_SQLITE_CHUNK", 37)
    root = LineageNode.objects.create(kind="modelversion", key="root")
    first = LineageNode.objects.bulk_create([LineageNode(kind="trainingrun", key=f"r{i}") for i in range(300)])
    second = LineageNode.objects.bulk_create([LineageNode(kind="dataset", key=f"d{i}") for i in range(300)])
    LineageEdge.objects.bulk_create(
        [
            LineageEdge(
                upstream=up,
                downstream=down,
                upstream_kind=up.kind,
                downstream_kind=down.kind,
                relation="produced_by" if down == root else "consumed",
                observed_at=T0,
            )
            for up, down in [*((r, root) for r in first), *zip(reversed(second), first, strict=True)]
        ]
    )
    # the root's level, the runs' level, the datasets' level (finds nothing), then 600 keys and labels
    chunked = 1 + 9 + 9 + 17 if connection.vendor != "postgresql" else 1 + 1 + 1 + 1
    with django_assert_num_queries(chunked):
        result = lineage_query(user=None, roots=[Node(root.pk, "modelversion", "root")], query=Query(depth=5))
    ids = [n.id for n in result.nodes]
    assert ids[1:301] == sorted(r.pk for r in first)
    assert ids[301:] == sorted(d.pk for d in second)
    assert len(result.edges) == 600
    assert result.nodes[1].key == "r0"


def test_the_collector_is_back_on_after_a_walk_even_a_failed_one(monkeypatch):
    import gc

    _random_graph(seed=5, nodes=20, edges=40)
    root = Node(LineageNode.objects.order_by("id").first().pk, "dataset", "k5-0")
    lineage_query(user=None, roots=[root], query=Query())
    assert gc.isenabled()

    def broken(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(lineage_selectors, "db_fetch", broken)
    with pytest.raises(RuntimeError):
        lineage_query(user=None, roots=[root], query=Query())
    assert gc.isenabled()


@pytest.mark.parametrize(
    ("node", "expected"),
    [
        (Node(1, "modelversion", "42"), ("modelversion-detail", 42)),
        (Node(1, "dataset", "7"), ("dataset-detail", 7)),
        (Node(1, "trainingrun", "9"), ("api:trainingrun-detail", 9)),
        (Node(1, "feature", "10"), ("api:feature-detail", 10)),
        (Node(1, "pipelinerun", "11"), ("api:pipelinerun-detail", 11)),
        (Node(1, "alias", "3:production:42"), ("modelversion-detail", 42)),
        (Node(1, "alias", "not-an-assignment"), None),
        (Node(1, "commit", "a" * 40), None),
        (Node(1, "dataset", "s3://bucket/x"), None),
        (Node(1, "dataset", "\u0661\u0662"), None),  # Arabic-Indic digits: not a primary key
    ],
)
def test_node_urls_are_the_reversed_urls(node, expected):
    from django.urls import reverse

    want = reverse(expected[0], args=[expected[1]]) if expected else ""
    assert lineage_selectors.NodeUrls()(node) == want
