"""Writes to the lineage graph: nodes and edges, batched, audited once per downstream node.

Nobody enters lineage by hand. The inventory services that the syncs, the CI webhooks, OpenLineage
ingestion and the promotion service already call (`sync_services.synced_batch_upsert`,
`synced_run_links_replace`, `synced_aliases_apply`, `pipeline_runs_link_by_commit`,
`services.model_alias_set`, ...) call `lineage_edges_record` inside their own transaction.

One call costs a fixed number of queries whatever the batch holds (per 500 rows): one SELECT of the
nodes, one INSERT of the missing nodes and one SELECT of their ids, one UPDATE of changed labels, one
SELECT of the downstream nodes' current edges, one INSERT of new edges, one UPDATE of ended edges and one
of reopened ones, and the audit INSERT. New nodes and edges are written with `mlgov.dbtools.insert_rows`
(COPY on PostgreSQL), not `bulk_create`, whose per-value compilation was most of a sync's lineage cost.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from mlgov.audit.services import PendingEvent, audit_record_many
from mlgov.dbtools import insert_rows
from mlgov.inventory.choices import NodeKind
from mlgov.inventory.models import LineageEdge, LineageNode

CHUNK = 500
EDGE_COLUMNS = (
    "upstream_id",
    "downstream_id",
    "upstream_kind",
    "downstream_kind",
    "relation",
    "source",
    "observed_at",
    "ended_at",
    "recorded_at",
    "attributes",
)
# How many edges one audit event lists; the rest are counted.
AUDIT_LIST_MAX = 50


@dataclass(frozen=True)
class NodeRef:
    """A node to be, identified by (kind, key)."""

    kind: str
    key: str
    object_id: int | None = None
    label: str = ""
    # False where the caller's label is only a stand-in (e.g. a run known by its id alone): it names a node
    # this call creates, but does not overwrite the label of one that exists.
    refresh_label: bool = True

    @property
    def ident(self) -> tuple[str, str]:
        return (self.kind, self.key)

    @property
    def text(self) -> str:
        return f"{self.kind}:{self.key}"


@dataclass(frozen=True)
class EdgeSpec:
    """`downstream` <relation> `upstream`, seen by `source` (a connection, a webhook, ...) at `observed_at`."""

    upstream: NodeRef
    downstream: NodeRef
    relation: str
    source: str = ""
    observed_at: datetime | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class EdgeCounts:
    created: int = 0
    reopened: int = 0
    unchanged: int = 0
    ended: int = 0


def object_node(obj: models.Model) -> NodeRef:
    """The node of an inventory object (dataset, feature, training run, pipeline run, model version)."""
    kind = obj._meta.model_name
    if kind not in NodeKind.values:
        raise ValueError(f"{kind} objects are not lineage nodes")
    return NodeRef(kind, str(obj.pk), obj.pk, _label(obj))


def object_ref(kind: str, pk: int, label: str = "", *, refresh_label: bool = True) -> NodeRef:
    return NodeRef(kind, str(pk), pk, label[:300], refresh_label)


def commit_node(sha: str) -> NodeRef:
    sha = sha.strip().lower()
    return NodeRef(NodeKind.COMMIT, sha, None, sha[:12])


def alias_node(*, model_id: int, model_name: str, alias: str, version_id: int, version: str) -> NodeRef:
    """One assignment of an alias to a version (a deployment): ``<model>@<alias> -> v<version>``."""
    return NodeRef(
        NodeKind.ALIAS, f"{model_id}:{alias}:{version_id}", version_id, f"{model_name}@{alias} → v{version}"[:300]
    )


def _label(obj: Any) -> str:
    try:
        return str(obj)[:300]
    except Exception:  # a label is cosmetic; a half-loaded relation must not fail a write
        return str(obj.pk)


def _nodes_ensure(refs: Iterable[NodeRef]) -> dict[tuple[str, str], int]:
    """Create the nodes that do not exist yet; refresh labels that changed. Returns {(kind, key): id}."""
    wanted: dict[tuple[str, str], NodeRef] = {}
    for ref in refs:
        wanted.setdefault(ref.ident, ref)
    ids: dict[tuple[str, str], int] = {}
    stale: list[LineageNode] = []
    items = list(wanted.values())
    for start in range(0, len(items), CHUNK):
        ids.update(_nodes_select(items[start : start + CHUNK], wanted, stale))
    missing = [r for r in items if r.ident not in ids]
    if missing:
        now = timezone.now()
        insert_rows(
            LineageNode,
            ("kind", "key", "object_id", "label", "created_at"),
            ((r.kind, r.key, r.object_id, r.label, now) for r in missing),
            ignore_conflicts=True,  # a concurrent writer may have created some: re-read them all
        )
        for start in range(0, len(missing), CHUNK):
            ids.update(_nodes_select(missing[start : start + CHUNK], wanted, []))
    if stale:
        LineageNode.objects.bulk_update(stale, ["label"], batch_size=CHUNK)
    return ids


def _nodes_select(
    chunk: Sequence[NodeRef], wanted: dict[tuple[str, str], NodeRef], stale: list[LineageNode]
) -> dict[tuple[str, str], int]:
    by_kind: dict[str, list[str]] = {}
    for ref in chunk:
        by_kind.setdefault(ref.kind, []).append(ref.key)
    condition = Q()
    for kind, keys in by_kind.items():
        condition |= Q(kind=kind, key__in=keys)
    out = {}
    for pk, kind, key, current in LineageNode.objects.filter(condition).values_list("id", "kind", "key", "label"):
        out[(kind, key)] = pk
        ref = wanted[(kind, key)]
        label = ref.label
        if label and ref.refresh_label and current != label:
            stale.append(LineageNode(id=pk, label=label))
    return out


@transaction.atomic
def lineage_edges_record(
    *,
    actor: Any,
    edges: Sequence[EdgeSpec],
    replace: Mapping[NodeRef, Iterable[str]] | None = None,
    ended_at: datetime | None = None,
) -> EdgeCounts:
    """Record `edges`. An edge seen before is left alone (its first observation stands); an ended edge seen
    again is reopened.

    `replace` maps downstream nodes to relations whose edges this batch states completely: their active
    edges of those relations that are not in `edges` are ended (kept, with `ended_at`), e.g. a run's
    dataset inputs after a re-sync, or an alias moving to another version.

    Writes one `lineage.edges_recorded` audit event per downstream node whose edges changed.
    """
    counts = EdgeCounts()
    replace = {ref: set(rels) for ref, rels in (replace or {}).items()}
    if not edges and not replace:
        return counts
    now = timezone.now()
    ids = _nodes_ensure([*(e.upstream for e in edges), *(e.downstream for e in edges), *replace])
    down_ids = sorted({ids[e.downstream.ident] for e in edges} | {ids[r.ident] for r in replace})
    # (upstream, downstream, relation) -> (id, ended_at, upstream's "kind:key"), as plain rows.
    existing: dict[tuple[int, int, str], tuple[int, datetime | None, str]] = {}
    for start in range(0, len(down_ids), CHUNK):
        rows = LineageEdge.objects.filter(downstream_id__in=down_ids[start : start + CHUNK]).values_list(
            "id", "upstream_id", "downstream_id", "relation", "ended_at", "upstream__kind", "upstream__key"
        )
        for pk, up, down, relation, ended, up_kind, up_key in rows:
            existing[(up, down, relation)] = (pk, ended, f"{up_kind}:{up_key}")
    refs_by_id = {ids[r.ident]: r for e in edges for r in (e.upstream, e.downstream)} | {
        ids[r.ident]: r for r in replace
    }
    to_create: list[tuple[Any, ...]] = []
    to_update: list[LineageEdge] = []
    changes: dict[int, dict[str, list[str]]] = {}
    seen: set[tuple[int, int, str]] = set()
    for spec in edges:
        key = (ids[spec.upstream.ident], ids[spec.downstream.ident], spec.relation)
        if key in seen:
            continue
        seen.add(key)
        row = existing.get(key)
        text = f"{spec.relation} {spec.upstream.text}"
        if row is None:
            to_create.append(
                (
                    key[0],
                    key[1],
                    spec.upstream.kind,
                    spec.downstream.kind,
                    spec.relation,
                    spec.source[:160],
                    spec.observed_at or now,
                    None,
                    now,
                    dict(spec.attributes),
                )
            )
            counts.created += 1
            changes.setdefault(key[1], {}).setdefault("added", []).append(text)
        elif row[1] is not None:
            to_update.append(LineageEdge(id=row[0], ended_at=None, observed_at=spec.observed_at or now))
            counts.reopened += 1
            changes.setdefault(key[1], {}).setdefault("added", []).append(text)
        else:
            counts.unchanged += 1
    by_downstream: dict[int, list[tuple[int, int, str]]] = {}
    for key in existing:
        by_downstream.setdefault(key[1], []).append(key)
    ended: list[LineageEdge] = []
    for ref, relations in replace.items():
        down = ids[ref.ident]
        for key in by_downstream.get(down, ()):
            pk, was_ended, upstream_text = existing[key]
            if key[2] in relations and key not in seen and was_ended is None:
                ended.append(LineageEdge(id=pk, ended_at=ended_at or now))
                counts.ended += 1
                changes.setdefault(down, {}).setdefault("ended", []).append(f"{key[2]} {upstream_text}")
    insert_rows(LineageEdge, EDGE_COLUMNS, to_create)
    if ended:
        LineageEdge.objects.bulk_update(ended, ["ended_at"], batch_size=CHUNK)
    if to_update:
        LineageEdge.objects.bulk_update(to_update, ["ended_at", "observed_at"], batch_size=CHUNK)
    audit_record_many(actor=actor, events=(_event(refs_by_id[d], c) for d, c in sorted(changes.items())))
    return counts


def _event(ref: NodeRef, change: dict[str, list[str]]) -> PendingEvent:
    after: dict[str, Any] = {}
    for verb, items in sorted(change.items()):
        after[verb] = sorted(items)[:AUDIT_LIST_MAX]
        if len(items) > AUDIT_LIST_MAX:
            after[f"{verb}_count"] = len(items)
    return PendingEvent(
        action="lineage.edges_recorded",
        target_type=ref.kind,
        target_id=ref.object_id if ref.object_id is not None else ref.key,
        target_repr=ref.label or ref.key,
        after=after,
    )


@transaction.atomic
def lineage_labels_refresh(*, kind: str, labels: Mapping[int, str]) -> int:
    """Refresh the labels of existing nodes of inventory objects whose text changed (e.g. a renamed run).

    Not audited: a label is a cached display text, and the object's own change carries the audit event.
    """
    if not labels:
        return 0
    stale = []
    pks = list(labels)
    for start in range(0, len(pks), CHUNK):
        for node in LineageNode.objects.filter(kind=kind, key__in=[str(p) for p in pks[start : start + CHUNK]]).only(
            "id", "key", "label"
        ):
            label = labels[int(node.key)][:300]
            if label and node.label != label:
                node.label = label
                stale.append(node)
    if stale:
        LineageNode.objects.bulk_update(stale, ["label"], batch_size=CHUNK)
    return len(stale)


@dataclass(frozen=True)
class AliasMove:
    """An alias of a model that now points at `version_id` (None: removed) and before at `old_version_id`."""

    model_id: int
    model_name: str
    alias: str
    version_id: int | None
    version: str
    old_version_id: int | None
    old_version: str
    at: datetime | None = None


def alias_edges_record(*, actor: Any, source: str, moves: Sequence[AliasMove]) -> EdgeCounts:
    """The "alias assigned model version" edges of these moves: the new assignment's edge is recorded, the
    old assignment's edge is ended (the old assignment node and its edge are kept as history)."""
    edges, replace = [], {}
    for m in moves:
        if m.version_id is not None:
            edges.append(
                EdgeSpec(
                    upstream=object_ref(NodeKind.MODEL_VERSION, m.version_id, f"{m.model_name} v{m.version}"),
                    downstream=alias_node(
                        model_id=m.model_id,
                        model_name=m.model_name,
                        alias=m.alias,
                        version_id=m.version_id,
                        version=m.version,
                    ),
                    relation="assigned",
                    source=source,
                    observed_at=m.at,
                    attributes={"alias": m.alias},
                )
            )
        if m.old_version_id is not None and m.old_version_id != m.version_id:
            old = alias_node(
                model_id=m.model_id,
                model_name=m.model_name,
                alias=m.alias,
                version_id=m.old_version_id,
                version=m.old_version,
            )
            replace[old] = {"assigned"}
    return lineage_edges_record(actor=actor, edges=edges, replace=replace)
