"""The lineage API over a graph built through the real inventory services."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mlgov.audit.models import AuditEvent
from mlgov.inventory.models import LineageEdge
from mlgov.inventory.services import model_alias_set
from mlgov.inventory.sync_services import synced_run_links_replace
from tests import factories
from tests.inventory.lineage_chain import T0, build_chain

pytestmark = [pytest.mark.django_db, pytest.mark.portable]


def ids(body) -> set[str]:
    return {n["id"] for n in body["nodes"]}


def relations(body) -> set[tuple[str, str, str]]:
    return {(e["from"], e["relation"], e["to"]) for e in body["edges"]}


@pytest.fixture
def chain(user):
    c = build_chain()
    model_alias_set(actor=user, version=c.version, alias="production")
    return c


def alias_key(c) -> str:
    return f"{c.version.model_id}:production:{c.version.pk}"


def test_the_full_chain_from_the_alias_in_one_upstream_query(api, chain):
    c = chain
    body = api.get(f"/api/v1/lineage/alias/{alias_key(c)}?direction=upstream&depth=5").json()
    expected = {
        f"alias:{alias_key(c)}",
        f"modelversion:{c.version.pk}",
        f"trainingrun:{c.run.pk}",
        f"dataset:{c.dataset.pk}",
        f"commit:{c.commit}",
        f"pipelinerun:{c.pipeline_run.pk}",
    }
    assert ids(body) == expected
    assert relations(body) == {
        (f"modelversion:{c.version.pk}", "assigned", f"alias:{alias_key(c)}"),
        (f"trainingrun:{c.run.pk}", "produced_by", f"modelversion:{c.version.pk}"),
        (f"dataset:{c.dataset.pk}", "consumed", f"trainingrun:{c.run.pk}"),
        (f"commit:{c.commit}", "from_commit", f"trainingrun:{c.run.pk}"),
        (f"pipelinerun:{c.pipeline_run.pk}", "executed", f"trainingrun:{c.run.pk}"),
        (f"commit:{c.commit}", "built", f"pipelinerun:{c.pipeline_run.pk}"),
    }
    assert body["truncated"] is False
    hops = {n["id"]: n["hops"] for n in body["nodes"]}
    assert hops[f"dataset:{c.dataset.pk}"] == 3
    assert hops[f"commit:{c.commit}"] == 3
    edge = next(e for e in body["edges"] if e["relation"] == "consumed")
    assert edge["source"] == "mlflow:test"
    assert edge["observed_at"].startswith(T0.date().isoformat())
    by_id = {n["id"]: n for n in body["nodes"]}
    assert by_id[f"modelversion:{c.version.pk}"]["url"] == f"/model-versions/{c.version.pk}/"
    assert by_id[f"dataset:{c.dataset.pk}"]["url"] == f"/datasets/{c.dataset.pk}/"


def test_the_current_alias_by_its_id_and_downstream_from_the_dataset(api, chain):
    c = chain
    alias = c.version.aliases.get(alias="production")
    body = api.get(f"/api/v1/lineage/alias/{alias.pk}").json()
    assert f"dataset:{c.dataset.pk}" in ids(body)
    down = api.get(f"/api/v1/lineage/dataset/{c.dataset.pk}?direction=downstream").json()
    assert ids(down) == {
        f"dataset:{c.dataset.pk}",
        f"trainingrun:{c.run.pk}",
        f"modelversion:{c.version.pk}",
        f"alias:{alias_key(c)}",
    }


def test_depth_kinds_window_and_commit_prefix(api, chain):
    c = chain
    url = f"/api/v1/lineage/modelversion/{c.version.pk}"
    assert ids(api.get(f"{url}?depth=1").json()) == {f"modelversion:{c.version.pk}", f"trainingrun:{c.run.pk}"}
    only = api.get(f"{url}?kinds=trainingrun,dataset").json()
    assert {n["kind"] for n in only["nodes"]} == {"modelversion", "trainingrun", "dataset"}
    before = (T0 - timedelta(days=1)).isoformat()
    assert ids(api.get(f"{url}?until={before.replace('+', '%2B')}").json()) == {f"modelversion:{c.version.pk}"}
    commit = api.get(f"/api/v1/lineage/commit/{c.commit[:10]}?direction=downstream").json()
    assert f"trainingrun:{c.run.pk}" in ids(commit)
    assert f"pipelinerun:{c.pipeline_run.pk}" in ids(commit)


def test_an_object_without_edges_is_its_own_lineage(api):
    dataset = factories.DatasetFactory()
    body = api.get(f"/api/v1/lineage/dataset/{dataset.pk}").json()
    assert [n["id"] for n in body["nodes"]] == [f"dataset:{dataset.pk}"]
    assert body["edges"] == []


def test_replaced_inputs_end_their_edges_and_current_hides_them(api, chain, user):
    c = chain
    other = factories.DatasetFactory()
    synced_run_links_replace(actor="sync", run_ids=[c.run.pk], inputs={c.run.pk: [(other.pk, "training")]}, features={})
    old = LineageEdge.objects.get(upstream__key=str(c.dataset.pk), upstream__kind="dataset", relation="consumed")
    assert old.ended_at is not None
    url = f"/api/v1/lineage/trainingrun/{c.run.pk}?depth=1"
    assert f"dataset:{c.dataset.pk}" in ids(api.get(url).json())  # history is kept
    assert f"dataset:{c.dataset.pk}" not in ids(api.get(f"{url}&current=true").json())
    assert f"dataset:{other.pk}" in ids(api.get(f"{url}&current=true").json())
    event = AuditEvent.objects.filter(action="lineage.edges_recorded", target_id=str(c.run.pk)).order_by("-seq")[0]
    assert event.after["ended"] == [f"consumed dataset:{c.dataset.pk}"]
    assert event.after["added"] == [f"consumed dataset:{other.pk}"]


def test_the_query_costs_one_query_per_level(api, chain, django_assert_num_queries):
    c = chain
    url = f"/api/v1/lineage/modelversion/{c.version.pk}?depth=5"
    api.get(url)  # warm the token's last-used stamp
    # token lookup, the version, its node, then one query per level reached: run; its dataset, commit and
    # CI run; their upstream (the CI run's commit, already seen). Depth 5 is not reached: the frontier empties.
    # Then the kept nodes' keys and labels (the edges' sources come with each level's rows).
    with django_assert_num_queries(3 + 3 + 1):
        body = api.get(url).json()
    assert len(body["nodes"]) == 5


def test_impact_by_id_and_by_digest(api, chain, user):
    c = chain
    second = factories.ModelVersionFactory(model=c.version.model, version="2", training_run=c.run)
    from mlgov.inventory.sync_services import _lineage_after_upsert

    _lineage_after_upsert(actor="sync", name="modelversion", external_source="mlflow:test", changed=[second])
    body = api.get(f"/api/v1/lineage/impact?dataset={c.dataset.pk}").json()
    assert body["model_version_count"] == 2
    assert body["production_count"] == 1
    prod = next(v for v in body["model_versions"] if v["production"])
    assert prod["id"] == c.version.pk
    assert prod["aliases"] == ["production"]
    assert prod["team"] == c.version.model.project.team.slug
    assert body["teams"] == [c.version.model.project.team.name]
    by_digest = api.get(f"/api/v1/lineage/impact?dataset={c.dataset.digest}").json()
    assert [d["id"] for d in by_digest["datasets"]] == [c.dataset.pk]
    assert by_digest["model_version_count"] == 2
    model_alias_set(actor=user, version=second, alias="production")
    moved = api.get(f"/api/v1/lineage/impact?dataset={c.dataset.pk}").json()
    old = next(v for v in moved["model_versions"] if v["id"] == c.version.pk)
    assert old["production"] is False
    assert old["past_aliases"] == ["production"]


def test_impact_costs_the_same_queries_for_one_version_or_many(api, chain, user, django_assert_num_queries):
    """Impact's cost does not grow with the versions it finds: one query per level walked, then the
    versions with their models, projects, teams and aliases in a fixed number."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from mlgov.inventory.sync_services import _lineage_after_upsert

    c = chain
    url = f"/api/v1/lineage/impact?dataset={c.dataset.pk}"
    api.get(url)  # warm the token's last-used stamp
    with CaptureQueriesContext(connection) as one:
        assert api.get(url).json()["model_version_count"] == 1
    more = [
        factories.ModelVersionFactory(model=c.version.model, version=str(n), training_run=c.run) for n in range(2, 12)
    ]
    _lineage_after_upsert(actor="sync", name="modelversion", external_source="mlflow:test", changed=more)
    for version in more[:3]:
        model_alias_set(actor=user, version=version, alias=f"canary-{version.version}")
    with django_assert_num_queries(len(one.captured_queries)):
        body = api.get(url).json()
    assert body["model_version_count"] == 11
    assert sorted(a for v in body["model_versions"] for a in v["aliases"]) == [
        "canary-2",
        "canary-3",
        "canary-4",
        "production",
    ]


@pytest.mark.parametrize(
    ("url", "status", "field"),
    [
        ("/api/v1/lineage/modelversion/1?direction=sideways", 400, "direction"),
        ("/api/v1/lineage/modelversion/1?depth=21", 400, "depth"),
        ("/api/v1/lineage/modelversion/1?depth=0", 400, "depth"),
        ("/api/v1/lineage/modelversion/1?depth=abc", 400, "depth"),
        ("/api/v1/lineage/modelversion/1?kinds=planet", 400, "kinds"),
        ("/api/v1/lineage/modelversion/1?since=yesterday", 400, "since"),
        ("/api/v1/lineage/modelversion/1?cap=9000", 400, "cap"),
        ("/api/v1/lineage/modelversion/1?bogus=1", 400, "unknown_parameters"),
        ("/api/v1/lineage/modelversion/1?depth=3&depth=4", 400, "depth"),
        ("/api/v1/lineage/modelversion/abc", 400, "id"),
        ("/api/v1/lineage/modelversion/999999", 404, "id"),
        ("/api/v1/lineage/planet/1", 404, "kind"),
        ("/api/v1/lineage/commit/xyz", 400, "id"),
        ("/api/v1/lineage/commit/abcdef12", 404, "id"),
        ("/api/v1/lineage/alias/1:bad alias:2", 400, "id"),
        ("/api/v1/lineage/impact", 400, "dataset"),
        ("/api/v1/lineage/impact?dataset=nope", 404, "dataset"),
        ("/api/v1/lineage/impact?dataset=1&depth=99", 400, "depth"),
        ("/api/v1/lineage/export", 400, "model_version"),
        ("/api/v1/lineage/export?model_version=x", 400, "model_version"),
    ],
)
def test_bad_queries_are_4xx_in_the_error_shape(api, url, status, field):
    factories.ModelVersionFactory(pk=1)
    response = api.get(url)
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details"}
    assert field in error["details"]


def test_anonymous_is_refused(client):
    response = client.get("/api/v1/lineage/dataset/1")
    assert response.status_code in (401, 403)
    assert "error" in response.json()


def test_the_lineage_summary_for_a_promotion_page(chain, user, django_assert_num_queries):
    from django.template.loader import render_to_string

    from mlgov.inventory.lineage_selectors import lineage_summary

    c = chain
    with django_assert_num_queries(1 + 3 + 1):  # the root node, three levels, keys and labels
        summary = lineage_summary(user=user, version=c.version)
    assert summary["counts"] == {"commit": 1, "dataset": 1, "pipelinerun": 1, "trainingrun": 1}
    assert summary["datasets"][0]["url"] == f"/datasets/{c.dataset.pk}/"
    assert summary["has_ci_run"] is True
    html = render_to_string("inventory/includes/lineage_summary.html", {"summary": summary})
    assert str(c.dataset) in html
    assert "No CI run is linked" not in html
    bare = lineage_summary(user=user, version=factories.ModelVersionFactory(training_run=None))
    assert "No lineage is recorded" in render_to_string("inventory/includes/lineage_summary.html", {"summary": bare})


def test_cap_truncates_to_exactly_the_cap_along_the_chain(api, chain):
    c = chain
    url = f"/api/v1/lineage/alias/{alias_key(c)}?direction=upstream&depth=5"
    full = api.get(url).json()
    assert (full["truncated"], full["node_count"], full["cap"]) == (False, 6, 5000)
    # alias, version, run fill the first two levels; the third level (dataset, commit, CI run) overflows a cap of 4.
    body = api.get(f"{url}&cap=4").json()
    assert (body["truncated"], body["cap"], body["node_count"], len(body["nodes"])) == (True, 4, 4, 4)
    assert {f"alias:{alias_key(c)}", f"modelversion:{c.version.pk}", f"trainingrun:{c.run.pk}"} < ids(body)
    kept = ids(body)
    assert all(e["from"] in kept and e["to"] in kept for e in body["edges"])
    assert body["edge_count"] == len(body["edges"]) == 3
    assert api.get(f"{url}&cap=4").json() == body  # the same nodes every time
    # A cap the result just fits is not truncation.
    exact = api.get(f"{url}&cap=6").json()
    assert (exact["truncated"], exact["node_count"]) == (False, 6)


def test_cap_truncates_a_wide_fan_out_to_exactly_the_cap(api):
    dataset = factories.DatasetFactory()
    runs = [factories.TrainingRunFactory(started_at=T0) for _ in range(12)]
    synced_run_links_replace(
        actor="sync", run_ids=[r.pk for r in runs], inputs={r.pk: [(dataset.pk, "training")] for r in runs}, features={}
    )
    url = f"/api/v1/lineage/dataset/{dataset.pk}?direction=downstream&depth=3"
    whole = api.get(url).json()
    assert (whole["truncated"], whole["node_count"]) == (False, 13)
    body = api.get(f"{url}&cap=5").json()
    assert body["truncated"] is True
    assert body["node_count"] == len(body["nodes"]) == 5
    runs_kept = [n for n in body["nodes"] if n["kind"] == "trainingrun"]
    assert len(runs_kept) == 4
    # Within a level, neighbours are taken in node id order: the four lowest of the twelve.
    assert [n["id"] for n in runs_kept] == [n["id"] for n in whole["nodes"] if n["kind"] == "trainingrun"][:4]
    assert body["edge_count"] == 4
    one = api.get(f"{url}&cap=1").json()
    assert (one["truncated"], [n["id"] for n in one["nodes"]], one["edges"]) == (True, [f"dataset:{dataset.pk}"], [])


def test_impact_since_and_until_keep_only_edges_observed_in_the_window(api, chain):
    c = chain
    url = f"/api/v1/lineage/impact?dataset={c.dataset.pk}"

    def versions(**window) -> list[int]:
        query = "".join(f"&{k}={v.isoformat().replace('+', '%2B')}" for k, v in window.items())
        response = api.get(url + query)
        assert response.status_code == 200, response.content
        return [v["id"] for v in response.json()["model_versions"]]

    # consumed at T0, produced_by at T0+25 min (registration), assigned now.
    assert versions() == [c.version.pk]
    assert versions(since=T0 - timedelta(hours=1)) == [c.version.pk]
    assert versions(until=T0 + timedelta(minutes=30)) == [c.version.pk]
    assert versions(since=T0 - timedelta(hours=1), until=T0 + timedelta(minutes=30)) == [c.version.pk]
    assert versions(until=T0 + timedelta(minutes=10)) == []  # the version was registered after the window
    assert versions(since=T0 + timedelta(minutes=10)) == []  # the run consumed the dataset before it
    assert versions(until=T0 - timedelta(days=1)) == []
    inside = api.get(f"{url}&until={(T0 + timedelta(minutes=10)).isoformat().replace('+', '%2B')}").json()
    assert inside["node_count"] == 2  # the dataset and the run that consumed it
    backwards = api.get(f"{url}&since=2026-03-03T00:00:00Z&until=2026-03-02T00:00:00Z")
    assert backwards.status_code == 400
    assert "since" in backwards.json()["error"]["details"]
    bad = api.get(f"{url}&until=soon")
    assert bad.status_code == 400
    assert "until" in bad.json()["error"]["details"]
