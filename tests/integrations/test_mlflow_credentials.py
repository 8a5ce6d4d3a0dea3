"""Each MLflow connection sends its own credentials, and only its own: a local HTTP server stands in for
MLflow's REST API (it answers every call with an empty result) and records the Authorization headers."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from integrations import mlflow as mf
from integrations.models import MlflowConnection
from integrations.sync import mlflow_sync_now

pytestmark = pytest.mark.django_db


class RecordingMlflow:
    """Answers MLflow's REST endpoints with empty results; records (path, Authorization) per request."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str | None]] = []
        lock = threading.Lock()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                self._answer()

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self._answer()

            def _answer(self) -> None:
                with lock:
                    recorder.requests.append((self.path.split("?")[0], self.headers.get("Authorization")))
                body = json.dumps({}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def paths(self) -> set[str]:
        return {path for path, _ in self.requests}

    def authorizations(self) -> set[str | None]:
        return {auth for _, auth in self.requests}


@pytest.fixture
def recording_mlflow() -> Iterator[RecordingMlflow]:
    servers: list[RecordingMlflow] = []

    def start() -> RecordingMlflow:
        server = RecordingMlflow()
        server.thread.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.server.shutdown()
        server.server.server_close()


def test_each_connection_sends_its_own_token_and_only_its_own(recording_mlflow, monkeypatch):
    monkeypatch.setenv("MLGOV_TEST_MLFLOW_A_TOKEN", "token-of-a")
    monkeypatch.delenv("MLFLOW_TRACKING_TOKEN", raising=False)
    server_a, server_b = recording_mlflow(), recording_mlflow()
    a = MlflowConnection.objects.create(name="a", tracking_uri=server_a.url, token_env_var="MLGOV_TEST_MLFLOW_A_TOKEN")
    b = MlflowConnection.objects.create(name="b", tracking_uri=server_b.url)

    run_a = mlflow_sync_now(connection=a, triggered_by="test")
    run_b = mlflow_sync_now(connection=b, triggered_by="test")

    assert (run_a.status, run_b.status) == ("succeeded", "succeeded")
    wanted = {
        "/api/2.0/mlflow/experiments/search",
        "/api/2.0/mlflow/registered-models/search",
        "/api/2.0/mlflow/model-versions/search",
    }
    assert wanted <= server_a.paths()
    assert wanted <= server_b.paths()
    assert server_a.authorizations() == {"Bearer token-of-a"}
    assert server_b.authorizations() == {None}
    assert "MLFLOW_TRACKING_TOKEN" not in os.environ  # nothing process-wide was set
    assert run_a.errors == run_b.errors == []


def test_a_process_wide_mlflow_token_does_not_reach_a_connection_without_one(recording_mlflow, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "ambient-token")
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "ambient-user")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "ambient-password")
    server = recording_mlflow()
    mf.MlflowSource(server.url).ping()
    mf.MlflowSource(server.url, token="own-token").ping()
    assert [auth for _, auth in server.requests] == [None, "Bearer own-token"]


def test_connections_used_from_threads_at_once_keep_their_tokens(recording_mlflow):
    servers = {name: recording_mlflow() for name in ("a", "b", "c")}
    tokens = {"a": "token-a", "b": "token-b", "c": None}
    sources = {name: mf.MlflowSource(servers[name].url, token=tokens[name]) for name in servers}
    start = threading.Barrier(len(sources))

    def hammer(name: str) -> None:
        start.wait(10)
        for _ in range(15):
            sources[name].ping()
            sources[name].alias_holder("m", "champion")

    threads = [threading.Thread(target=hammer, args=(name,)) for name in sources]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for name, server in servers.items():
        assert len(server.requests) == 30
        assert server.authorizations() == {f"Bearer {tokens[name]}" if tokens[name] else None}


def test_a_named_token_variable_that_is_not_set_is_a_warning_on_the_sync_run(recording_mlflow, monkeypatch):
    monkeypatch.delenv("MLGOV_TEST_MLFLOW_MISSING", raising=False)
    server = recording_mlflow()
    conn = MlflowConnection.objects.create(
        name="missing-token", tracking_uri=server.url, token_env_var="MLGOV_TEST_MLFLOW_MISSING"
    )
    run = mlflow_sync_now(connection=conn, triggered_by="test")
    assert run.status == "succeeded"
    assert run.errors == [
        {
            "level": "warning",
            "kind": "credentials",
            "message": "the environment variable MLGOV_TEST_MLFLOW_MISSING is not set; connecting without a token",
        }
    ]
    assert server.authorizations() == {None}
    run.refresh_from_db()
    assert run.errors[0]["kind"] == "credentials"
