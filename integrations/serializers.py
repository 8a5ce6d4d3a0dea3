from rest_framework import serializers

from integrations.choices import SyncMode
from integrations.models import MlflowConnection, SyncRun
from mlgov.inventory.validators import validate_no_control_chars


class MappingField(serializers.JSONField):
    """Mapping rules: {"tag": str, "prefixes": {prefix: slug}, "experiments": {name: slug}, "models": {...}}."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not isinstance(value, dict):
            raise serializers.ValidationError("Must be an object.")
        unknown = set(value) - {"tag", "prefixes", "experiments", "models"}
        if unknown:
            raise serializers.ValidationError(f"Unknown key(s): {', '.join(sorted(unknown))}.")
        if "tag" in value and not isinstance(value["tag"], str):
            raise serializers.ValidationError({"tag": "Must be a string."})
        for key in ("prefixes", "experiments", "models"):
            rules = value.get(key, {})
            if not isinstance(rules, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in rules.items()
            ):
                raise serializers.ValidationError({key: "Must map strings to project slugs."})
        return value


class MlflowConnectionSerializer(serializers.ModelSerializer):
    mapping = MappingField(required=False)
    last_sync_id = serializers.IntegerField(read_only=True, allow_null=True, default=None)
    last_sync_status = serializers.CharField(read_only=True, allow_null=True, default=None)
    last_sync_finished = serializers.DateTimeField(read_only=True, allow_null=True, default=None)

    class Meta:
        model = MlflowConnection
        fields = (
            "id",
            "name",
            "tracking_uri",
            "token_env_var",
            "mapping",
            "enabled",
            "sync_interval_minutes",
            "full_sync_every",
            "description",
            "last_sync_id",
            "last_sync_status",
            "last_sync_finished",
            "created_at",
            "updated_at",
        )
        read_only_fields = ("id", "created_at", "updated_at")
        extra_kwargs = {
            "tracking_uri": {"validators": [validate_no_control_chars]},
            "sync_interval_minutes": {"min_value": 1, "max_value": 7 * 24 * 60},
        }


class SyncRequestSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=SyncMode.choices, required=False)


class SyncRunSerializer(serializers.ModelSerializer):
    duration_seconds = serializers.FloatField(read_only=True, allow_null=True)

    class Meta:
        model = SyncRun
        fields = (
            "id",
            "target",
            "kind",
            "mode",
            "status",
            "triggered_by",
            "started_at",
            "finished_at",
            "duration_seconds",
            "attempts",
            "progress",
            "counts",
            "errors",
            "created_at",
        )
        read_only_fields = fields
