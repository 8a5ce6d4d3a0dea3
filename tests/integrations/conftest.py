"""Fixtures for integration tests: a real mlflow server (started once per session) and seeding helpers."""

from __future__ import annotations

import itertools
import os
import warnings
from collections.abc import Callable, Iterator
from io import StringIO
from pathlib import Path

import pytest

from tests.conftest import require_service
from tests.integrations.mlflow_server import MlflowServer, mlflow_executable

os.environ.setdefault("MLFLOW_ENABLE_TELEMETRY", "false")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
warnings.filterwarnings("ignore", module="mlflow")
_names = itertools.count(1)


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory) -> Iterator[MlflowServer]:
    require_service("mlflow server", mlflow_executable() is not None, "the mlflow package is not installed")
    server = MlflowServer(Path(tmp_path_factory.mktemp("mlflow")))
    try:
        server.start()
    except RuntimeError as exc:
        require_service("mlflow server", False, str(exc))
    yield server
    server.stop()


@pytest.fixture
def fresh_mlflow_server(tmp_path) -> Iterator[MlflowServer]:
    """A server of the test's own, for tests that kill it or need exact totals."""
    require_service("mlflow server", mlflow_executable() is not None, "the mlflow package is not installed")
    server = MlflowServer(tmp_path / "mlflow").start()
    yield server
    server.stop()


@pytest.fixture
def unique() -> str:
    """A name prefix no other test uses, so tests sharing the session server do not collide."""
    return f"t{os.getpid()}-{next(_names)}-"


@pytest.fixture
def apply_config(tmp_path) -> Callable[[str], str]:
    """`manage.py apply_config` on a file holding `text`; returns what the command printed."""
    from django.core.management import call_command

    def apply(text: str) -> str:
        path = tmp_path / "org.yaml"
        path.write_text(text)
        out = StringIO()
        call_command("apply_config", str(path), stdout=out)
        return out.getvalue()

    return apply


# Git: each test fetches into its own cache, from repositories built in tmp_path (tests/integrations/gitrepos.py).
@pytest.fixture
def git_cache(settings, tmp_path) -> Path:
    cache = tmp_path / "git-cache"
    settings.MLGOV_GIT_CACHE_DIR = cache
    return cache


@pytest.fixture
def builder(tmp_path):
    from tests.integrations.gitrepos import RepoBuilder

    return RepoBuilder(tmp_path / "work")
