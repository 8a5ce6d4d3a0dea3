from rest_framework import serializers

from integrations.models import CiSource, GitRepository, WebhookDelivery
from mlgov.inventory.validators import validate_no_control_chars


class CiSourceSerializer(serializers.ModelSerializer):
    repository = serializers.SlugRelatedField(
        slug_field="name", queryset=GitRepository.objects.all(), required=False, allow_null=True
    )
    last_poll_id = serializers.IntegerField(read_only=True, allow_null=True, default=None)
    last_poll_status = serializers.CharField(read_only=True, allow_null=True, default=None)
    last_poll_finished = serializers.DateTimeField(read_only=True, allow_null=True, default=None)

    class Meta:
        model = CiSource
        fields = (
            "id",
            "name",
            "provider",
            "base_url",
            "target",
            "token_env_var",
            "repository",
            "enabled",
            "last_polled_at",
            "last_poll_id",
            "last_poll_status",
            "last_poll_finished",
            "created_at",
        )
        read_only_fields = ("id", "last_polled_at", "created_at")
        extra_kwargs = {
            "base_url": {"validators": [validate_no_control_chars]},
            "target": {"validators": [validate_no_control_chars]},
        }


class WebhookDeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookDelivery
        fields = (
            "id",
            "provider",
            "delivery_key",
            "event",
            "status",
            "error",
            "received_at",
            "processed_at",
            "pipeline_run",
        )
        read_only_fields = fields


class WebhookDeliveryDetailSerializer(WebhookDeliverySerializer):
    class Meta(WebhookDeliverySerializer.Meta):
        fields = (*WebhookDeliverySerializer.Meta.fields, "payload")
        read_only_fields = fields
