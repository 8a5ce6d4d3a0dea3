from django.contrib import admin

from mlgov.audit.admin import AuditedModelAdmin
from mlgov.inventory import models
from mlgov.inventory.services import PROJECT_FIELDS, TEAM_FIELDS


@admin.register(models.Team)
class TeamAdmin(AuditedModelAdmin):
    audit_fields = TEAM_FIELDS
    list_display = ("slug", "name")
    search_fields = ("slug", "name")


@admin.register(models.Project)
class ProjectAdmin(AuditedModelAdmin):
    audit_fields = PROJECT_FIELDS
    list_display = ("slug", "name", "team", "risk_tier", "lifecycle")
    list_filter = ("lifecycle", "risk_tier", "team")
    search_fields = ("slug", "name")


class SyncedAdmin(admin.ModelAdmin):
    """Integrations keep these; the admin shows them read-only."""

    list_filter = ("external_source",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


for model, columns in (
    (models.Experiment, ("name", "project", "external_source", "removed_at")),
    (models.TrainingRun, ("name", "project", "status", "launched_by", "git_commit", "started_at")),
    (models.RegisteredModel, ("name", "project", "external_source", "removed_at")),
    (models.ModelVersion, ("model", "version", "status", "git_commit", "removed_at")),
    (models.Dataset, ("name", "digest", "source_type", "project")),
    (models.Feature, ("name", "feature_view", "project")),
    (models.Pipeline, ("name", "provider", "kind", "project")),
    (models.PipelineRun, ("pipeline", "external_id", "status", "commit_sha", "started_at")),
):
    admin.site.register(model, type(f"{model.__name__}Admin", (SyncedAdmin,), {"list_display": columns}))
