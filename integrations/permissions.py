from rest_framework import permissions

from mlgov.accounts.permissions import IsOrgUser
from mlgov.accounts.selectors import user_is_admin, user_is_manager, user_team_roles


def user_can_trigger_sync(user) -> bool:
    """Admins, managers and any team maintainer may ask for a sync (it only refreshes the inventory)."""
    return user_is_admin(user) or user_is_manager(user) or "maintainer" in user_team_roles(user).values()


class CanTriggerSync(IsOrgUser):
    message = "Only admins, managers and team maintainers may start a sync."

    def has_permission(self, request, view) -> bool:
        return super().has_permission(request, view) and (
            request.method in permissions.SAFE_METHODS or user_can_trigger_sync(request.user)
        )
