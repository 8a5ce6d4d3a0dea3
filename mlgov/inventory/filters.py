"""Allow-listed filters for each inventory list. Anything else is refused by the strict backend."""

from __future__ import annotations

import django_filters
from rest_framework.exceptions import ValidationError

from mlgov.inventory.choices import LaunchedBy, Lifecycle, ModelVersionStatus, PipelineKind, PipelineProvider, RunStatus
from mlgov.inventory.models import (
    Dataset,
    Experiment,
    Feature,
    ModelVersion,
    Pipeline,
    PipelineRun,
    Project,
    RegisteredModel,
    Team,
    TrainingRun,
)


class CommitFilter(django_filters.CharFilter):
    """A full sha, or an abbreviated one of at least 7 hex characters."""

    def filter(self, qs, value):
        if not value:
            return qs
        value = value.strip().lower()
        if not (7 <= len(value) <= 64) or any(c not in "0123456789abcdef" for c in value):
            raise ValidationError({"commit": ["Must be 7 to 64 hexadecimal characters."]})
        return qs.filter(**{f"{self.field_name}__startswith": value})


class UpdatedSince(django_filters.FilterSet):
    updated_since = django_filters.IsoDateTimeFilter(field_name="updated_at", lookup_expr="gte")


class SyncedFilterSet(UpdatedSince):
    removed = django_filters.BooleanFilter(field_name="removed_at", lookup_expr="isnull", exclude=True)
    external_source = django_filters.CharFilter()


class TeamFilterSet(UpdatedSince):
    slug = django_filters.CharFilter()

    class Meta:
        model = Team
        fields = []


class ProjectFilterSet(UpdatedSince):
    team = django_filters.CharFilter(field_name="team__slug")
    lifecycle = django_filters.ChoiceFilter(choices=Lifecycle.choices)
    risk_tier = django_filters.NumberFilter()

    class Meta:
        model = Project
        fields = []


class RegisteredModelFilterSet(SyncedFilterSet):
    team = django_filters.CharFilter(field_name="project__team__slug")
    project = django_filters.CharFilter(field_name="project__slug")
    unassigned = django_filters.BooleanFilter(field_name="project", lookup_expr="isnull")
    alias = django_filters.CharFilter(field_name="aliases__alias")
    name = django_filters.CharFilter()

    class Meta:
        model = RegisteredModel
        fields = []


class ModelVersionFilterSet(SyncedFilterSet):
    team = django_filters.CharFilter(field_name="model__project__team__slug")
    project = django_filters.CharFilter(field_name="model__project__slug")
    model = django_filters.CharFilter(field_name="model__name")
    model_id = django_filters.NumberFilter(field_name="model_id")
    alias = django_filters.CharFilter(field_name="aliases__alias")
    status = django_filters.ChoiceFilter(choices=ModelVersionStatus.choices)
    commit = CommitFilter(field_name="git_commit")
    run_id = django_filters.CharFilter()

    class Meta:
        model = ModelVersion
        fields = []


class DatasetFilterSet(SyncedFilterSet):
    team = django_filters.CharFilter(field_name="project__team__slug")
    project = django_filters.CharFilter(field_name="project__slug")
    name = django_filters.CharFilter()
    digest = django_filters.CharFilter()
    source_type = django_filters.CharFilter()

    class Meta:
        model = Dataset
        fields = []


class FeatureFilterSet(SyncedFilterSet):
    team = django_filters.CharFilter(field_name="project__team__slug")
    project = django_filters.CharFilter(field_name="project__slug")
    feature_view = django_filters.CharFilter()
    dataset = django_filters.NumberFilter(field_name="dataset_id")

    class Meta:
        model = Feature
        fields = []


class PipelineFilterSet(SyncedFilterSet):
    team = django_filters.CharFilter(field_name="project__team__slug")
    project = django_filters.CharFilter(field_name="project__slug")
    provider = django_filters.ChoiceFilter(choices=PipelineProvider.choices)
    kind = django_filters.ChoiceFilter(choices=PipelineKind.choices)

    class Meta:
        model = Pipeline
        fields = []


class PipelineRunFilterSet(SyncedFilterSet):
    team = django_filters.CharFilter(field_name="pipeline__project__team__slug")
    project = django_filters.CharFilter(field_name="pipeline__project__slug")
    pipeline = django_filters.NumberFilter(field_name="pipeline_id")
    status = django_filters.ChoiceFilter(choices=RunStatus.choices)
    commit = CommitFilter(field_name="commit_sha")
    started_since = django_filters.IsoDateTimeFilter(field_name="started_at", lookup_expr="gte")

    class Meta:
        model = PipelineRun
        fields = []


class ExperimentFilterSet(SyncedFilterSet):
    team = django_filters.CharFilter(field_name="project__team__slug")
    project = django_filters.CharFilter(field_name="project__slug")
    unassigned = django_filters.BooleanFilter(field_name="project", lookup_expr="isnull")
    name = django_filters.CharFilter()

    class Meta:
        model = Experiment
        fields = []


class TrainingRunFilterSet(SyncedFilterSet):
    team = django_filters.CharFilter(field_name="project__team__slug")
    project = django_filters.CharFilter(field_name="project__slug")
    experiment = django_filters.NumberFilter(field_name="experiment_id")
    status = django_filters.CharFilter()
    launched_by = django_filters.ChoiceFilter(choices=LaunchedBy.choices)
    commit = CommitFilter(field_name="git_commit")
    started_since = django_filters.IsoDateTimeFilter(field_name="started_at", lookup_expr="gte")
    dataset = django_filters.NumberFilter(field_name="inputs__dataset_id", distinct=True)

    class Meta:
        model = TrainingRun
        fields = []
