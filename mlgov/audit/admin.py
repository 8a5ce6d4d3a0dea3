from django.contrib import admin

from mlgov.audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("seq", "timestamp", "actor_name", "source", "action", "target_type", "target_repr")
    list_filter = ("source", "action", "target_type")
    search_fields = ("actor_name", "target_repr", "request_id")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class AuditedModelAdmin(admin.ModelAdmin):
    """Admin edits write an audit event in the same transaction (the admin wraps saves in one)."""

    audit_fields: tuple[str, ...] = ()

    def _fields(self, obj) -> tuple[str, ...]:
        return self.audit_fields or tuple(f.name for f in obj._meta.concrete_fields if f.name != "id")

    def save_model(self, request, obj, form, change):
        from mlgov.audit.services import audit_record, snapshot

        before = None
        if change:
            before = snapshot(type(obj).objects.get(pk=obj.pk), self._fields(obj))
        super().save_model(request, obj, form, change)
        name = obj._meta.model_name
        audit_record(
            actor=request.user,
            action=f"{name}.{'updated' if change else 'created'}",
            target=obj,
            before=before,
            after=snapshot(obj, self._fields(obj)),
            source="web",
        )

    def delete_model(self, request, obj):
        from mlgov.audit.services import audit_record, snapshot

        audit_record(
            actor=request.user,
            action=f"{obj._meta.model_name}.deleted",
            target=obj,
            before=snapshot(obj, self._fields(obj)),
            source="web",
        )
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)
