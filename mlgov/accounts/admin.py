"""The Django admin for accounts. Every change it saves writes an audit event in the same transaction
(the admin wraps each save in one); tokens are read-only there and revoked through the service."""

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin

from mlgov.accounts.models import ApiToken, Membership, User
from mlgov.accounts.selectors import user_is_admin
from mlgov.accounts.services import api_token_revoke
from mlgov.audit.admin import AuditedModelAdmin
from mlgov.audit.services import audit_record, snapshot

USER_AUDIT_FIELDS = (
    "username",
    "email",
    "first_name",
    "last_name",
    "display_name",
    "is_service_account",
    "is_active",
    "is_staff",
    "is_superuser",
)


def _user_state(user: User) -> dict:
    """What an admin can change on a user, groups and permissions included; never the password hash."""
    state = snapshot(user, USER_AUDIT_FIELDS)
    state["groups"] = sorted(user.groups.values_list("name", flat=True))
    perms = user.user_permissions.values_list("content_type__app_label", "codename")
    state["user_permissions"] = sorted(f"{app}.{codename}" for app, codename in perms)
    return state


@admin.register(User)
class MlgovUserAdmin(UserAdmin):
    fieldsets = (*UserAdmin.fieldsets, ("mlgov", {"fields": ("display_name", "is_service_account")}))
    list_display = ("username", "display_name", "email", "is_service_account", "is_staff")

    def save_model(self, request, obj, form, change):
        # Groups and permissions are saved after the row (save_related), so the event is written there.
        request._mlgov_user_before = _user_state(User.objects.get(pk=obj.pk)) if change else None
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        before, after = getattr(request, "_mlgov_user_before", None), _user_state(form.instance)
        if before != after:
            action = "user.updated" if change else "user.created"
            audit_record(actor=request.user, action=action, target=form.instance, before=before, after=after)

    def user_change_password(self, request, id, form_url=""):
        user = self.get_object(request, id)
        old_hash = user.password if user is not None else None
        response = super().user_change_password(request, id, form_url)
        if request.method == "POST" and user is not None:
            user.refresh_from_db(fields=["password"])
            if user.password != old_hash:
                audit_record(
                    actor=request.user,
                    action="user.password_changed",
                    target=user,
                    after={"usable_password": user.has_usable_password()},
                )
        return response

    def delete_model(self, request, obj):
        audit_record(actor=request.user, action="user.deleted", target=obj, before=_user_state(obj))
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)


@admin.register(Membership)
class MembershipAdmin(AuditedModelAdmin):
    audit_fields = ("user", "team", "role")
    list_display = ("user", "team", "role")
    list_filter = ("role", "team")
    list_select_related = ("user", "team")


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Read-only: a token's scope and expiry are fixed when it is issued; revoking goes through the service."""

    list_display = ("name", "user", "key_prefix", "scope", "expires_at", "revoked_at", "last_used_at")
    list_filter = ("scope",)
    list_select_related = ("user",)
    actions = ["revoke_tokens"]

    def has_add_permission(self, request):
        return False  # tokens are issued through the API so the raw key can be shown once

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: the row stays, so the trail keeps what the token was

    def has_revoke_permission(self, request):
        return user_is_admin(request.user)

    @admin.action(description="Revoke selected tokens", permissions=["revoke"])
    def revoke_tokens(self, request, queryset):
        revoked = 0
        for token in queryset.filter(revoked_at__isnull=True):
            api_token_revoke(actor=request.user, token=token)
            revoked += 1
        self.message_user(request, f"{revoked} token(s) revoked.", messages.SUCCESS)
