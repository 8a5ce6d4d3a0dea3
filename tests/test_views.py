"""Project-wide views: a CSRF failure on a page is refused as Django does, and recorded as a security event."""

from __future__ import annotations

import pytest
from django.test import Client

from mlgov.audit.models import AuditEvent
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def strict_client() -> Client:
    return Client(enforce_csrf_checks=True)


def test_csrf_failure_of_a_signed_in_user_is_recorded(strict_client):
    user = factories.UserFactory()
    strict_client.force_login(user)
    response = strict_client.post("/logout/", HTTP_REFERER="https://evil.example/", HTTP_USER_AGENT="curl/8")
    assert response.status_code == 403
    assert b"CSRF" in response.content  # Django's own explanation page
    event = AuditEvent.objects.get(action="security.csrf_failed")
    assert event.actor_id == user.pk
    assert event.actor_name == user.username
    assert event.source == "web"
    assert event.target_repr == "/logout/"
    assert event.after["method"] == "POST"
    assert "CSRF cookie not set" in event.after["reason"]
    assert event.after["referer"] == "https://evil.example/"
    assert event.after["user_agent"] == "curl/8"
    # the session was not ended by the refused POST
    assert strict_client.get("/teams/").status_code == 200


def test_anonymous_csrf_failure_is_recorded(strict_client):
    strict_client.get("/login/")  # sets the CSRF cookie
    response = strict_client.post("/login/", {"username": "x", "password": "y", "csrfmiddlewaretoken": "forged"})
    assert response.status_code == 403
    event = AuditEvent.objects.get(action="security.csrf_failed")
    assert event.actor_name == "anonymous"
    assert "CSRF token" in event.after["reason"]


def test_a_valid_token_is_not_recorded(strict_client):
    user = factories.UserFactory()
    strict_client.get("/login/")
    token = strict_client.cookies["csrftoken"].value
    response = strict_client.post(
        "/login/", {"username": user.username, "password": "pw-for-tests-1", "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 302
    assert not AuditEvent.objects.filter(action="security.csrf_failed").exists()


def test_chain_stays_intact_after_csrf_events(strict_client):
    from django.core.management import call_command

    for _ in range(3):
        strict_client.post("/login/", {"username": "x", "password": "y"})
    assert AuditEvent.objects.filter(action="security.csrf_failed").count() == 3
    call_command("audit_verify")
