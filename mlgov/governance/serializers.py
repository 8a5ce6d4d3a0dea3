from __future__ import annotations

from typing import Any

from rest_framework import serializers

from mlgov.governance.constants import EVENTS
from mlgov.governance.models import (
    AliasChange,
    DriftFinding,
    GateWaiver,
    OutboundDelivery,
    PromotionPolicy,
    PromotionRequest,
    Review,
    WebhookEndpoint,
)
from mlgov.inventory.models import ModelVersion, Team


class PromotionPolicySerializer(serializers.ModelSerializer):
    """The gate expression is checked by the model field's validator: a syntax error or an unknown name is
    a 400 naming the column."""

    team = serializers.SlugRelatedField(slug_field="slug", queryset=Team.objects.all(), required=False, allow_null=True)
    approver_team = serializers.SlugRelatedField(
        slug_field="slug", queryset=Team.objects.all(), required=False, allow_null=True
    )
    gates = serializers.SerializerMethodField()

    class Meta:
        model = PromotionPolicy
        fields = [
            "id",
            "name",
            "description",
            "target",
            "team",
            "risk_tier",
            "approvals_required",
            "approver_team",
            "independence",
            "min_maturity_level",
            "metric_gate",
            "require_green_ci",
            "require_dataset_lineage",
            "no_regression",
            "max_age_hours",
            "revert_drift",
            "enabled",
            "gates",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]
        validators: list[Any] = []  # scope uniqueness is the service's (409), not a serializer 400

    def get_gates(self, obj: PromotionPolicy) -> list[str]:
        return list(obj.as_rules().gates)


class ReviewSerializer(serializers.ModelSerializer):
    reviewer = serializers.CharField(source="reviewer.username", read_only=True)

    class Meta:
        model = Review
        fields = ["reviewer", "decision", "comment", "created_at"]


class GateWaiverSerializer(serializers.ModelSerializer):
    granted_by = serializers.CharField(source="granted_by.username", read_only=True)

    class Meta:
        model = GateWaiver
        fields = ["gate", "granted_by", "reason", "created_at"]


class PromotionSerializer(serializers.ModelSerializer):
    model = serializers.SerializerMethodField()
    version = serializers.CharField(source="version.version", read_only=True)
    model_version = serializers.IntegerField(source="version_id", read_only=True)
    policy = serializers.CharField(source="policy.name", read_only=True)
    requested_by = serializers.CharField(source="requested_by.username", read_only=True)
    previous_version = serializers.CharField(source="previous_version_number", read_only=True)

    class Meta:
        model = PromotionRequest
        fields = [
            "id",
            "model",
            "model_version",
            "version",
            "target",
            "policy",
            "requested_by",
            "justification",
            "state",
            "approvals",
            "approvals_required",
            "gates_passed",
            "gates",
            "gates_evaluated_at",
            "expires_at",
            "decided_at",
            "applied_at",
            "attempts",
            "error",
            "previous_version",
            "rollback_of",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_model(self, obj: PromotionRequest) -> dict[str, Any]:
        project = obj.model.project
        return {
            "id": obj.model_id,
            "name": obj.model.name,
            "project": project.slug if project else None,
            "team": project.team.slug if project else None,
        }


class PromotionDetailSerializer(PromotionSerializer):
    reviews = ReviewSerializer(many=True, read_only=True)
    waivers = GateWaiverSerializer(many=True, read_only=True)

    class Meta(PromotionSerializer.Meta):
        fields = [*PromotionSerializer.Meta.fields, "reviews", "waivers"]
        read_only_fields = fields


class PromotionCreateSerializer(serializers.Serializer):
    """Name the version by its id (`model_version`), or by its model's id and its number (`model`, `version`)."""

    model_version = serializers.IntegerField(required=False, min_value=1)
    model = serializers.IntegerField(required=False, min_value=1)
    version = serializers.CharField(required=False, max_length=40)
    target = serializers.CharField(max_length=100)
    justification = serializers.CharField(max_length=4000)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        qs = ModelVersion.objects.select_related("model")
        if attrs.get("model_version"):
            version = qs.filter(pk=attrs["model_version"]).first()
        elif attrs.get("model") and attrs.get("version"):
            version = qs.filter(model_id=attrs["model"], version=attrs["version"]).first()
        else:
            raise serializers.ValidationError({"model_version": ["Give model_version, or model and version."]})
        if version is None:
            raise serializers.ValidationError({"model_version": ["No such model version."]})
        attrs["version_obj"] = version
        return attrs


class CommentSerializer(serializers.Serializer):
    comment = serializers.CharField(max_length=4000, required=False, allow_blank=True, default="")


class RejectSerializer(serializers.Serializer):
    comment = serializers.CharField(max_length=4000)


class CancelSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=4000, required=False, allow_blank=True, default="")


class WaiveSerializer(serializers.Serializer):
    gate = serializers.CharField(max_length=20)
    reason = serializers.CharField(max_length=4000)


class RollbackSerializer(serializers.Serializer):
    justification = serializers.CharField(max_length=4000, required=False, allow_blank=True, default="")


class GateQuerySerializer(serializers.Serializer):
    model = serializers.CharField(max_length=255, help_text="The registered model's id or name.")
    version = serializers.CharField(max_length=40)
    target = serializers.CharField(max_length=100)

    def to_internal_value(self, data):  # type: ignore[no-untyped-def]
        """A query parameter the gate does not know is a 400, never silently ignored."""
        unknown = sorted(set(data) - set(self.fields))
        if unknown:
            allowed = sorted(self.fields)
            raise serializers.ValidationError({"unknown_parameters": unknown, "allowed_parameters": allowed})
        return super().to_internal_value(data)


class GateAnswerSerializer(serializers.Serializer):
    allowed = serializers.BooleanField()
    reasons = serializers.ListField(child=serializers.CharField())
    model = serializers.DictField()
    version = serializers.CharField()
    target = serializers.CharField()
    policy = serializers.CharField(allow_null=True)
    approved_version = serializers.CharField(allow_null=True)
    mlflow_version = serializers.CharField(allow_null=True)
    applied_request = serializers.IntegerField(allow_null=True)
    open_request = serializers.DictField(allow_null=True)
    open_drift_finding = serializers.IntegerField(allow_null=True)
    gates = serializers.ListField(child=serializers.DictField())


class AliasChangeSerializer(serializers.ModelSerializer):
    version = serializers.CharField(source="version_number")
    model_version = serializers.IntegerField(source="version_id", allow_null=True)
    approved = serializers.BooleanField(read_only=True)

    class Meta:
        model = AliasChange
        fields = [
            "id",
            "alias",
            "version",
            "model_version",
            "previous_number",
            "source",
            "approved",
            "request",
            "finding",
            "actor_name",
            "started_at",
        ]
        read_only_fields = fields


class AliasAtSerializer(serializers.Serializer):
    model = serializers.IntegerField()
    alias = serializers.CharField()
    at = serializers.DateTimeField()
    version = serializers.CharField(allow_null=True)
    approved = serializers.BooleanField(allow_null=True)
    entry = AliasChangeSerializer(allow_null=True)


class DriftFindingSerializer(serializers.ModelSerializer):
    model = serializers.SerializerMethodField()
    policy = serializers.CharField(source="policy.name", allow_null=True, read_only=True)

    class Meta:
        model = DriftFinding
        fields = [
            "id",
            "model",
            "alias",
            "expected_number",
            "observed_number",
            "policy",
            "sync_run",
            "status",
            "detected_at",
            "resolved_at",
            "resolved_by",
            "resolution",
        ]
        read_only_fields = fields

    def get_model(self, obj: DriftFinding) -> dict[str, Any]:
        return {"id": obj.model_id, "name": obj.model.name}


class AcceptSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=4000)


class WebhookEndpointSerializer(serializers.ModelSerializer):
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=list(EVENTS)), required=False, help_text="Empty: every event."
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "name", "url", "secret_env_var", "events", "enabled", "description", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]


class OutboundDeliverySerializer(serializers.ModelSerializer):
    endpoint = serializers.CharField(source="endpoint.name")

    class Meta:
        model = OutboundDelivery
        fields = [
            "id",
            "delivery_id",
            "endpoint",
            "event",
            "status",
            "attempts",
            "response_status",
            "last_error",
            "payload",
            "created_at",
            "delivered_at",
        ]
        read_only_fields = fields
