from rest_framework import serializers

from mlgov.inventory.hooks import project_commit_url, sync_history
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

SYNCED_FIELDS = ("external_source", "external_id", "removed_at", "created_at", "updated_at")


class TeamSerializer(serializers.ModelSerializer):
    project_count = serializers.IntegerField(read_only=True, default=0)

    class Meta:
        model = Team
        fields = ("id", "slug", "name", "description", "project_count", "created_at", "updated_at")
        read_only_fields = ("id", "created_at", "updated_at")


class TeamUpdateSerializer(TeamSerializer):
    class Meta(TeamSerializer.Meta):
        read_only_fields = ("id", "slug", "created_at", "updated_at")


class ProjectSerializer(serializers.ModelSerializer):
    team = serializers.SlugRelatedField(slug_field="slug", queryset=Team.objects.all())

    class Meta:
        model = Project
        fields = ("id", "slug", "name", "description", "team", "risk_tier", "lifecycle", "created_at", "updated_at")
        read_only_fields = ("id", "created_at", "updated_at")


class _ProjectRefMixin(serializers.Serializer):
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    team = serializers.SerializerMethodField()

    def get_team(self, obj) -> str | None:
        project = obj.project
        return project.team.slug if project else None


class RegisteredModelSerializer(_ProjectRefMixin, serializers.ModelSerializer):
    aliases = serializers.SerializerMethodField()

    class Meta:
        model = RegisteredModel
        fields = ("id", "name", "description", "project", "team", "tags", "aliases", *SYNCED_FIELDS)
        read_only_fields = fields

    def get_aliases(self, obj) -> dict[str, str]:
        return {a.alias: a.version.version for a in obj.aliases.all()}


class ModelVersionSerializer(serializers.ModelSerializer):
    model_name = serializers.CharField(source="model.name", read_only=True)
    project = serializers.SerializerMethodField()
    team = serializers.SerializerMethodField()
    aliases = serializers.SerializerMethodField()

    class Meta:
        model = ModelVersion
        fields = (
            "id",
            "model",
            "model_name",
            "version",
            "status",
            "source",
            "run_id",
            "git_commit",
            "aliases",
            "tags",
            "metrics",
            "registered_at",
            "project",
            "team",
            *SYNCED_FIELDS,
        )
        read_only_fields = fields

    def get_project(self, obj) -> str | None:
        return obj.model.project.slug if obj.model.project else None

    def get_team(self, obj) -> str | None:
        return obj.model.project.team.slug if obj.model.project else None

    def get_aliases(self, obj) -> list[str]:
        return [a.alias for a in obj.aliases.all()]


class ModelVersionListSerializer(ModelVersionSerializer):
    """The same fields as `ModelVersionSerializer`, read from `selectors.model_version_api_list`'s columns."""

    model_name = serializers.CharField(read_only=True)
    project = serializers.CharField(source="project_slug", read_only=True, allow_null=True)
    team = serializers.CharField(source="team_slug", read_only=True, allow_null=True)

    def get_aliases(self, obj) -> list[str]:
        return [a.alias for a in obj.alias_list]


class DatasetSerializer(_ProjectRefMixin, serializers.ModelSerializer):
    class Meta:
        model = Dataset
        fields = (
            "id",
            "name",
            "digest",
            "source_type",
            "source",
            "schema",
            "profile",
            "project",
            "team",
            *SYNCED_FIELDS,
        )
        read_only_fields = fields


class FeatureSerializer(_ProjectRefMixin, serializers.ModelSerializer):
    class Meta:
        model = Feature
        fields = ("id", "name", "feature_view", "dtype", "entity", "dataset", "project", "team", *SYNCED_FIELDS)
        read_only_fields = fields


class PipelineSerializer(_ProjectRefMixin, serializers.ModelSerializer):
    class Meta:
        model = Pipeline
        fields = (
            "id",
            "provider",
            "name",
            "config_path",
            "triggers",
            "kind",
            "jobs",
            "project",
            "team",
            *SYNCED_FIELDS,
        )
        read_only_fields = fields


class PipelineRunSerializer(serializers.ModelSerializer):
    pipeline_name = serializers.CharField(source="pipeline.name", read_only=True)
    project = serializers.SerializerMethodField()

    class Meta:
        model = PipelineRun
        fields = (
            "id",
            "pipeline",
            "pipeline_name",
            "project",
            "status",
            "commit_sha",
            "trigger",
            "started_at",
            "finished_at",
            "url",
            "jobs",
            "tests_total",
            "tests_failed",
            "tests_errors",
            "tests_skipped",
            "training_runs",
            *SYNCED_FIELDS,
        )
        read_only_fields = fields

    def get_project(self, obj) -> str | None:
        project = obj.pipeline.project
        return project.slug if project else None


class ExperimentSerializer(_ProjectRefMixin, serializers.ModelSerializer):
    class Meta:
        model = Experiment
        fields = ("id", "name", "tags", "project", "team", *SYNCED_FIELDS)
        read_only_fields = fields


class TrainingRunSerializer(_ProjectRefMixin, serializers.ModelSerializer):
    experiment_name = serializers.CharField(source="experiment.name", read_only=True, default=None)

    class Meta:
        model = TrainingRun
        fields = (
            "id",
            "name",
            "experiment",
            "experiment_name",
            "status",
            "user",
            "launched_by",
            "source_type",
            "source_name",
            "git_commit",
            "params",
            "metrics",
            "tags",
            "started_at",
            "ended_at",
            "project",
            "team",
            *SYNCED_FIELDS,
        )
        read_only_fields = fields


def commit_url(repo_url: str, sha: str) -> str | None:
    """A browsable link to a commit for GitHub/GitLab-style https remotes, else None."""
    if not (repo_url and sha):
        return None
    url = repo_url.removesuffix(".git")
    if url.startswith("git@") and ":" in url:
        host, path = url[4:].split(":", 1)
        url = f"https://{host}/{path}"
    if not url.startswith("https://"):
        return None
    return f"{url}/-/commit/{sha}" if "gitlab" in url else f"{url}/commit/{sha}"


class ModelVersionDetailSerializer(ModelVersionSerializer):
    """A version with its source run's params and metrics, dataset inputs, features, commit and sync history."""

    run = serializers.SerializerMethodField()
    dataset_inputs = serializers.SerializerMethodField()
    features = serializers.SerializerMethodField()
    commit_url = serializers.SerializerMethodField()
    sync_history = serializers.SerializerMethodField()

    class Meta(ModelVersionSerializer.Meta):
        fields = (
            *ModelVersionSerializer.Meta.fields,
            "run",
            "dataset_inputs",
            "features",
            "commit_url",
            "sync_history",
        )
        read_only_fields = fields

    def get_run(self, obj) -> dict | None:
        return TrainingRunSerializer(obj.training_run).data if obj.training_run else None

    def get_dataset_inputs(self, obj) -> list[dict]:
        if not obj.training_run:
            return []
        return [
            {
                "dataset": i.dataset_id,
                "name": i.dataset.name,
                "digest": i.dataset.digest,
                "source_type": i.dataset.source_type,
                "source": i.dataset.source,
                "context": i.context,
            }
            for i in obj.training_run.inputs.all()
        ]

    def get_features(self, obj) -> list[str]:
        return [str(f) for f in obj.training_run.features.all()] if obj.training_run else []

    def get_commit_url(self, obj) -> str | None:
        """The run's own `mlflow.source.git.repoURL` first, else the repository known for the version's
        project (a hook: integrations knows the GitRepository)."""
        repo = obj.training_run.tags.get("mlflow.source.git.repoURL", "") if obj.training_run else ""
        project_id = obj.model.project_id or (obj.training_run.project_id if obj.training_run else None)
        return commit_url(repo, obj.git_commit) or project_commit_url(project_id, obj.git_commit)

    def get_sync_history(self, obj) -> list[dict]:
        return [dict(row) for row in sync_history(obj.external_source, 10)] if obj.external_source else []
