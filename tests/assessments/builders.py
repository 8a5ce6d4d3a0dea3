"""Rows for every kind of evidence, written through the factories and the ORM (fast; no audit events)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from integrations.models import GitRepository, RepoSignal
from mlgov.inventory.lineage_services import EdgeSpec, lineage_edges_record, object_node, object_ref
from mlgov.inventory.models import Project, RunInput
from tests import factories

SIGNALS = (
    "data_versioning",
    "training_code",
    "scoring_code",
    "test_file",
    "scoring_test",
    "ci_config",
    "dockerfile",
    "monitoring",
)


def full_evidence(project: Project, *, n: int = 0, web_url: str | None = None) -> dict:
    """One of everything assessments/evidence.py reads, for `project`: tracked, automated and monitoring runs
    with commits and a dataset, a version with an alias, a repository with signals and activity, a
    deployment pipeline pushed to on a schedule, and successful, tested, training-linked CI runs."""
    now = timezone.now()
    factories.MembershipFactory(team=project.team, role="maintainer")
    exp = factories.ExperimentFactory(project=project, name=f"{project.slug}-training")
    monitor = factories.ExperimentFactory(project=project, name=f"{project.slug}-monitoring")
    runs = [
        factories.TrainingRunFactory(
            experiment=exp, launched_by="service", user="github-actions[bot]", started_at=now - timedelta(weeks=w)
        )
        for w in range(4)
    ]
    factories.TrainingRunFactory(experiment=monitor)
    dataset = factories.DatasetFactory(project=project)
    RunInput.objects.create(run=runs[0], dataset=dataset, context="training")
    # An ETL job reported (OpenLineage) producing the raw table the training snapshot was derived from.
    etl = object_ref("pipelinerun", factories.PipelineRunFactory(pipeline__project=None).pk)
    lineage_edges_record(
        actor="test",
        edges=[
            EdgeSpec(
                upstream=etl,
                downstream=object_node(dataset),
                relation="produced_by",
                source="openlineage:airflow-prod",
                observed_at=now - timedelta(days=1),
            )
        ],
    )
    RunInput.objects.create(run=runs[0], dataset=factories.DatasetFactory(project=project), context="evaluation")
    version = factories.ModelVersionFactory(model__project=project, training_run=runs[0], git_commit=runs[0].git_commit)
    factories.ModelAliasFactory(version=version, alias="champion")
    repo = GitRepository.objects.create(
        name=f"{project.slug}-repo{n}",
        url=f"/srv/git/{project.slug}.git",
        project=project,
        web_url=web_url if web_url is not None else f"https://github.com/acme/{project.slug}",
        scanned_at=now,
        head_sha="c" * 40,
        activity={"committers": [{"name": "Ada", "email": "ada@example.com", "commits": 3}]},
    )
    for kind in SIGNALS:
        RepoSignal.objects.create(
            repository=repo, kind=kind, path=f"{kind}.py", commit_sha="c" * 40, observed_at=now, detail={}
        )
    pipeline = factories.PipelineFactory(
        project=project,
        kind="deployment",
        name=f"{project.slug}-deploy",
        triggers=[{"type": "push", "detail": {}}, {"type": "schedule", "detail": {"cron": "0 3 * * 1"}}],
        jobs=[{"name": "train", "kind": "train"}, {"name": "deploy", "kind": "deploy"}, {"name": "t", "kind": "test"}],
        external_source=f"repo:github.com/acme/{project.slug}",
    )
    ci_run = factories.PipelineRunFactory(
        pipeline=pipeline,
        url=f"https://github.com/acme/{project.slug}/actions/runs/{n + 1}",
        tests_total=12,
        tests_failed=0,
        tests_errors=0,
        finished_at=now,
        commit_sha=runs[0].git_commit,
    )
    ci_run.training_runs.add(runs[0])
    return {"runs": runs, "version": version, "repo": repo, "pipeline": pipeline, "ci_run": ci_run}
