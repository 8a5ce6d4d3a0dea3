"""Write-back for promotions: aliases and tags set in MLflow, idempotent, read back with the client."""

from __future__ import annotations

import pytest
from mlflow import MlflowClient

from integrations import mlflow as mf
from tests.integrations.mlflow_server import free_port
from tests.integrations.seed import seed_project

pytestmark = pytest.mark.mlflow


def test_alias_and_tags_write_back(mlflow_server, unique):
    client = MlflowClient(mlflow_server.url)
    seeded = seed_project(client, prefix=unique, project=None, n_models=1, n_versions=2)
    name = seeded.models[0]
    source = mf.MlflowSource(mlflow_server.url)

    assert source.set_alias(name, "production", "1") is True
    assert client.get_registered_model(name).aliases["production"] == "1"
    assert source.set_alias(name, "production", "1") is False  # already there: nothing written
    assert source.set_alias(name, "production", "2") is True
    assert client.get_model_version_by_alias(name, "production").version == "2"
    assert source.alias_holder(name, "production") == "2"

    assert source.set_version_tags(name, "2", {"mlgov.promotion": "42", "approved_by": "rui"}) == 2
    assert source.set_version_tags(name, "2", {"mlgov.promotion": "42"}) == 0
    assert client.get_model_version(name, "2").tags == {"mlgov.promotion": "42", "approved_by": "rui"}

    assert source.delete_alias(name, "production") is True
    assert source.delete_alias(name, "production") is False
    assert "production" not in client.get_registered_model(name).aliases


def test_write_back_errors_are_typed(mlflow_server, unique):
    source = mf.MlflowSource(mlflow_server.url)
    with pytest.raises(mf.MlflowNotFound):
        source.set_alias(f"{unique}no-such-model", "production", "1")
    client = MlflowClient(mlflow_server.url)
    seeded = seed_project(client, prefix=unique, project=None, n_models=1, n_versions=1)
    with pytest.raises(mf.MlflowError):
        source.set_alias(seeded.models[0], "production", "99")
    with pytest.raises(mf.MlflowUnreachable):
        mf.MlflowSource(f"http://127.0.0.1:{free_port()}").set_alias("m", "a", "1")
