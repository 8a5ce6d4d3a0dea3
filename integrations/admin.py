from django.contrib import admin

from integrations.models import MlflowConnection, SyncRun
from integrations.services import CONNECTION_FIELDS
from mlgov.audit.admin import AuditedModelAdmin


@admin.register(MlflowConnection)
class MlflowConnectionAdmin(AuditedModelAdmin):
    """Admin edits are audited like API edits (mlflowconnection.created/updated/deleted)."""

    audit_fields = CONNECTION_FIELDS
    list_display = ("name", "tracking_uri", "enabled", "sync_interval_minutes", "full_sync_every")
    list_filter = ("enabled",)
    search_fields = ("name", "tracking_uri")


@admin.register(SyncRun)
class SyncRunAdmin(admin.ModelAdmin):
    list_display = ("id", "target", "mode", "status", "started_at", "finished_at", "triggered_by")
    list_filter = ("status", "mode", "kind")
    search_fields = ("target",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
