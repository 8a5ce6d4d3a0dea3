"""model_alias_set: the promotion service's way to move an alias in the inventory, with audit and lineage."""

from __future__ import annotations

import pytest

from mlgov.audit.models import AuditEvent
from mlgov.errors import ValidationFailed
from mlgov.inventory.models import LineageEdge, LineageNode, ModelAlias
from mlgov.inventory.services import model_alias_set
from mlgov.inventory.sync_services import synced_aliases_apply
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.portable]


def _alias_edges(model_id: int, alias: str) -> dict[str, object]:
    """{version id: ended_at} of the alias's assignment edges."""
    return {
        e.upstream.object_id: e.ended_at
        for e in LineageEdge.objects.filter(relation="assigned", downstream__key__startswith=f"{model_id}:{alias}:")
        .select_related("upstream")
        .order_by("id")
    }


def test_first_assignment_returns_none_audits_and_records_the_edge(user):
    v1 = factories.ModelVersionFactory()
    before = AuditEvent.objects.count()

    previous = model_alias_set(actor=user, version=v1, alias="production")

    assert previous is None
    assert ModelAlias.objects.get(model=v1.model, alias="production").version == v1
    event = AuditEvent.objects.get(action="modelalias.assigned")
    assert event.target_id == str(v1.pk)
    assert event.before == {"alias": "production", "version": None}
    assert event.after == {"alias": "production", "version": v1.version, "source": "promotion"}
    assert AuditEvent.objects.filter(action="lineage.edges_recorded").count() == 1
    assert AuditEvent.objects.count() == before + 2
    edge = LineageEdge.objects.select_related("upstream", "downstream").get(relation="assigned")
    assert (edge.upstream.kind, edge.upstream.object_id) == ("modelversion", v1.pk)
    assert edge.downstream.kind == "alias"
    assert edge.downstream.label == f"{v1.model.name}@production → v{v1.version}"
    assert edge.source == "promotion"
    assert edge.ended_at is None


def test_moving_returns_the_previous_holder_and_ends_its_edge(user):
    v1 = factories.ModelVersionFactory()
    v2 = factories.ModelVersionFactory(model=v1.model)
    model_alias_set(actor=user, version=v1, alias="production")

    previous = model_alias_set(actor=user, version=v2, alias="production", source="promotion:42")

    assert previous == v1
    assert ModelAlias.objects.get(model=v1.model, alias="production").version == v2
    edges = _alias_edges(v1.model_id, "production")
    assert edges[v2.pk] is None
    assert edges[v1.pk] is not None  # v1's assignment is history now, kept
    last = AuditEvent.objects.filter(action="modelalias.assigned").order_by("-seq").first()
    assert last.before["version"] == v1.version
    assert last.after["source"] == "promotion:42"


def test_setting_the_holder_again_writes_nothing(user, django_assert_num_queries):
    v1 = factories.ModelVersionFactory()
    model_alias_set(actor=user, version=v1, alias="champion")
    count, edges = AuditEvent.objects.count(), LineageEdge.objects.count()

    with django_assert_num_queries(4):  # savepoint, the model, the alias row (locked), release
        assert model_alias_set(actor=user, version=v1, alias="champion") == v1

    assert AuditEvent.objects.count() == count
    assert LineageEdge.objects.count() == edges


def test_moving_back_reopens_the_first_assignment(user):
    v1 = factories.ModelVersionFactory()
    v2 = factories.ModelVersionFactory(model=v1.model)
    for v in (v1, v2, v1):
        model_alias_set(actor=user, version=v, alias="production")
    edges = _alias_edges(v1.model_id, "production")
    assert edges == {v1.pk: None, v2.pk: edges[v2.pk]}
    assert edges[v2.pk] is not None
    assert LineageNode.objects.filter(kind="alias").count() == 2


@pytest.mark.parametrize("alias", ["", "latest", "v3", "has space", "x" * 101, "bad/alias", None])
def test_invalid_aliases_are_refused(user, alias):
    v1 = factories.ModelVersionFactory()
    with pytest.raises(ValidationFailed):
        model_alias_set(actor=user, version=v1, alias=alias)
    assert not ModelAlias.objects.exists()
    assert not LineageEdge.objects.exists()


def test_the_sync_agrees_with_a_promotion_and_keeps_the_same_edges(user):
    """After a promotion, the next MLflow sync finds the alias where the promotion put it: nothing to do."""
    v1 = factories.ModelVersionFactory()
    v2 = factories.ModelVersionFactory(model=v1.model)
    synced_aliases_apply(actor="sync", external_source="mlflow:test", desired={v1.model_id: {"production": v1.pk}})
    assert _alias_edges(v1.model_id, "production") == {v1.pk: None}

    model_alias_set(actor=user, version=v2, alias="production")
    counts = synced_aliases_apply(
        actor="sync", external_source="mlflow:test", desired={v1.model_id: {"production": v2.pk}}
    )

    assert counts.unchanged == 1
    assert counts.created == counts.updated == 0
    edges = _alias_edges(v1.model_id, "production")
    assert edges[v2.pk] is None
    assert edges[v1.pk] is not None


def test_the_sync_records_moves_and_removals(user):
    v1 = factories.ModelVersionFactory()
    v2 = factories.ModelVersionFactory(model=v1.model)
    src = "mlflow:test"
    synced_aliases_apply(actor="sync", external_source=src, desired={v1.model_id: {"a": v1.pk, "b": v1.pk}})
    synced_aliases_apply(actor="sync", external_source=src, desired={v1.model_id: {"a": v2.pk}})

    assert _alias_edges(v1.model_id, "a")[v2.pk] is None
    assert _alias_edges(v1.model_id, "a")[v1.pk] is not None
    assert _alias_edges(v1.model_id, "b")[v1.pk] is not None  # b was removed: its edge ended
    sources = set(LineageEdge.objects.values_list("source", flat=True))
    assert sources == {src}
