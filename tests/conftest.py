"""Shared fixtures. Service-backed tests call `require_service`: under CI=true a missing service
fails the test; elsewhere it is skipped with the reason printed (pytest -ra shows it)."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable

import pytest
from django.db import connection
from rest_framework.test import APIClient

from mlgov.accounts.services import api_token_create
from tests import factories

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require_service(name: str, available: bool, reason: str) -> None:
    if available:
        return
    message = f"{name} is not available: {reason}"
    if IN_CI:
        pytest.fail(f"CI=true and {message}", pytrace=False)
    pytest.skip(message)


def tcp_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


@pytest.fixture(autouse=True)
def _plain_http(settings):
    """The test server speaks plain HTTP; production keeps the secure defaults."""
    settings.SECURE_SSL_REDIRECT = False
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _celery_eager_by_default():
    """Tasks run in-process, as in the default (brokerless) setup, unless a test asks for the Redis worker.

    Settings turn eager mode off whenever a broker is named, and CI names one (REDIS_URL), so it is forced
    here; `celery_broker` in tests/integrations/test_tasks.py turns it off for the worker tests.
    """
    from mlgov.celery import app

    saved = {key: app.conf[key] for key in ("task_always_eager", "task_eager_propagates")}
    app.conf.update(task_always_eager=True, task_eager_propagates=True)
    yield
    app.conf.update(saved)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Transactional tests (live server, Celery workers, races) empty the database between tests with
    TRUNCATE, which the audit table refuses on PostgreSQL (audit migration 0003). The test database lets
    it through; tests/audit/test_chain.py turns the trigger back on, inside its transaction, to check it."""
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_auditevent_no_truncate")


@pytest.fixture
def postgres(db):
    require_service(
        "PostgreSQL",
        connection.vendor == "postgresql",
        "DATABASE_URL does not point at PostgreSQL (set it, or run .ci/run)",
    )
    return connection


@pytest.fixture
def user(db):
    return factories.UserFactory()


@pytest.fixture
def team(db):
    return factories.TeamFactory()


@pytest.fixture
def other_team(db):
    return factories.TeamFactory()


@pytest.fixture
def maintainer(team):
    return factories.MembershipFactory(team=team, role="maintainer").user


@pytest.fixture
def member(team):
    return factories.MembershipFactory(team=team, role="member").user


@pytest.fixture
def admin_user(db):
    return factories.UserFactory(groups=["admins"])


@pytest.fixture
def manager(db):
    return factories.UserFactory(groups=["managers"])


@pytest.fixture
def api_client_for(db) -> Callable[..., APIClient]:
    """An APIClient authenticated with a real bearer token for `user`."""

    def make(user, scope: str = "write") -> APIClient:
        _, raw = api_token_create(actor=user, user=user, name="test", scope=scope)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        return client

    return make


@pytest.fixture
def api(api_client_for, user) -> APIClient:
    return api_client_for(user)
