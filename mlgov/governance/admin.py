from django.contrib import admin

from mlgov.audit.admin import AuditedModelAdmin
from mlgov.governance import models
from mlgov.governance.services import ENDPOINT_FIELDS, POLICY_FIELDS


@admin.register(models.PromotionPolicy)
class PromotionPolicyAdmin(AuditedModelAdmin):
    """Admin edits are audited like API edits (promotionpolicy.created/updated/deleted); the gate expression
    is checked by the model field's validator, so a syntax error is a form error."""

    audit_fields = POLICY_FIELDS
    list_display = ("name", "target", "team", "risk_tier", "approvals_required", "approver_team", "enabled")
    list_filter = ("target", "enabled", "risk_tier", "independence")
    search_fields = ("name", "target", "metric_gate")


@admin.register(models.WebhookEndpoint)
class WebhookEndpointAdmin(AuditedModelAdmin):
    audit_fields = ENDPOINT_FIELDS
    list_display = ("name", "url", "secret_env_var", "enabled")
    list_filter = ("enabled",)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Written only by the workflow's services (so every change is audited): read-only here."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


for model, columns, filters in (
    (models.PromotionRequest, ("id", "model", "version", "target", "state", "requested_by", "created_at"), ("state",)),
    (models.Review, ("request", "reviewer", "decision", "created_at"), ("decision",)),
    (models.GateWaiver, ("request", "gate", "granted_by", "created_at"), ("gate",)),
    (models.AliasChange, ("model", "alias", "version_number", "source", "started_at"), ("source",)),
    (
        models.DriftFinding,
        ("model", "alias", "observed_number", "expected_number", "status", "detected_at"),
        ("status",),
    ),
    (models.OutboundDelivery, ("delivery_id", "endpoint", "event", "status", "attempts", "created_at"), ("status",)),
):
    admin.site.register(
        model, type(f"{model.__name__}Admin", (ReadOnlyAdmin,), {"list_display": columns, "list_filter": filters})
    )
