"""The after-sync hook: apps above integrations learn of a succeeded sync once its transaction commits."""

from __future__ import annotations

import pytest

from integrations import hooks
from integrations.choices import SyncStatus
from integrations.services import sync_run_finish, sync_run_queue

pytestmark = pytest.mark.django_db


@pytest.fixture
def received(monkeypatch):
    seen: list[hooks.SyncSucceeded] = []
    monkeypatch.setattr(hooks, "_after_sync", [seen.append])
    return seen


def test_a_succeeded_sync_calls_back_after_commit(received, django_capture_on_commit_callbacks):
    run = sync_run_queue(target="git:fraud", kind="git")
    with django_capture_on_commit_callbacks(execute=True):
        sync_run_finish(sync_run=run, status=SyncStatus.SUCCEEDED, counts={}, errors=[])
        assert received == []  # nothing before the commit
    assert received == [hooks.SyncSucceeded(sync_run_id=run.pk, target="git:fraud", kind="git")]


def test_a_failed_sync_calls_nothing(received, django_capture_on_commit_callbacks):
    run = sync_run_queue(target="mlflow:prod", kind="mlflow")
    with django_capture_on_commit_callbacks(execute=True):
        sync_run_finish(sync_run=run, status=SyncStatus.FAILED, counts={}, errors=[{"level": "error", "message": "x"}])
    assert received == []


def test_a_failing_callback_does_not_stop_the_others(monkeypatch, caplog):
    seen: list[int] = []

    def broken(event: hooks.SyncSucceeded) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(hooks, "_after_sync", [broken, lambda e: seen.append(e.sync_run_id)])
    hooks.sync_succeeded(hooks.SyncSucceeded(sync_run_id=7, target="git:x", kind="git"))
    assert seen == [7]
    assert "after-sync callback" in caplog.text


def test_demo_steps_register_once_in_order(monkeypatch):
    monkeypatch.setattr(hooks, "_demo_steps", [])
    hooks.register_demo_step("score", lambda: "scored 3 projects")
    hooks.register_demo_step("promote", lambda: "2 promotions")
    hooks.register_demo_step("score", lambda: "again")
    assert [(label, step()) for label, step in hooks.demo_steps()] == [
        ("score", "scored 3 projects"),
        ("promote", "2 promotions"),
    ]
