"""API tokens: hashed at rest, shown once, scoped, expiring and revocable."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from mlgov.accounts.models import ApiToken
from mlgov.accounts.services import api_token_create, hash_token
from mlgov.audit.models import AuditEvent
from tests import factories

pytestmark = pytest.mark.django_db


def bearer(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def test_token_is_shown_once_and_stored_hashed(client, user):
    client.force_login(user)
    created = client.post("/api/v1/tokens/", {"name": "ci", "scope": "read"}, content_type="application/json")
    assert created.status_code == 201, created.content
    raw = created.json()["token"]
    assert raw.startswith("mlg_")
    token = ApiToken.objects.get(pk=created.json()["id"])
    assert token.key_hash == hash_token(raw)
    assert raw not in {token.key_hash, token.key_prefix}
    listed = client.get("/api/v1/tokens/").json()["results"]
    assert "token" not in listed[0]
    assert raw not in str(listed)
    assert bearer(raw).get("/api/v1/me").json()["username"] == user.username
    event = AuditEvent.objects.get(action="api_token.created")
    assert raw not in str(event.after)


def test_expired_revoked_and_forged_tokens_are_refused(user):
    token, raw = api_token_create(actor=user, user=user, name="t")
    assert bearer(raw).get("/api/v1/teams/").status_code == 200
    forged = raw[:-4] + ("aaaa" if not raw.endswith("aaaa") else "bbbb")
    response = bearer(forged).get("/api/v1/teams/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"
    assert AuditEvent.objects.filter(action="security.authentication_failed").count() == 1

    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert bearer(raw).get("/api/v1/teams/").status_code == 401

    token2, raw2 = api_token_create(actor=user, user=user, name="t2", scope="write")
    client = bearer(raw2)
    assert client.delete(f"/api/v1/tokens/{token2.pk}/").status_code == 204
    token2.refresh_from_db()
    assert token2.revoked_at is not None
    assert client.get("/api/v1/teams/").status_code == 401
    assert AuditEvent.objects.filter(action="api_token.revoked", target_id=str(token2.pk)).exists()


@pytest.mark.parametrize("header", ["Bearer", "Bearer a b", "Bearer not-ours", "Bearer mlg_nounderscore"])
def test_malformed_authorization_is_401(header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get("/api/v1/teams/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_token_of_inactive_user_is_refused(user):
    _, raw = api_token_create(actor=user, user=user, name="t")
    user.is_active = False
    user.save()
    assert bearer(raw).get("/api/v1/teams/").status_code == 401


def test_read_token_cannot_create_another_token(user):
    _, raw = api_token_create(actor=user, user=user, name="r", scope="read")
    response = bearer(raw).post("/api/v1/tokens/", {"name": "escalate", "scope": "write"}, format="json")
    assert response.status_code == 403
    assert ApiToken.objects.count() == 1


def test_expiry_bounds(client, user, settings):
    client.force_login(user)
    too_long = client.post(
        "/api/v1/tokens/",
        {"name": "x", "expires_in_days": settings.MLGOV_TOKEN_MAX_DAYS + 1},
        content_type="application/json",
    )
    assert too_long.status_code == 400
    ok = client.post("/api/v1/tokens/", {"name": "x", "expires_in_days": 7}, content_type="application/json")
    expires = ApiToken.objects.get(pk=ok.json()["id"]).expires_at
    assert timedelta(days=6, hours=23) < expires - timezone.now() <= timedelta(days=7)


def test_admin_issues_service_account_token_but_not_for_people(api_client_for, admin_user, user):
    bot = factories.UserFactory(username="ci-bot", is_service_account=True)
    client = api_client_for(admin_user)
    ok = client.post("/api/v1/tokens/", {"name": "gha", "scope": "write", "user": "ci-bot"}, format="json")
    assert ok.status_code == 201, ok.content
    assert ApiToken.objects.get(pk=ok.json()["id"]).user == bot
    refused = client.post("/api/v1/tokens/", {"name": "x", "user": user.username}, format="json")
    assert refused.status_code == 403


def test_non_admin_cannot_issue_for_service_account(api_client_for, user):
    factories.UserFactory(username="ci-bot", is_service_account=True)
    response = api_client_for(user).post("/api/v1/tokens/", {"name": "x", "user": "ci-bot"}, format="json")
    assert response.status_code == 403


def test_users_see_only_their_tokens(api_client_for, user, admin_user):
    other = factories.UserFactory()
    api_token_create(actor=other, user=other, name="other's")
    names = {t["name"] for t in api_client_for(user).get("/api/v1/tokens/").json()["results"]}
    assert "other's" not in names
    admin_names = {t["name"] for t in api_client_for(admin_user).get("/api/v1/tokens/").json()["results"]}
    assert "other's" in admin_names
    foreign = ApiToken.objects.get(name="other's")
    assert api_client_for(user).delete(f"/api/v1/tokens/{foreign.pk}/").status_code == 404
    foreign.refresh_from_db()
    assert foreign.revoked_at is None


def test_session_login_works_for_api(client, user):
    client.force_login(user)
    assert client.get("/api/v1/me").json()["username"] == user.username
