"""The Django admin for accounts: every change is audited, tokens are revoked (never edited or deleted),
and members of the `admins` group (staff, without per-model permissions) can use it."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from mlgov.accounts.models import ApiToken, Membership, User
from mlgov.accounts.services import api_token_create
from mlgov.audit.models import AuditEvent
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_user(db):
    """A member of the admins group as the services make one: staff, not superuser, no model permissions."""
    from mlgov.accounts.services import user_create

    return user_create(actor=None, username="ada", password="pw-for-tests-1", groups=["admins"])


@pytest.fixture
def admin_client(client, admin_user):
    assert admin_user.is_staff
    assert not admin_user.is_superuser
    assert not admin_user.user_permissions.exists()
    assert not admin_user.groups.get().permissions.exists()
    client.force_login(admin_user)
    return client


def _user_form(user: User, **changes) -> dict:
    data = {
        "username": user.username,
        "first_name": "",
        "last_name": "",
        "email": user.email,
        "is_active": "on",
        "date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
        "display_name": user.display_name,
        "groups": [g.pk for g in user.groups.all()],
        "user_permissions": [],
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


@pytest.mark.parametrize(
    "path",
    [
        "/admin/",
        "/admin/accounts/user/",
        "/admin/accounts/membership/",
        "/admin/accounts/apitoken/",
        "/admin/inventory/team/",
        "/admin/inventory/team/add/",
        "/admin/audit/auditevent/",
    ],
)
def test_admins_group_can_use_the_admin(admin_client, path):
    assert admin_client.get(path).status_code == 200


@pytest.mark.parametrize("groups", [[], ["managers"], ["reviewers"]])
def test_staff_outside_the_admins_group_cannot(client, groups):
    user = factories.UserFactory(groups=groups, is_staff=True)
    client.force_login(user)
    assert client.get("/admin/accounts/user/").status_code in {302, 403}
    assert client.get("/admin/inventory/team/add/").status_code in {302, 403}


def test_admin_can_add_a_team_through_the_admin(admin_client, admin_user):
    response = admin_client.post("/admin/inventory/team/add/", {"slug": "vision", "name": "Vision", "description": ""})
    assert response.status_code == 302
    assert AuditEvent.objects.filter(action="team.created", actor_name=admin_user.username).count() == 1


def test_group_and_superuser_changes_are_audited(admin_client, admin_user):
    target = factories.UserFactory()
    admins = Group.objects.get(name="admins")
    response = admin_client.post(
        f"/admin/accounts/user/{target.pk}/change/",
        _user_form(target, groups=[admins.pk], is_staff="on", is_superuser="on"),
    )
    assert response.status_code == 302, response.content[:2000]
    target.refresh_from_db()
    assert target.is_superuser
    assert target.groups.filter(name="admins").exists()
    event = AuditEvent.objects.get(action="user.updated", target_id=str(target.pk))
    assert event.actor_name == admin_user.username
    assert event.source == "web"
    assert event.before["groups"] == []
    assert event.after["groups"] == ["admins"]
    assert event.before["is_superuser"] is False
    assert event.after["is_superuser"] is True
    assert "password" not in event.after


def test_password_change_through_the_admin_is_audited_without_the_hash(admin_client, admin_user):
    target = factories.UserFactory()
    response = admin_client.post(
        f"/admin/accounts/user/{target.pk}/password/",
        {"password1": "a-Long-new-passw0rd", "password2": "a-Long-new-passw0rd", "usable_password": "true"},
    )
    assert response.status_code == 302, response.content[:2000]
    event = AuditEvent.objects.get(action="user.password_changed", target_id=str(target.pk))
    assert event.actor_name == admin_user.username
    assert "pbkdf2" not in str(event.before) + str(event.after)
    assert "md5" not in str(event.after)


def test_user_deletion_is_audited(admin_client):
    target = factories.UserFactory()
    response = admin_client.post(f"/admin/accounts/user/{target.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not User.objects.filter(pk=target.pk).exists()
    assert AuditEvent.objects.filter(action="user.deleted", target_id=str(target.pk)).count() == 1


def test_membership_role_change_and_delete_are_audited(admin_client, team, member):
    membership = Membership.objects.get(user=member, team=team)
    response = admin_client.post(
        f"/admin/accounts/membership/{membership.pk}/change/",
        {"user": member.pk, "team": team.pk, "role": "maintainer"},
    )
    assert response.status_code == 302, response.content[:2000]
    event = AuditEvent.objects.get(action="membership.updated", target_id=str(membership.pk))
    assert (event.before["role"], event.after["role"]) == ("member", "maintainer")
    response = admin_client.post(f"/admin/accounts/membership/{membership.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert AuditEvent.objects.filter(action="membership.deleted", target_id=str(membership.pk)).count() == 1


def test_tokens_are_read_only_and_revoked_through_the_service(admin_client, admin_user, user):
    token, _ = api_token_create(actor=user, user=user, name="laptop", scope="write")
    change = f"/admin/accounts/apitoken/{token.pk}/change/"
    assert admin_client.get(change).status_code == 200  # view only
    admin_client.post(change, {"name": "renamed", "scope": "write"})
    assert admin_client.post(f"/admin/accounts/apitoken/{token.pk}/delete/", {"post": "yes"}).status_code == 403
    token.refresh_from_db()
    assert token.name == "laptop"
    assert token.revoked_at is None
    response = admin_client.post(
        "/admin/accounts/apitoken/", {"action": "revoke_tokens", "_selected_action": [token.pk]}
    )
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    event = AuditEvent.objects.get(action="api_token.revoked", target_id=str(token.pk))
    assert event.actor_name == admin_user.username
    assert ApiToken.objects.filter(pk=token.pk).exists()
