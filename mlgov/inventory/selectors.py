"""Reads of the inventory. Every list costs a fixed number of queries whatever its length.

Every organisation user may read the whole inventory (issue 2); `user` is taken so that private
visibility can be added in one place.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, F, Prefetch, QuerySet

from mlgov.inventory.models import (
    Dataset,
    Experiment,
    Feature,
    ModelAlias,
    ModelVersion,
    Pipeline,
    PipelineRun,
    Project,
    RegisteredModel,
    RunInput,
    Team,
    TrainingRun,
)


def team_list(*, user: Any) -> QuerySet[Team]:
    return Team.objects.annotate(project_count=Count("projects", distinct=True))


def project_list(*, user: Any) -> QuerySet[Project]:
    return Project.objects.select_related("team")


def registered_model_list(*, user: Any) -> QuerySet[RegisteredModel]:
    return RegisteredModel.objects.select_related("project__team").prefetch_related(
        Prefetch("aliases", queryset=ModelAlias.objects.select_related("version").order_by("alias"))
    )


def model_version_list(*, user: Any) -> QuerySet[ModelVersion]:
    return ModelVersion.objects.select_related("model__project__team").prefetch_related(
        Prefetch("aliases", queryset=ModelAlias.objects.order_by("alias"))
    )


def model_version_api_list(*, user: Any) -> QuerySet[ModelVersion]:
    """The API's list: the model, project and team names as columns rather than three model instances a
    row, and the aliases as a plain list (`alias_list`). Half the Python work of a 100-row page, and
    fewer objects in reference cycles for the garbage collector (docs/performance.md)."""
    return ModelVersion.objects.annotate(
        model_name=F("model__name"),
        project_slug=F("model__project__slug"),
        team_slug=F("model__project__team__slug"),
    ).prefetch_related(
        Prefetch(
            "aliases",
            queryset=ModelAlias.objects.order_by("alias").only("id", "alias", "version_id"),
            to_attr="alias_list",
        )
    )


def dataset_list(*, user: Any) -> QuerySet[Dataset]:
    return Dataset.objects.select_related("project__team")


def feature_list(*, user: Any) -> QuerySet[Feature]:
    return Feature.objects.select_related("project__team", "dataset")


def pipeline_list(*, user: Any) -> QuerySet[Pipeline]:
    return Pipeline.objects.select_related("project__team")


def pipeline_run_list(*, user: Any) -> QuerySet[PipelineRun]:
    return PipelineRun.objects.select_related("pipeline__project__team").prefetch_related(
        Prefetch("training_runs", queryset=TrainingRun.objects.only("id"))
    )


def experiment_list(*, user: Any) -> QuerySet[Experiment]:
    return Experiment.objects.select_related("project__team")


def training_run_list(*, user: Any) -> QuerySet[TrainingRun]:
    return TrainingRun.objects.select_related("project__team", "experiment")


def model_version_detail(*, user: Any) -> QuerySet[ModelVersion]:
    """Versions with their source run, its dataset inputs and features, for the detail view and page."""
    return (
        model_version_list(user=user)
        .select_related("training_run__experiment")
        .prefetch_related(
            Prefetch("training_run__inputs", queryset=RunInput.objects.select_related("dataset")),
            "training_run__features",
        )
    )
