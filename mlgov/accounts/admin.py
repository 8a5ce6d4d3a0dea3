from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from mlgov.accounts.models import ApiToken, Membership, User


@admin.register(User)
class MlgovUserAdmin(UserAdmin):
    fieldsets = (*UserAdmin.fieldsets, ("mlgov", {"fields": ("display_name", "is_service_account")}))
    list_display = ("username", "display_name", "email", "is_service_account", "is_staff")


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "team", "role")
    list_filter = ("role", "team")


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "key_prefix", "scope", "expires_at", "revoked_at", "last_used_at")
    readonly_fields = ("key_prefix", "key_hash", "created_at", "last_used_at")
    list_filter = ("scope",)

    def has_add_permission(self, request):
        return False  # tokens are issued through the API so the raw key can be shown once
