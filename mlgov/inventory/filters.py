"""Allow-listed filters for each inventory list. Anything else is refused by the strict backend."""

from __future__ import annotations

import django_filters
from django.db.models import Q
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

HEX = frozenset("0123456789abcdef")


def is_commit_prefix(value: str) -> bool:
    return 7 <= len(value) <= 64 and all(c in HEX for c in value)


def commit_prefix_q(field: str, prefix: str) -> Q:
    """Every lowercase sha that starts with `prefix`, as an index range: such shas sort from `prefix` up to
    `prefix + "g"` ("g" follows every hex digit). Unlike `LIKE 'abc%'`, SQLite can use the index for it (its
    LIKE is case-insensitive and the index is not). Commits are stored lowercase (the syncs lower them)."""
    return Q(**{f"{field}__gte": prefix, f"{field}__lt": prefix + "g"})


class CommitFilter(django_filters.CharFilter):
    """A full sha, or an abbreviated one of at least 7 hex characters."""

    def filter(self, qs, value):
        if not value:
            return qs
        value = value.strip().lower()
        if not is_commit_prefix(value):
            raise ValidationError({"commit": ["Must be 7 to 64 hexadecimal characters."]})
        return qs.filter(commit_prefix_q(self.field_name, value))


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
    q = django_filters.CharFilter(
        method="search",
        help_text="Search: every word must match a model name (part of it), a whole run id or a commit prefix.",
    )

    class Meta:
        model = ModelVersion
        fields = []

    # A word matches this many models at most; a word that common narrows nothing anyway.
    MODEL_MATCH_LIMIT = 1000

    def search(self, qs, name, value):
        """Each word is one indexed lookup, not `UPPER(col) LIKE '%word%'` over three columns across a join,
        which scanned every version (docs/performance.md): the matching model ids first, then by id."""
        for word in value.split():
            ids = list(
                RegisteredModel.objects.filter(name__icontains=word).values_list("id", flat=True)[
                    : self.MODEL_MATCH_LIMIT
                ]
            )
            lowered = word.lower()
            match = Q(model_id__in=ids) | Q(run_id=word) | Q(run_id=lowered)
            if is_commit_prefix(lowered):
                match |= commit_prefix_q("git_commit", lowered)
            qs = qs.filter(match)
        return qs


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
