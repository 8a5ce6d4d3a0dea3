"""Assessments in the admin, read-only: scoring, attestations and waivers are written through the
services (pages and API), which audit every change."""

from django.contrib import admin

from assessments import models


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(models.ScoringRun)
class ScoringRunAdmin(ReadOnlyAdmin):
    list_display = ("id", "trigger", "triggered_by", "rubric_id", "status", "created_at", "finished_at")
    list_filter = ("status", "trigger", "rubric_id")


@admin.register(models.Assessment)
class AssessmentAdmin(ReadOnlyAdmin):
    list_display = ("id", "project", "rubric_id", "level", "previous_level", "is_latest", "computed_at")
    list_filter = ("rubric_id", "is_latest", "level")
    search_fields = ("project__slug",)
    list_select_related = ("project",)


@admin.register(models.Attestation)
class AttestationAdmin(ReadOnlyAdmin):
    list_display = ("id", "project", "criterion_id", "attested_by_name", "created_at", "expires_at", "revoked_at")
    list_filter = ("rubric_id", "criterion_id")
    search_fields = ("project__slug", "criterion_id")
    list_select_related = ("project",)


@admin.register(models.Waiver)
class WaiverAdmin(ReadOnlyAdmin):
    list_display = ("id", "project", "criterion_id", "granted_by_name", "created_at", "expires_at", "revoked_at")
    list_filter = ("rubric_id", "criterion_id")
    search_fields = ("project__slug", "criterion_id")
    list_select_related = ("project",)


@admin.register(models.AttestationRule)
class AttestationRuleAdmin(ReadOnlyAdmin):
    list_display = ("rubric_id", "criterion_id", "requires_verification", "validity_days", "updated_by_name")


@admin.register(models.MaturityGoal)
class MaturityGoalAdmin(ReadOnlyAdmin):
    list_display = ("name", "rubric_id", "target_level", "due_date", "team", "risk_tier", "lifecycle")
