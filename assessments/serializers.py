"""API representations of scorecards, snapshots, attestations, waivers, rules, goals and scoring runs."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from assessments.models import Assessment, Attestation, AttestationRule, MaturityGoal, ScoringRun, Waiver
from assessments.selectors import scorecard_detail
from mlgov.inventory.choices import Lifecycle, RiskTier
from mlgov.inventory.models import Project, Team


def _project(project: Project) -> dict[str, Any]:
    return {"id": project.pk, "slug": project.slug, "name": project.name}


def _team(project: Project) -> dict[str, Any]:
    return {"slug": project.team.slug, "name": project.team.name}


class ScorecardSummarySerializer(serializers.ModelSerializer):
    """A project's latest scorecard, without its criteria."""

    project = serializers.SerializerMethodField()
    team = serializers.SerializerMethodField()
    risk_tier = serializers.IntegerField(source="project.risk_tier", read_only=True)
    lifecycle = serializers.CharField(source="project.lifecycle", read_only=True)
    rubric = serializers.SerializerMethodField()
    level_name = serializers.SerializerMethodField()
    target_level = serializers.SerializerMethodField()

    class Meta:
        model = Assessment
        fields = [
            "id",
            "project",
            "team",
            "risk_tier",
            "lifecycle",
            "rubric",
            "level",
            "level_name",
            "previous_level",
            "target_level",
            "dimensions",
            "trigger",
            "computed_at",
            "checked_at",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_project(self, obj: Assessment) -> dict[str, Any]:
        return _project(obj.project)

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_team(self, obj: Assessment) -> dict[str, Any]:
        return _team(obj.project)

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_rubric(self, obj: Assessment) -> dict[str, Any]:
        return {"id": obj.rubric_id, "version": obj.rubric_version}

    def get_level_name(self, obj: Assessment) -> str:
        return obj.scorecard.get("level_name", "")

    def get_target_level(self, obj: Assessment) -> int | None:
        return obj.scorecard.get("target_level")


class ScorecardSerializer(ScorecardSummarySerializer):
    """The full scorecard: dimensions, every criterion with its status, reason and evidence, next steps."""

    rubric = serializers.SerializerMethodField()
    dimensions = serializers.SerializerMethodField()
    criteria = serializers.SerializerMethodField()
    next_steps = serializers.SerializerMethodField()
    counts = serializers.SerializerMethodField()

    class Meta(ScorecardSummarySerializer.Meta):
        fields = [*ScorecardSummarySerializer.Meta.fields, "criteria", "next_steps", "counts"]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_rubric(self, obj: Assessment) -> dict[str, Any]:
        return obj.scorecard.get("rubric") or {"id": obj.rubric_id, "version": obj.rubric_version}

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_dimensions(self, obj: Assessment) -> list[dict[str, Any]]:
        return [{"id": d["id"], "name": d["name"], "level": d["level"]} for d in obj.scorecard.get("dimensions", [])]

    def _detail(self, obj: Assessment) -> dict[str, Any]:
        cache = self.context.setdefault("_details", {})
        if obj.pk not in cache:
            cache[obj.pk] = scorecard_detail(obj)
        return cache[obj.pk]

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_criteria(self, obj: Assessment) -> list[dict[str, Any]]:
        """Each criterion as found, with what the rubric says about it (title, method, guidance...)."""
        return [
            {k: v for k, v in c.items() if k != "dimension_name"}
            for d in self._detail(obj)["dimensions"]
            for c in d["criteria"]
        ]

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_next_steps(self, obj: Assessment) -> list[dict[str, Any]]:
        return [{k: v for k, v in s.items() if k != "dimension_name"} for s in self._detail(obj)["next_steps"]]

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_counts(self, obj: Assessment) -> dict[str, int]:
        return obj.scorecard.get("counts", {})


class AssessmentSerializer(serializers.ModelSerializer):
    """One snapshot in a project's history."""

    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = Assessment
        fields = [
            "id",
            "project",
            "rubric_id",
            "rubric_version",
            "level",
            "previous_level",
            "dimensions",
            "is_latest",
            "trigger",
            "scoring_run",
            "computed_at",
            "checked_at",
        ]
        read_only_fields = fields


class AssessmentDetailSerializer(AssessmentSerializer):
    class Meta(AssessmentSerializer.Meta):
        fields = [*AssessmentSerializer.Meta.fields, "scorecard"]
        read_only_fields = fields


class AttestationSerializer(serializers.ModelSerializer):
    project = serializers.SerializerMethodField()
    rubric = serializers.CharField(source="rubric_id", read_only=True)
    criterion = serializers.CharField(source="criterion_id", read_only=True)
    attested_by = serializers.CharField(source="attested_by_name", read_only=True)
    verified_by = serializers.CharField(source="verified_by_name", read_only=True)
    revoked_by = serializers.CharField(source="revoked_by_name", read_only=True)
    state = serializers.SerializerMethodField()

    class Meta:
        model = Attestation
        fields = [
            "id",
            "project",
            "rubric",
            "criterion",
            "statement",
            "link",
            "attested_by",
            "created_at",
            "expires_at",
            "verified_by",
            "verified_at",
            "revoked_by",
            "revoked_at",
            "revoke_reason",
            "state",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_project(self, obj: Attestation) -> dict[str, Any]:
        return _project(obj.project)

    def get_state(self, obj: Attestation) -> str:
        rules = self.context.get("verification_rules")
        required = rules is not None and (obj.rubric_id, obj.criterion_id) in rules
        return obj.state(requires_verification=required)


class AttestationCreateSerializer(serializers.Serializer):
    project = serializers.PrimaryKeyRelatedField(queryset=Project.objects.all())
    criterion = serializers.CharField(max_length=120)
    statement = serializers.CharField(max_length=4000)
    link = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")
    days = serializers.IntegerField(required=False, min_value=1, max_value=3650)
    rubric = serializers.CharField(max_length=60, required=False)


class RevokeSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


@extend_schema_field(OpenApiTypes.STR)
class DateOrDateTimeField(serializers.Field):
    """`2027-03-31` (the end of that day) or an ISO 8601 date-time."""

    default_error_messages = {"invalid": "Must be a date (YYYY-MM-DD) or an ISO 8601 date-time."}

    def to_internal_value(self, data: Any) -> date | datetime:
        if not isinstance(data, str):
            self.fail("invalid")
        try:
            return date.fromisoformat(data) if len(data) == 10 else datetime.fromisoformat(data.replace("Z", "+00:00"))
        except ValueError:
            self.fail("invalid")

    def to_representation(self, value: Any) -> str:
        return value.isoformat()


class WaiverSerializer(serializers.ModelSerializer):
    project = serializers.SerializerMethodField()
    rubric = serializers.CharField(source="rubric_id", read_only=True)
    criterion = serializers.CharField(source="criterion_id", read_only=True)
    granted_by = serializers.CharField(source="granted_by_name", read_only=True)
    revoked_by = serializers.CharField(source="revoked_by_name", read_only=True)
    state = serializers.SerializerMethodField()

    class Meta:
        model = Waiver
        fields = [
            "id",
            "project",
            "rubric",
            "criterion",
            "justification",
            "granted_by",
            "created_at",
            "expires_at",
            "revoked_by",
            "revoked_at",
            "revoke_reason",
            "state",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_project(self, obj: Waiver) -> dict[str, Any]:
        return _project(obj.project)

    def get_state(self, obj: Waiver) -> str:
        return obj.state()


class WaiverCreateSerializer(serializers.Serializer):
    project = serializers.PrimaryKeyRelatedField(queryset=Project.objects.all())
    criterion = serializers.CharField(max_length=120)
    justification = serializers.CharField(max_length=4000)
    expires_at = DateOrDateTimeField()
    rubric = serializers.CharField(max_length=60, required=False)


class AttestationRuleSerializer(serializers.ModelSerializer):
    rubric = serializers.CharField(source="rubric_id", max_length=60, required=False)
    criterion = serializers.CharField(source="criterion_id", max_length=120)
    updated_by = serializers.CharField(source="updated_by_name", read_only=True)
    validity_days = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=3650)

    class Meta:
        model = AttestationRule
        fields = ["id", "rubric", "criterion", "requires_verification", "validity_days", "updated_by", "updated_at"]
        read_only_fields = ["id", "updated_by", "updated_at"]
        validators = []  # a POST sets the rule (upsert): attestation_rule_set owns uniqueness


class GoalSerializer(serializers.ModelSerializer):
    rubric = serializers.CharField(source="rubric_id", max_length=60, required=False)
    team = serializers.SlugRelatedField(slug_field="slug", queryset=Team.objects.all(), required=False, allow_null=True)
    risk_tier = serializers.ChoiceField(choices=RiskTier.choices, required=False, allow_null=True)
    lifecycle = serializers.ChoiceField(choices=Lifecycle.choices, required=False, allow_blank=True)
    created_by = serializers.CharField(source="created_by_name", read_only=True)
    progress = serializers.SerializerMethodField()

    class Meta:
        model = MaturityGoal
        fields = [
            "id",
            "name",
            "rubric",
            "target_level",
            "due_date",
            "team",
            "risk_tier",
            "lifecycle",
            "created_by",
            "created_at",
            "updated_at",
            "progress",
        ]
        read_only_fields = ["id", "created_by", "created_at", "updated_at", "progress"]

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_progress(self, obj: MaturityGoal) -> dict[str, Any] | None:
        progress = self.context.get("progress", {}).get(obj.pk)
        if progress is None:
            return None
        return {
            "projects": progress.projects,
            "at_target": progress.at_target,
            "share": round(progress.share, 4),
            "met": progress.met,
            "days_left": progress.days_left,
        }


class ScoringRunSerializer(serializers.ModelSerializer):
    rubric = serializers.CharField(source="rubric_id", read_only=True)
    duration_seconds = serializers.FloatField(read_only=True)

    class Meta:
        model = ScoringRun
        fields = [
            "id",
            "trigger",
            "triggered_by",
            "rubric",
            "project_ids",
            "sync_run_id",
            "status",
            "counts",
            "timings",
            "progress",
            "errors",
            "created_at",
            "started_at",
            "finished_at",
            "duration_seconds",
        ]
        read_only_fields = fields


class ScoringRunCreateSerializer(serializers.Serializer):
    projects = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False, max_length=100_000)
    rubric = serializers.CharField(max_length=60, required=False)


class TeamMaturitySerializer(serializers.Serializer):
    """Documentation of `GET /api/v1/teams/<slug>/maturity` (built by the view)."""

    team = serializers.DictField()
    rubric = serializers.DictField()
    projects = serializers.IntegerField()
    assessed = serializers.IntegerField()
    mean_level = serializers.FloatField(allow_null=True)
    levels = serializers.DictField(child=serializers.IntegerField())
    dimensions = serializers.DictField()
    scorecards = ScorecardSummarySerializer(many=True)
    trend = serializers.ListField(child=serializers.DictField())
    computed_at = serializers.DateTimeField()
