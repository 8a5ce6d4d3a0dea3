"""API permissions: everyone in the organisation reads; a team's maintainers change its objects."""

from __future__ import annotations

from typing import Any

from rest_framework import permissions

from mlgov.accounts.choices import TokenScope
from mlgov.accounts.models import ApiToken
from mlgov.accounts.selectors import user_can_manage_team, user_is_admin
from mlgov.errors import PermissionDenied


class IsOrgUser(permissions.BasePermission):
    """An authenticated, active user; a read-scoped token may only read."""

    message = "Authentication as an organisation user is required."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated and user.is_active):
            return False
        read_only_token = isinstance(request.auth, ApiToken) and request.auth.scope != TokenScope.WRITE
        if request.method not in permissions.SAFE_METHODS and read_only_token:
            self.message = "This token is read-only; a write-scoped token is required."
            return False
        return True


class TeamMaintainerOrReadOnly(IsOrgUser):
    """Object-level: writes need the maintainer role in the object's team (or admin).

    The view names the owning team with `owner_team_id(obj)`.
    """

    message = "Only the owning team's maintainers may change this object."

    def has_object_permission(self, request, view, obj) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        return user_can_manage_team(request.user, view.owner_team_id(obj))


class AdminOnlyWrites(IsOrgUser):
    message = "Only admins may do this."

    def has_permission(self, request, view) -> bool:
        if not super().has_permission(request, view):
            return False
        return request.method in permissions.SAFE_METHODS or user_is_admin(request.user)


def require_team_manager(user: Any, team_id: int | None) -> None:
    """For creates, where the team comes from the payload and there is no object yet."""
    if not user_can_manage_team(user, team_id):
        raise PermissionDenied("Only the team's maintainers may create objects in it.", details={"team": team_id})


class TeamMaintainerOrServiceAccount(IsOrgUser):
    """Writes by the owning team's maintainers, admins, or a service account (CI posting its own evidence).

    The view names the owning team with `owner_team_id(obj)` (None for an unassigned object: then only
    admins and service accounts). A read-scoped token never writes (IsOrgUser).
    """

    message = "Only the owning team's maintainers, admins or a service account may do this."

    def has_object_permission(self, request, view, obj) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        if getattr(request.user, "is_service_account", False):
            return True
        return user_can_manage_team(request.user, view.owner_team_id(obj))
