"""Settings come only from the environment; production-like values pass `check --deploy`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PRODUCTION_ENV = {
    "SECRET_KEY": "k8#Yq2vN!pX7rT4wZ0bL9mC3dF6gH1jK5sA8eR2uI7oP4yQ0-prod-like-2026",
    "DEBUG": "false",
    "ALLOWED_HOSTS": "mlgov.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://mlgov.example.com",
}


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DEBUG", "SECRET_KEY", "REDIS_URL", "CELERY_BROKER_URL", "ALLOWED_HOSTS"}
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_check_deploy_is_clean_with_production_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.slow
def test_check_deploy_flags_the_development_defaults():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env={"DEBUG": "true"})
    assert result.returncode != 0
    assert "security.W009" in result.stderr or "security.W018" in result.stderr


PRINT = "from django.conf import settings as s; print(s.CELERY_TASK_ALWAYS_EAGER, s.CELERY_BROKER_URL or '-')"


@pytest.mark.slow
def test_tasks_run_eagerly_without_a_broker():
    assert manage("shell", "-v", "0", "-c", PRINT, env={}).stdout.split() == ["True", "-"]
    with_redis = manage("shell", "-v", "0", "-c", PRINT, env={"REDIS_URL": "redis://127.0.0.1:6379/3"}).stdout.split()
    assert with_redis == ["False", "redis://127.0.0.1:6379/3"]


@pytest.mark.slow
def test_bad_boolean_is_a_clear_error():
    result = manage("check", env={"DEBUG": "maybe"})
    assert result.returncode != 0
    assert "DEBUG must be a boolean" in result.stderr
