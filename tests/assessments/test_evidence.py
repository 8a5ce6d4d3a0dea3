"""Evidence collection: every record has a source, a link and an observed-at time; the number of queries
does not depend on the number of projects; removed and unassigned objects are not evidence; providers
registered by higher apps are merged in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from assessments import hooks
from assessments.contracts import Evidence
from assessments.detectors import EVIDENCE_KINDS
from assessments.evidence import collect_evidence
from assessments.models import Attestation, AttestationRule, Waiver
from integrations.models import MlflowConnection
from mlgov.inventory.models import ModelVersion, TrainingRun
from tests import factories
from tests.assessments.builders import full_evidence

pytestmark = pytest.mark.django_db

PRODUCED_HERE = {k for k, v in EVIDENCE_KINDS.items() if v.producer != "governance"} - {
    "ci.pipeline.data",
    "ci.pipeline.training",
    "ci.pipeline.evaluation",
    "ci.pipeline.ci",
    "ci.job.evaluate",
    "ci.job.data",
    *(f"git.signal.{k}" for k in ("feature_store", "feature_view", "data_validation")),
    *(f"git.signal.{k}" for k in ("infrastructure", "dependency_lock")),
}


@pytest.fixture
def providers(monkeypatch):
    registered: list = []
    monkeypatch.setattr(hooks, "_providers", registered)
    return registered


def _queries(**kwargs) -> tuple[int, dict]:
    with CaptureQueriesContext(connection) as ctx:
        result = collect_evidence(now=timezone.now(), **kwargs)
    return len(ctx.captured_queries), result


def test_every_kind_with_source_link_and_time():
    project = factories.ProjectFactory()
    full_evidence(project)
    records = collect_evidence(now=timezone.now())[project.pk].records
    assert {r.kind for r in records} == PRODUCED_HERE
    for record in records:
        assert record.source, record
        assert record.link, record
        assert record.observed_at.tzinfo is not None, record
        assert record.count >= 1
        assert record.summary
    by_kind = {r.kind: r for r in records}
    assert by_kind["mlflow.run.automated"].count == 4
    assert by_kind["mlflow.run.recurring"].count == 4  # four distinct weeks
    assert by_kind["mlflow.run.monitoring"].count == 1
    assert by_kind["mlflow.run.tracked"].count == 5
    assert by_kind["mlflow.run.dataset"].count == 1  # runs, not inputs
    signal = by_kind["git.signal.scoring_code"]
    assert signal.source == f"git:{project.slug}-repo0"
    assert signal.link == f"https://github.com/acme/{project.slug}/blob/{'c' * 40}/scoring_code.py"
    assert by_kind["ci.run.tested"].link == f"https://github.com/acme/{project.slug}/actions/runs/1"
    assert by_kind["ci.run.tested"].facts == {"tests": 12}
    assert by_kind["mlflow.alias.traced"].summary.endswith("@champion")
    assert by_kind["mlgov.team.maintainer"].link == f"/teams/{project.team.slug}/"


def test_links_go_to_the_mlflow_ui_when_the_connection_has_one():
    MlflowConnection.objects.create(name="test", tracking_uri="https://mlflow.example.com/")
    project = factories.ProjectFactory()
    made = full_evidence(project, web_url="")
    by_kind = {r.kind: r for r in collect_evidence(now=timezone.now())[project.pk].records}
    newest = TrainingRun.objects.filter(project=project, launched_by="service").order_by("-started_at").first()
    assert by_kind["mlflow.run.automated"].link == (
        f"https://mlflow.example.com/#/experiments/{newest.experiment.external_id}/runs/{newest.external_id}"
    )
    version = made["version"]
    assert by_kind["mlflow.model.version"].link == (
        f"https://mlflow.example.com/#/models/{version.model.name}/versions/{version.version}"
    )
    # No web URL on the repository: the link is mlgov's repository page.
    assert by_kind["git.signal.ci_config"].link == f"/repositories/{project.slug}-repo0/"


def test_without_an_mlflow_ui_runs_and_versions_link_to_mlgov():
    project = factories.ProjectFactory()
    made = full_evidence(project)
    by_kind = {r.kind: r for r in collect_evidence(now=timezone.now())[project.pk].records}
    assert by_kind["mlflow.run.dataset"].link == f"/api/v1/runs/{made['runs'][0].pk}"
    assert by_kind["mlflow.model.version"].link == f"/model-versions/{made['version'].pk}/"


def test_the_number_of_queries_does_not_depend_on_the_number_of_projects(providers):
    providers.append(lambda ids, now: {})
    for _ in range(2):
        full_evidence(factories.ProjectFactory())
    few, result = _queries()
    assert len(result) == 2
    for n in range(2, 8):
        full_evidence(factories.ProjectFactory(), n=n)
    many, result = _queries()
    assert len(result) == 8
    assert all(len(ev.records) == len(PRODUCED_HERE) for ev in result.values())
    assert few == many
    ids = list(result)[:5]
    chosen, subset = _queries(project_ids=ids)
    assert set(subset) == set(ids)
    assert chosen == few  # the same queries, filtered by id
    same = sorted((r.kind, r.source, r.link, r.count) for r in subset[ids[0]].records)
    assert same == sorted((r.kind, r.source, r.link, r.count) for r in result[ids[0]].records)


def test_removed_and_unassigned_objects_are_not_evidence():
    project = factories.ProjectFactory()
    factories.TrainingRunFactory(experiment__project=project, removed_at=timezone.now())
    factories.TrainingRunFactory(experiment__project=None, project=None)
    version = factories.ModelVersionFactory(model__project=project)
    ModelVersion.objects.filter(pk=version.pk).update(removed_at=timezone.now())
    factories.ModelVersionFactory(model__project=project, status="FAILED_REGISTRATION")
    factories.PipelineFactory(project=project, removed_at=timezone.now())
    assert collect_evidence(now=timezone.now())[project.pk].records == ()


def test_a_project_without_evidence_is_present_and_unknown_ids_are_left_out():
    project = factories.ProjectFactory()
    result = collect_evidence(now=timezone.now(), project_ids=[project.pk, 999_999])
    assert list(result) == [project.pk]
    assert result[project.pk].records == ()


def test_attestations_and_waivers_of_the_rubric_with_the_verification_rule():
    project = factories.ProjectFactory()
    now = timezone.now()
    common = {"project": project, "created_at": now, "expires_at": now + timedelta(days=5)}
    a = Attestation.objects.create(
        rubric_id="azure-mlops",
        criterion_id="release.engineering-managed",
        statement="s",
        attested_by_name="femi",
        **common,
    )
    Attestation.objects.create(
        rubric_id="google-mlops", criterion_id="ct.feature-store", statement="s", attested_by_name="femi", **common
    )
    Waiver.objects.create(
        rubric_id="azure-mlops", criterion_id="release.traceable", justification="j", granted_by_name="maya", **common
    )
    AttestationRule.objects.create(
        rubric_id="azure-mlops", criterion_id="release.engineering-managed", requires_verification=True
    )
    ev = collect_evidence(now=now)[project.pk]
    assert [(x.id, x.requires_verification, x.attested_by) for x in ev.attestations] == [(a.pk, True, "femi")]
    assert [w.criterion_id for w in ev.waivers] == ["release.traceable"]
    google = collect_evidence(now=now, rubric_id="google-mlops")[project.pk]
    assert [x.criterion_id for x in google.attestations] == ["ct.feature-store"]
    assert google.attestations[0].requires_verification is False


def test_providers_add_evidence_in_a_fixed_number_of_queries(providers):
    projects = factories.ProjectFactory.create_batch(3)
    observed = datetime(2026, 11, 1, tzinfo=UTC)
    calls = []

    def governance(project_ids, now):
        calls.append(list(project_ids))
        return {
            pid: [Evidence(kind="promotion.governed", source="mlgov:governance", observed_at=observed, link="/p/1/")]
            for pid in project_ids[:2]
        }

    hooks.register_evidence_provider(governance)
    hooks.register_evidence_provider(governance)  # once only
    result = collect_evidence(now=timezone.now())
    assert calls == [sorted(p.pk for p in projects)]
    assert [r.kind for r in result[projects[0].pk].records] == ["promotion.governed"]
    assert result[projects[2].pk].records == ()


def test_a_provider_that_breaks_the_contract_is_refused(providers):
    project = factories.ProjectFactory()
    providers.append(lambda ids, now: {project.pk + 1000: []})
    with pytest.raises(ValueError, match="unknown project"):
        collect_evidence(now=timezone.now())
    providers[:] = [lambda ids, now: {project.pk: [{"kind": "promotion.governed"}]}]
    with pytest.raises(TypeError, match="not Evidence"):
        collect_evidence(now=timezone.now())


def test_training_data_a_pipeline_produced_is_evidence_of_a_data_pipeline():
    from mlgov.inventory.lineage_services import EdgeSpec, lineage_edges_record, object_node, object_ref
    from mlgov.inventory.models import RunInput

    project, other = factories.ProjectFactory(), factories.ProjectFactory()
    run = factories.TrainingRunFactory(experiment=factories.ExperimentFactory(project=project))
    snapshot, raw = factories.DatasetFactory(project=project), factories.DatasetFactory()
    RunInput.objects.create(run=run, dataset=snapshot, context="training")
    factories.TrainingRunFactory(experiment=factories.ExperimentFactory(project=other))
    etl = object_ref("pipelinerun", factories.PipelineRunFactory(pipeline__project=None).pk)
    at = timezone.now() - timedelta(hours=3)
    lineage_edges_record(
        actor="test",
        edges=[
            EdgeSpec(etl, object_node(raw), "produced_by", "openlineage:dbt-prod", at),
            EdgeSpec(object_node(raw), object_node(snapshot), "derived_from", "openlineage:dbt-prod", at),
        ],
    )
    evidence = collect_evidence(now=timezone.now())
    (record,) = [r for r in evidence[project.pk].records if r.kind == "lineage.dataset.produced"]
    assert (record.source, record.link, record.count) == ("openlineage:dbt-prod", f"/datasets/{snapshot.pk}/", 1)
    assert record.observed_at == at
    assert record.facts == {"datasets": [snapshot.name]}
    assert not [r for r in evidence[other.pk].records if r.kind == "lineage.dataset.produced"]

    # A derivation that no longer holds (its edge ended) is not evidence.
    lineage_edges_record(actor="test", edges=[], replace={object_node(snapshot): ["derived_from"]})
    records = collect_evidence(now=timezone.now())[project.pk].records
    assert not [r for r in records if r.kind == "lineage.dataset.produced"]
