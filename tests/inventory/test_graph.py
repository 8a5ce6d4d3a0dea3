"""The pure lineage walk on hand-built graphs: no database, no Django."""

from __future__ import annotations

from collections import deque
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlgov.inventory.graph import MAX_DEPTH, AdjacencyFetch, Node, Query, QueryError, walk

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def n(i: int, kind: str = "dataset") -> Node:
    return Node(i, kind, str(i), f"{kind}-{i}")


def chain(length: int) -> AdjacencyFetch:
    """0 -> 1 -> 2 -> ... -> length-1 (0 is the most upstream)."""
    g = AdjacencyFetch().add(*(n(i) for i in range(length)))
    for i in range(length - 1):
        g.link(i, i + 1, observed_at=T0 + timedelta(days=i))
    return g


def ids(result) -> set[int]:
    return {node.id for node in result.nodes}


def test_upstream_and_downstream_follow_the_direction():
    g = chain(4)
    up = walk([g.nodes[3]], Query(direction="upstream"), g)
    down = walk([g.nodes[0]], Query(direction="downstream"), g)
    assert ids(up) == ids(down) == {0, 1, 2, 3}
    assert up.hops == {3: 0, 2: 1, 1: 2, 0: 3}
    assert down.hops == {0: 0, 1: 1, 2: 2, 3: 3}
    assert walk([g.nodes[0]], Query(direction="upstream"), g).nodes == (g.nodes[0],)


def test_a_cycle_ends_and_keeps_its_closing_edge():
    g = AdjacencyFetch().add(n(1), n(2), n(3)).link(1, 2).link(2, 3).link(3, 1)
    result = walk([g.nodes[1]], Query(direction="downstream", depth=MAX_DEPTH), g)
    assert ids(result) == {1, 2, 3}
    assert {e.key for e in result.edges} == {(1, 2, "consumed"), (2, 3, "consumed"), (3, 1, "consumed")}
    assert result.levels == 3  # the third level finds only node 1 again: the frontier empties


def test_a_self_loop_is_harmless():
    g = AdjacencyFetch().add(n(1)).link(1, 1, "derived_from")
    result = walk([g.nodes[1]], Query(), g)
    assert ids(result) == {1}
    assert [e.key for e in result.edges] == [(1, 1, "derived_from")]


def test_a_diamond_visits_the_join_once_with_both_edges():
    #   1 -> 2 -> 4 ; 1 -> 3 -> 4   (4 is downstream of both)
    g = AdjacencyFetch().add(*(n(i) for i in (1, 2, 3, 4))).link(1, 2).link(1, 3).link(2, 4).link(3, 4)
    result = walk([g.nodes[4]], Query(direction="upstream"), g)
    assert [node.id for node in result.nodes] == [4, 2, 3, 1]
    assert result.hops[1] == 2
    assert len(result.edges) == 4


def test_depth_limits_the_hops():
    g = chain(30)
    result = walk([g.nodes[29]], Query(direction="upstream", depth=5), g)
    assert ids(result) == set(range(24, 30))
    assert max(result.hops.values()) == 5
    assert result.levels == 5
    assert not result.truncated  # a depth limit is not truncation
    assert len(walk([g.nodes[29]], Query(depth=MAX_DEPTH), g).nodes) == MAX_DEPTH + 1


def test_fetches_are_one_per_level_however_wide():
    g = AdjacencyFetch().add(n(0))
    for i in range(1, 101):
        g.add(n(i)).link(i, 0)
        g.add(n(1000 + i)).link(1000 + i, i)
    result = walk([g.nodes[0]], Query(direction="upstream", depth=10), g)
    assert len(result.nodes) == 201
    assert g.calls == 3  # level 1, level 2, and level 3 that finds nothing


def test_truncation_at_the_cap_is_flagged_and_deterministic():
    g = AdjacencyFetch().add(n(0))
    for i in range(1, 51):
        g.add(n(i)).link(i, 0)
    g.edges.reverse()  # the fetch's order must not matter
    result = walk([g.nodes[0]], Query(direction="upstream", cap=10), g)
    assert result.truncated
    assert len(result.nodes) == 10
    assert ids(result) == set(range(10))  # lowest ids first
    assert all(e.upstream in ids(result) for e in result.edges)
    exact = walk([g.nodes[0]], Query(direction="upstream", cap=51), g)
    assert not exact.truncated
    assert len(exact.nodes) == 51


def test_kind_filters_prune_the_walk():
    # dataset 1 -> run 2 -> version 3 -> alias 4 ; commit 5 -> run 2
    g = (
        AdjacencyFetch()
        .add(n(1, "dataset"), n(2, "trainingrun"), n(3, "modelversion"), n(4, "alias"), n(5, "commit"))
        .link(1, 2, "consumed")
        .link(5, 2, "from_commit")
        .link(2, 3, "produced_by")
        .link(3, 4, "assigned")
    )
    everything = walk([g.nodes[4]], Query(direction="upstream"), g)
    assert ids(everything) == {1, 2, 3, 4, 5}
    no_commits = walk([g.nodes[4]], Query(kinds=frozenset({"modelversion", "trainingrun", "dataset"})), g)
    assert ids(no_commits) == {1, 2, 3, 4}  # the root is always in, whatever its kind
    versions_only = walk([g.nodes[4]], Query(kinds=frozenset({"modelversion"})), g)
    assert ids(versions_only) == {3, 4}  # the walk does not pass through runs


def test_the_time_window_and_current_keep_matching_edges():
    g = chain(5)  # edge i -> i+1 observed on day i
    g.edges[3] = g.edges[3].__class__(3, 4, "consumed", observed_at=T0 + timedelta(days=3), ended_at=T0)
    window = walk([g.nodes[0]], Query(direction="downstream", until=T0 + timedelta(days=1)), g)
    assert ids(window) == {0, 1, 2}
    later = walk([g.nodes[4]], Query(direction="upstream", since=T0 + timedelta(days=2)), g)
    assert ids(later) == {2, 3, 4}
    current = walk([g.nodes[0]], Query(direction="downstream", current=True), g)
    assert ids(current) == {0, 1, 2, 3}
    undated = AdjacencyFetch().add(n(1), n(2)).link(1, 2)
    assert ids(walk([undated.nodes[2]], Query(since=T0), undated)) == {2}


def test_several_roots_walk_together():
    g = chain(6)
    result = walk([g.nodes[1], g.nodes[4], g.nodes[1]], Query(direction="downstream", depth=1), g)
    assert ids(result) == {1, 2, 4, 5}
    assert result.hops == {1: 0, 4: 0, 2: 1, 5: 1}


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"direction": "sideways"}, "direction"),
        ({"depth": 0}, "depth"),
        ({"depth": MAX_DEPTH + 1}, "depth"),
        ({"depth": True}, "depth"),
        ({"cap": 0}, "cap"),
        ({"cap": 5001}, "cap"),
        ({"kinds": frozenset()}, "kinds"),
        ({"since": T0, "until": T0 - timedelta(days=1)}, "since"),
    ],
)
def test_bad_queries_name_their_field(values, field):
    with pytest.raises(QueryError) as info:
        Query(**values)
    assert info.value.field == field


def test_a_walk_needs_a_root():
    with pytest.raises(QueryError):
        walk([], Query(), AdjacencyFetch())


def _reference_bfs(edges: list[tuple[int, int]], root: int, depth: int) -> dict[int, int]:
    """Hop counts by a textbook BFS, upstream direction."""
    seen = {root: 0}
    queue = deque([root])
    while queue:
        node = queue.popleft()
        if seen[node] == depth:
            continue
        for up, down in edges:
            if down == node and up not in seen:
                seen[up] = seen[node] + 1
                queue.append(up)
    return seen


@settings(max_examples=150, deadline=None)
@given(
    edges=st.lists(st.tuples(st.integers(0, 25), st.integers(0, 25)), max_size=80),
    depth=st.integers(1, 8),
    cap=st.integers(1, 30),
)
def test_the_walk_matches_a_reference_bfs_and_respects_the_cap(edges, depth, cap):
    g = AdjacencyFetch().add(*(n(i) for i in range(26)))
    for up, down in edges:
        g.link(up, down)
    result = walk([g.nodes[0]], Query(direction="upstream", depth=depth, cap=cap), g)
    reference = _reference_bfs(edges, 0, depth)
    assert len(result.nodes) <= cap
    assert result.truncated == (len(reference) > cap)
    if not result.truncated:
        assert result.hops == reference
    for node_id, hop in result.hops.items():
        assert hop <= depth
        assert reference[node_id] == hop  # even truncated, every kept node is at its true distance
    kept = ids(result)
    assert all(e.upstream in kept and e.downstream in kept for e in result.edges)


def test_the_fetch_contract_each_edge_once_in_far_relation_near_order():
    # 5 <- 1 (two relations), 5 <- 2, 5 <- 3 <- 1 ... added in a scrambled order, one edge twice
    g = AdjacencyFetch().add(*(n(i) for i in (1, 2, 3, 5)))
    g.link(3, 5, "derived_from").link(1, 5, "used").link(2, 5).link(1, 5, "consumed").link(3, 5, "derived_from")
    steps = g([5], "upstream", Query())
    assert [(s[6], s[3], s[2]) for s in steps] == [
        (1, "consumed", 5),
        (1, "used", 5),
        (2, "consumed", 5),
        (3, "derived_from", 5),
    ]
    assert len(g.edges) == 4  # the repeated (3, 5, derived_from) is one edge, as the database's constraint makes it
    down = g([1], "downstream", Query())
    assert [(s[6], s[3], s[1]) for s in down] == [(5, "consumed", 1), (5, "used", 1)]


def test_edges_carry_their_source_and_nodes_their_key_and_label():
    g = AdjacencyFetch().add(Node(1, "dataset", "d1", "raw events"), Node(2, "trainingrun", "r2"))
    g.link(1, 2, "consumed", source="mlflow:prod", observed_at=T0)
    result = walk([g.nodes[2]], Query(), g, g.describe)
    assert result.nodes[1] == Node(1, "dataset", "d1", "raw events")
    (edge,) = result.edges
    assert (edge.source, edge.observed_at, edge.ended_at) == ("mlflow:prod", T0, None)
    bare = walk([g.nodes[2]], Query(), g)  # without describe: the id stands in for the key
    assert bare.nodes[1] == Node(1, "dataset", "1", "")
