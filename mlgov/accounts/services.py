"""Writes for users, memberships and API tokens. Each writes its audit event in the same transaction."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from mlgov.accounts.choices import TeamRole, TokenScope
from mlgov.accounts.constants import ORG_GROUPS, TOKEN_PREFIX
from mlgov.accounts.models import ApiToken, Membership, User
from mlgov.audit.services import audit_record, snapshot
from mlgov.errors import Conflict, ValidationFailed

_MEMBERSHIP_FIELDS = ("user", "team", "role")
_TOKEN_FIELDS = ("user", "name", "key_prefix", "scope", "expires_at", "revoked_at")


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


@transaction.atomic
def user_create(
    *,
    actor: Any,
    username: str,
    email: str = "",
    password: str | None = None,
    display_name: str = "",
    is_service_account: bool = False,
    groups: Iterable[str] = (),
    is_superuser: bool = False,
) -> User:
    if User.objects.filter(username=username).exists():
        raise Conflict(f"User {username!r} already exists.", details={"username": username})
    user = User(
        username=username,
        email=email,
        display_name=display_name,
        is_service_account=is_service_account,
        is_superuser=is_superuser,
        is_staff=is_superuser,
    )
    if password and not is_service_account:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save()
    group_names = _set_groups(user, groups)
    audit_record(
        actor=actor,
        action="user.created",
        target=user,
        after={
            "username": username,
            "email": email,
            "is_service_account": is_service_account,
            "is_superuser": is_superuser,
            "groups": group_names,
        },
    )
    return user


def _set_groups(user: User, groups: Iterable[str]) -> list[str]:
    names = sorted(set(groups))
    unknown = [g for g in names if g not in ORG_GROUPS]
    if unknown:
        raise ValidationFailed(f"Unknown group(s): {', '.join(unknown)}", details={"allowed": list(ORG_GROUPS)})
    user.groups.set([Group.objects.get_or_create(name=n)[0] for n in names])
    # Admins may use the Django admin.
    should_be_staff = user.is_superuser or "admins" in names
    if user.is_staff != should_be_staff:
        user.is_staff = should_be_staff
        user.save(update_fields=["is_staff"])
    return names


@transaction.atomic
def user_groups_set(*, actor: Any, user: User, groups: Iterable[str]) -> User:
    before = sorted(user.groups.values_list("name", flat=True))
    after = _set_groups(user, groups)
    if before != after:
        audit_record(
            actor=actor, action="user.groups_changed", target=user, before={"groups": before}, after={"groups": after}
        )
    return user


@transaction.atomic
def membership_set(*, actor: Any, user: User, team: Any, role: str = TeamRole.MEMBER) -> Membership:
    """Add a user to a team, or change their role. Idempotent: no change, no event."""
    if role not in TeamRole.values:
        raise ValidationFailed(f"Unknown role {role!r}.", details={"allowed": list(TeamRole.values)})
    membership = Membership.objects.select_for_update().filter(user=user, team=team).first()
    if membership is None:
        membership = Membership.objects.create(user=user, team=team, role=role)
        audit_record(
            actor=actor, action="membership.created", target=membership, after=snapshot(membership, _MEMBERSHIP_FIELDS)
        )
    elif membership.role != role:
        before = snapshot(membership, _MEMBERSHIP_FIELDS)
        membership.role = role
        membership.save(update_fields=["role", "updated_at"])
        audit_record(
            actor=actor,
            action="membership.updated",
            target=membership,
            before=before,
            after=snapshot(membership, _MEMBERSHIP_FIELDS),
        )
    return membership


@transaction.atomic
def membership_delete(*, actor: Any, membership: Membership) -> None:
    before = snapshot(membership, _MEMBERSHIP_FIELDS)
    audit_record(actor=actor, action="membership.deleted", target=membership, before=before)
    membership.delete()


@transaction.atomic
def api_token_create(
    *, actor: Any, user: User, name: str, scope: str = TokenScope.READ, expires_in_days: int | None = None
) -> tuple[ApiToken, str]:
    """Issue a token. Returns the row and the raw key, which is never stored and never shown again."""
    if scope not in TokenScope.values:
        raise ValidationFailed(f"Unknown scope {scope!r}.", details={"allowed": list(TokenScope.values)})
    days = expires_in_days if expires_in_days is not None else settings.MLGOV_TOKEN_DEFAULT_DAYS
    if not 1 <= days <= settings.MLGOV_TOKEN_MAX_DAYS:
        raise ValidationFailed(
            f"expires_in_days must be between 1 and {settings.MLGOV_TOKEN_MAX_DAYS}.",
            details={"expires_in_days": days},
        )
    prefix = secrets.token_hex(6)
    raw = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    token = ApiToken.objects.create(
        user=user,
        name=name,
        key_prefix=prefix,
        key_hash=hash_token(raw),
        scope=scope,
        expires_at=timezone.now() + timedelta(days=days),
    )
    audit_record(actor=actor, action="api_token.created", target=token, after=snapshot(token, _TOKEN_FIELDS))
    return token, raw


@transaction.atomic
def api_token_revoke(*, actor: Any, token: ApiToken) -> ApiToken:
    token = ApiToken.objects.select_for_update().get(pk=token.pk)
    if token.revoked_at is not None:
        return token
    before = snapshot(token, _TOKEN_FIELDS)
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    audit_record(
        actor=actor, action="api_token.revoked", target=token, before=before, after=snapshot(token, _TOKEN_FIELDS)
    )
    return token


def api_token_touch(*, token: ApiToken, resolution_seconds: int) -> None:
    """Record use, at most once per `resolution_seconds` (not audited: it is not a change of state)."""
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() >= resolution_seconds:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
