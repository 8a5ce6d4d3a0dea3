"""lineage_edges_record's node labels: a stand-in label names a new node but never overwrites a real one."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from mlgov.inventory.lineage_services import EdgeSpec, lineage_edges_record, object_ref
from mlgov.inventory.models import LineageNode

pytestmark = [pytest.mark.django_db, pytest.mark.portable]


def _label(kind: str, pk: int) -> str:
    return LineageNode.objects.get(kind=kind, key=str(pk)).label


def test_a_stand_in_label_names_a_new_node_but_does_not_relabel_one():
    run = object_ref("trainingrun", 7, "nightly-train")
    lineage_edges_record(actor="test", edges=[EdgeSpec(object_ref("dataset", 1, "txns"), run, "consumed")])
    assert _label("trainingrun", 7) == "nightly-train"

    # The version sync knows the run by its id alone: its label stands in, and must not win.
    stand_in = object_ref("trainingrun", 7, "a1b2c3", refresh_label=False)
    version = object_ref("modelversion", 3, "fraud v3")
    with CaptureQueriesContext(connection) as ctx:
        lineage_edges_record(actor="test", edges=[EdgeSpec(stand_in, version, "produced_by")])
    assert _label("trainingrun", 7) == "nightly-train"
    assert not [q for q in ctx.captured_queries if "UPDATE" in q["sql"] and "lineagenode" in q["sql"]]

    # A new node takes the stand-in; a real label later replaces it.
    lineage_edges_record(
        actor="test",
        edges=[EdgeSpec(object_ref("trainingrun", 8, "d4e5f6", refresh_label=False), version, "produced_by")],
    )
    assert _label("trainingrun", 8) == "d4e5f6"
    lineage_edges_record(
        actor="test",
        edges=[EdgeSpec(object_ref("dataset", 1, "txns"), object_ref("trainingrun", 8, "weekly"), "consumed")],
    )
    assert _label("trainingrun", 8) == "weekly"
