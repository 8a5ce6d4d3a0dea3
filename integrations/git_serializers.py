from rest_framework import serializers

from integrations.git_selectors import file_url
from integrations.models import GitRepository, RepoFinding, RepoSignal
from mlgov.inventory.models import Project
from mlgov.inventory.validators import validate_no_control_chars


class RepoSignalSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField(help_text="The file at the scanned commit, when the web URL is known.")

    class Meta:
        model = RepoSignal
        fields = ("kind", "path", "commit_sha", "detail", "observed_at", "url")
        read_only_fields = fields

    def get_url(self, obj: RepoSignal) -> str:
        return file_url(obj.repository.web_url, obj.commit_sha, obj.path)


class RepoFindingSerializer(serializers.ModelSerializer):
    class Meta:
        model = RepoFinding
        fields = ("kind", "path", "message", "commit_sha", "observed_at")
        read_only_fields = fields


class GitRepositorySerializer(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="slug", queryset=Project.objects.all())
    team = serializers.CharField(source="project.team.slug", read_only=True, allow_null=True, default=None)
    last_sync_id = serializers.IntegerField(read_only=True, allow_null=True, default=None)
    last_sync_status = serializers.CharField(read_only=True, allow_null=True, default=None)
    last_sync_finished = serializers.DateTimeField(read_only=True, allow_null=True, default=None)

    class Meta:
        model = GitRepository
        fields = (
            "id",
            "name",
            "url",
            "branch",
            "subdirectory",
            "project",
            "team",
            "credentials_env_var",
            "web_url",
            "enabled",
            "sync_interval_minutes",
            "head_sha",
            "scanned_at",
            "last_sync_id",
            "last_sync_status",
            "last_sync_finished",
            "created_at",
            "updated_at",
        )
        read_only_fields = ("id", "head_sha", "scanned_at", "created_at", "updated_at")
        extra_kwargs = {
            "url": {"validators": [validate_no_control_chars]},
            "web_url": {"validators": [validate_no_control_chars]},
            "sync_interval_minutes": {"min_value": 1, "max_value": 7 * 24 * 60},
        }


class GitRepositoryDetailSerializer(GitRepositorySerializer):
    """One repository with its evidence: signals (with links), findings and commit activity."""

    signals = RepoSignalSerializer(many=True, read_only=True)
    findings = RepoFindingSerializer(many=True, read_only=True)

    class Meta(GitRepositorySerializer.Meta):
        fields = (*GitRepositorySerializer.Meta.fields, "activity", "signals", "findings")
        read_only_fields = (*GitRepositorySerializer.Meta.read_only_fields, "activity")
