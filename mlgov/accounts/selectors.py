"""Who may do what. Results are cached on the user object for the length of a request."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from mlgov.accounts.choices import TeamRole
from mlgov.accounts.constants import ADMINS, MANAGERS, REVIEWERS
from mlgov.accounts.models import ApiToken, Membership, User


def user_group_names(user: Any) -> frozenset[str]:
    if not getattr(user, "is_authenticated", False):
        return frozenset()
    cached = getattr(user, "_mlgov_groups", None)
    if cached is None:
        cached = frozenset(user.groups.values_list("name", flat=True))
        user._mlgov_groups = cached
    return cached


def user_team_roles(user: Any) -> dict[int, str]:
    if not getattr(user, "is_authenticated", False):
        return {}
    cached = getattr(user, "_mlgov_team_roles", None)
    if cached is None:
        cached = dict(Membership.objects.filter(user=user).values_list("team_id", "role"))
        user._mlgov_team_roles = cached
    return cached


def user_is_admin(user: Any) -> bool:
    return bool(getattr(user, "is_superuser", False)) or ADMINS in user_group_names(user)


def user_is_manager(user: Any) -> bool:
    return MANAGERS in user_group_names(user) or user_is_admin(user)


def user_is_reviewer(user: Any) -> bool:
    return REVIEWERS in user_group_names(user)


def user_can_manage_team(user: Any, team_id: int | None) -> bool:
    if user_is_admin(user):
        return True
    return team_id is not None and user_team_roles(user).get(team_id) == TeamRole.MAINTAINER


def membership_list(*, team_id: int | None = None) -> QuerySet[Membership]:
    qs = Membership.objects.select_related("user", "team")
    return qs.filter(team_id=team_id) if team_id else qs


def api_token_list(*, user: User) -> QuerySet[ApiToken]:
    qs = ApiToken.objects.select_related("user")
    if user_is_admin(user):
        return qs
    return qs.filter(user=user)


def api_token_active(*, key_prefix: str) -> ApiToken | None:
    return (
        ApiToken.objects.select_related("user")
        .filter(key_prefix=key_prefix, revoked_at__isnull=True, expires_at__gt=timezone.now())
        .first()
    )
