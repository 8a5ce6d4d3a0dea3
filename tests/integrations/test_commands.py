"""`manage.py sync --source mlflow` in the foreground, with progress and a summary."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from mlflow import MlflowClient

from integrations.models import MlflowConnection, SyncRun
from tests.integrations.mlflow_server import free_port
from tests.integrations.seed import seed_project

pytestmark = [pytest.mark.django_db, pytest.mark.mlflow]


def test_sync_command_prints_progress_and_counts(mlflow_server, unique):
    seed_project(MlflowClient(mlflow_server.url), prefix=unique, project=None, n_models=1, n_versions=2)
    MlflowConnection.objects.create(name="cli", tracking_uri=mlflow_server.url)
    out = StringIO()
    call_command("sync", "--source", "mlflow", "--connection", "cli", "--mode", "full", stdout=out)
    text = out.getvalue()
    assert "\r  versions" in text  # the progress line, redrawn in place
    assert "[################........] 4/6" in text  # versions: the 4th of the MLflow sync's 6 phases
    assert f"[{'#' * 24}] 6/6" in text  # the end of a full pass: removals
    assert "succeeded (full)" in text
    assert "modelversion" in text
    run = SyncRun.objects.get(target="mlflow:cli")
    assert (run.status, run.triggered_by) == ("succeeded", "cli")


def test_sync_command_errors(db):
    with pytest.raises(CommandError, match="No MLflow connection named 'nope'"):
        call_command("sync", "--source", "mlflow", "--connection", "nope", stdout=StringIO())
    MlflowConnection.objects.create(name="down", tracking_uri=f"http://127.0.0.1:{free_port()}")
    err = StringIO()
    with pytest.raises(CommandError, match="1 sync"):
        call_command("sync", "--source", "mlflow", stdout=StringIO(), stderr=err)
    assert "failed" in err.getvalue()
